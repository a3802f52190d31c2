// Opens the one SQLite file: WAL, foreign keys on, a busy timeout so that two
// writers wait for each other instead of failing, and the committed migrations applied.
import Database from 'better-sqlite3';
import { drizzle, type BetterSQLite3Database } from 'drizzle-orm/better-sqlite3';
import { migrate } from 'drizzle-orm/better-sqlite3/migrator';
import { resourcePath } from '../server/paths.ts';
import * as schema from './schema.ts';

export type Db = BetterSQLite3Database<typeof schema> & { $client: Database.Database };

// The single executable loads the native addon itself (from a private temporary file).
let nativeBinding: object | undefined;
export function useNativeBinding(addon: object): void {
  nativeBinding = addon;
}

export function openConnection(file: string): Database.Database {
  const sqlite = new Database(file, nativeBinding ? ({ nativeBinding } as unknown as Database.Options) : {});
  sqlite.pragma('journal_mode = WAL');
  sqlite.pragma('foreign_keys = ON');
  sqlite.pragma('busy_timeout = 5000');
  sqlite.pragma('synchronous = NORMAL');
  return sqlite;
}

export function openDatabase(file: string, options: { migrationsFolder?: string } = {}): Db {
  const sqlite = openConnection(file);
  const db = drizzle(sqlite, { schema });
  migrate(db, { migrationsFolder: options.migrationsFolder ?? resourcePath('db', 'migrations') });
  return db as Db;
}

// Read-then-write work runs in an IMMEDIATE transaction: the write lock is taken
// up front, so two concurrent claims cannot both read "free" and both write.
export function immediate<T>(db: Db, work: () => T): T {
  return db.$client.transaction(work).immediate();
}
