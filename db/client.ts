// Opens the one SQLite file: WAL, foreign keys on, a busy timeout so that two
// writers wait for each other instead of failing, and the committed migrations applied.
import Database from 'better-sqlite3';
import { drizzle, type BetterSQLite3Database } from 'drizzle-orm/better-sqlite3';
import { migrate } from 'drizzle-orm/better-sqlite3/migrator';
import { resourcePath } from '../server/lib/paths.ts';
import * as schema from './schema.ts';

export type Db = BetterSQLite3Database<typeof schema> & { $client: Database.Database };

// The single executable loads the native addon itself (from a private temporary file).
let nativeBinding: object | undefined;
export function useNativeBinding(addon: object): void {
  nativeBinding = addon;
}

// How long a statement waits for another connection's write lock. better-sqlite3 is
// synchronous, so the wait freezes the event loop: the server keeps it short (a CLI
// command's write takes milliseconds) and answers 503 when the lock outlasts it; the
// command line can afford to wait longer.
export const SERVER_BUSY_TIMEOUT_MS = 200;
export const CLI_BUSY_TIMEOUT_MS = 5000;

export function openConnection(file: string, busyTimeoutMs = CLI_BUSY_TIMEOUT_MS): Database.Database {
  const sqlite = new Database(file, nativeBinding ? ({ nativeBinding } as unknown as Database.Options) : {});
  sqlite.pragma('journal_mode = WAL');
  sqlite.pragma('foreign_keys = ON');
  sqlite.pragma(`busy_timeout = ${Math.floor(busyTimeoutMs)}`);
  sqlite.pragma('synchronous = NORMAL');
  busyTimeouts.set(sqlite, Math.floor(busyTimeoutMs));
  return sqlite;
}

// SQLITE_BUSY (another connection holds the write lock past our busy timeout) and
// SQLITE_LOCKED: the database is there but cannot take this write right now.
export function isBusyError(err: unknown): boolean {
  const code = sqliteCode(err);
  return code !== null && (code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_LOCKED'));
}

// The SQLite result code of an error, also when a library wrapped it (drizzle's
// DrizzleQueryError keeps the driver's error as its cause).
function sqliteCode(err: unknown): string | null {
  const e = err as { code?: unknown; cause?: { code?: unknown } } | null;
  const code = typeof e?.code === 'string' ? e.code : e?.cause?.code;
  return typeof code === 'string' && code.startsWith('SQLITE_') ? code : null;
}

// SQLITE_FULL (the disk, or the file's size limit, is full) and SQLITE_IOERR with its
// extended codes (SQLITE_IOERR_WRITE, _FSYNC, _READ, ...): the storage refused. SQLite
// rolls the statement back (and a transaction made with `transaction()`), so nothing is
// half-written; the request is answered like a busy database, with a longer wait.
export function isStorageError(err: unknown): boolean {
  const code = sqliteCode(err);
  return code !== null && (code === 'SQLITE_FULL' || code.startsWith('SQLITE_IOERR'));
}

// The code to log for either kind.
export function sqliteErrorCode(err: unknown): string {
  return sqliteCode(err) ?? '';
}

const busyTimeouts = new WeakMap<Database.Database, number>();
const failFast = new WeakMap<Database.Database, NodeJS.Timeout>();
// After a busy error, the connection stops waiting for the lock for a second: while
// the lock lasts, every write fails at once (503) instead of each freezing the event
// loop for the busy timeout in turn; a write made after the lock ended succeeds.
export const FAIL_FAST_MS = 1000;
export function noteBusy(sqlite: Database.Database): void {
  const normal = busyTimeouts.get(sqlite);
  if (normal === undefined || !sqlite.open) return;
  const pending = failFast.get(sqlite);
  if (pending) pending.refresh();
  else sqlite.pragma('busy_timeout = 0');
  const timer =
    pending ??
    setTimeout(() => {
      failFast.delete(sqlite);
      if (sqlite.open) sqlite.pragma(`busy_timeout = ${normal}`);
    }, FAIL_FAST_MS);
  timer.unref();
  failFast.set(sqlite, timer);
}

// Writes made in this process through a connection from openDatabase (the pages', the
// console's, an in-process CLI command's), counted as they are made. The token
// endpoint's cache compares this counter on each request instead of asking SQLite for
// `PRAGMA data_version` (a read transaction: locks and a look at the WAL index); it asks
// SQLite only when the counter moved, or a quarter of a second has passed (another process).
// better-sqlite3 is synchronous, so a write and its commit finish before any request
// can look at the counter.
let localWrites = 0;
export const localWriteCount = (): number => localWrites;

// Values read from SQLite, kept by key while nothing is written: `PRAGMA data_version` of the
// connection (another connection or process wrote) and localWriteCount (this process wrote).
// Any write drops them all; past `max` keys, too. The pages' usage reader and the credentials
// page's reads use it; callers only read what it returns (it is shared between requests).
export function keptUntilWrite<T>(max = 200): (sqlite: Database.Database, key: string, read: () => T) => T {
  const versions = new WeakMap<Database.Database, Database.Statement>();
  const caches = new WeakMap<Database.Database, { version: unknown; writes: number; values: Map<string, T> }>();
  return (sqlite, key, read) => {
    let dataVersion = versions.get(sqlite);
    if (!dataVersion) versions.set(sqlite, (dataVersion = sqlite.prepare('pragma data_version').pluck()));
    const version = dataVersion.get();
    const writes = localWriteCount();
    let cache = caches.get(sqlite);
    if (!cache || cache.version !== version || cache.writes !== writes) caches.set(sqlite, (cache = { version, writes, values: new Map() }));
    let value = cache.values.get(key);
    if (value === undefined) {
      if (cache.values.size >= max) cache.values.clear();
      cache.values.set(key, (value = read()));
    }
    return value;
  };
}

type StatementMethod = 'run' | 'get' | 'all' | 'iterate';
function countWrites(sqlite: Database.Database): void {
  const prepare = sqlite.prepare.bind(sqlite);
  sqlite.prepare = ((source: string) => {
    const stmt = prepare(source);
    if (stmt.readonly) return stmt;
    const methods = stmt as unknown as Record<StatementMethod, (...args: unknown[]) => unknown>;
    for (const name of ['run', 'get', 'all', 'iterate'] as const) {
      const original = methods[name].bind(stmt);
      methods[name] = (...args: unknown[]) => {
        localWrites++;
        return original(...args);
      };
    }
    return stmt;
  }) as typeof sqlite.prepare;
  const exec = sqlite.exec.bind(sqlite);
  sqlite.exec = (source: string) => {
    localWrites++;
    return exec(source);
  };
}

export function openDatabase(file: string, options: { migrationsFolder?: string; busyTimeoutMs?: number } = {}): Db {
  // Migrations may wait as long as the command line does; then the asked-for timeout.
  const sqlite = openConnection(file, CLI_BUSY_TIMEOUT_MS);
  countWrites(sqlite);
  const db = drizzle(sqlite, { schema });
  migrate(db, { migrationsFolder: options.migrationsFolder ?? resourcePath('db', 'migrations') });
  const busyTimeoutMs = Math.floor(options.busyTimeoutMs ?? CLI_BUSY_TIMEOUT_MS);
  sqlite.pragma(`busy_timeout = ${busyTimeoutMs}`);
  busyTimeouts.set(sqlite, busyTimeoutMs);
  return db as Db;
}

// A query asked on every page view, built and prepared once per connection (drizzle's
// prepare() with sql.placeholder values) instead of on every call.
const preparedQueries = new WeakMap<object, Map<string, unknown>>();
export function prepared<T>(db: Db, name: string, build: () => T): T {
  let forDb = preparedQueries.get(db.$client);
  if (!forDb) preparedQueries.set(db.$client, (forDb = new Map()));
  let query = forDb.get(name) as T | undefined;
  if (query === undefined) forDb.set(name, (query = build()));
  return query;
}

// Read-then-write work runs in an IMMEDIATE transaction: the write lock is taken
// up front, so two concurrent claims cannot both read "free" and both write.
export function immediate<T>(db: Db, work: () => T): T {
  return db.$client.transaction(work).immediate();
}
