// Used client assertions (client id and the jti's hash) until they expire: kept in memory,
// where this process (the only one that answers token requests) checks them, and committed
// to SQLite before the token is answered (a group commit: the assertions claimed in one
// turn of the event loop are written in one transaction on the next, and their requests
// answered after it), so a restart, even after kill -9, still refuses a replay. WAL with
// synchronous = NORMAL: a commit is in the WAL file when the process dies; only a power
// cut may lose the last ones. A commit that fails (a write lock held elsewhere) answers
// those requests 503 temporarily_unavailable, never a token, and its rows are written
// later by a write-behind retry. `make drill` checks it.
// Bounded without forgetting: at most MAX_USED unexpired assertions, and a tenth of that
// for one client; past either, once the expired ones are gone, a new assertion is answered
// 503 temporarily_unavailable (Retry-After) and is not accepted: one tenant signing
// hour-long assertions at full speed cannot fill it for the others.
import type Database from 'better-sqlite3';
import type { Logger } from '../lib/log.ts';
import { createWriteBehind } from '../../db/write-behind.ts';
import { isBusyError, noteBusy } from '../../db/client.ts';
import { gauge } from '../lib/gauges.ts';
import { OAuthError } from './errors.ts';

const RETRY_FLUSH_MS = 50;
const USED_PRUNE_EVERY_MS = 10_000;
export const MAX_USED = 200_000;
export const MAX_USED_PER_CLIENT = MAX_USED / 10;
const FULL_PRUNE_EVERY_MS = 1000;
const full = (whose: string) =>
  new OAuthError(503, 'temporarily_unavailable', `${whose} client assertions are unexpired and remembered as used; try again in a minute, or sign assertions that expire sooner.`, { 'Retry-After': '60' });

export function createUsedAssertions(sqlite: Database.Database, logger: Pick<Logger, 'warn'>, now: () => number) {
  // Appended: a key is claimed once in memory, so it reaches the table once per process.
  const insert = sqlite.prepare<[string, number]>('insert into used_assertions (key, expires_at) values (?, ?)');
  const purge = sqlite.prepare<[number]>('delete from used_assertions where expires_at < ?');
  let purgedAt = 0;
  const writeAll = sqlite.transaction((rows: Array<[string, number]>) => {
    for (const [key, expiresAt] of rows) insert.run(key, expiresAt);
    // Expired ones go every ten seconds (a range of the expiry index).
    if (now() - purgedAt >= USED_PRUNE_EVERY_MS) {
      purgedAt = now();
      purge.run(purgedAt);
    }
  });
  // In insertion order, so a jti used again after it expired keeps its latest expiry.
  const used = new Map<string, number>(sqlite.prepare<[number], { key: string; expires_at: number }>('select key, expires_at from used_assertions where expires_at >= ? order by rowid').all(now()).map((r) => [r.key, r.expires_at]));
  // Unexpired assertions per client (the key starts with the client id and a space).
  const perClient = new Map<string, number>();
  const clientOf = (key: string) => key.slice(0, key.indexOf(' '));
  const count = (key: string, by: number) => {
    const c = clientOf(key);
    const n = (perClient.get(c) ?? 0) + by;
    if (n > 0) perClient.set(c, n);
    else perClient.delete(c);
  };
  for (const k of used.keys()) count(k, 1);
  gauge('used assertions (jti)', used, (m) => m.size);
  const pending = createWriteBehind<string, number>(sqlite, writeAll, {
    delayMs: RETRY_FLUSH_MS,
    name: 'used assertions',
    onError: (err, rows) => logger.warn('used client assertions not written yet; retrying', { assertions: rows, error: String((err as Error)?.message ?? err) }),
  });
  let prunedAt = now();
  const prune = (t: number) => {
    prunedAt = t;
    for (const [k, e] of used) {
      if (e >= t) continue;
      used.delete(k);
      count(k, -1);
    }
  };

  // The group commit: one transaction per turn of the event loop for what was claimed in it.
  interface Batch {
    rows: Array<[string, number]>;
    committed: Promise<void>;
    settle: (err?: unknown) => void;
  }
  let batch: Batch | null = null;
  const notRecorded = () => new OAuthError(503, 'temporarily_unavailable', 'The assertion could not be recorded as used just now; try again with a new one.', { 'Retry-After': '1' });
  function commit() {
    const b = batch;
    if (!b) return; // already committed by flush() before this turn came
    batch = null;
    try {
      writeAll(b.rows);
      b.settle();
    } catch (err) {
      if (isBusyError(err)) noteBusy(sqlite);
      logger.warn('used client assertions not committed; their requests answered 503, the rows written later', { assertions: b.rows.length, error: String((err as Error)?.message ?? err) });
      for (const [k, e] of b.rows) pending.put(k, e);
      b.settle(notRecorded());
    }
  }
  function toBatch(key: string, expiresAt: number) {
    if (!batch) {
      let settle!: (err?: unknown) => void;
      const committed = new Promise<void>((resolve, reject) => (settle = (err) => (err ? reject(err) : resolve())));
      committed.catch(() => {}); // awaited by the requests; never an unhandled rejection
      batch = { rows: [], committed, settle };
      setImmediate(commit);
    }
    batch.rows.push([key, expiresAt]);
  }

  return {
    // True the first time a key is presented before it expires; false for a replay.
    // Throws a 503 OAuthError when it could not be remembered (see MAX_USED).
    claim(key: string, expiresAt: number): boolean {
      const t = now();
      if (t - prunedAt > USED_PRUNE_EVERY_MS) prune(t);
      const seen = used.get(key);
      if (seen !== undefined && seen >= t) return false;
      if (seen === undefined) {
        const atCap = () => used.size >= MAX_USED || (perClient.get(clientOf(key)) ?? 0) >= MAX_USED_PER_CLIENT;
        if (atCap() && t - prunedAt >= FULL_PRUNE_EVERY_MS) prune(t);
        if (used.size >= MAX_USED) throw full(`${MAX_USED.toLocaleString('en-GB')}`);
        if ((perClient.get(clientOf(key)) ?? 0) >= MAX_USED_PER_CLIENT) throw full(`This client's ${MAX_USED_PER_CLIENT.toLocaleString('en-GB')}`);
        count(key, 1);
      }
      used.set(key, expiresAt);
      toBatch(key, expiresAt);
      return true;
    },
    // Resolves once what was claimed so far is committed; rejects with a 503 OAuthError
    // when it could not be.
    committed(): Promise<void> {
      return batch ? batch.committed : Promise.resolve();
    },
    flush(): void {
      if (batch) commit();
      pending.flush();
    },
  };
}
