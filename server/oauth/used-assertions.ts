// Used client assertions (client id and the jti's hash) until they expire: kept in memory,
// where this process (the only one that answers token requests) checks them, and written
// to SQLite in one batch within USED_FLUSH_MS, so that a restart still refuses a replay
// (a write per request would cost as much as the signature check). The one gap: a crash
// inside those 50 ms forgets the assertions accepted in them (each lives an hour at most).
import type Database from 'better-sqlite3';
import type { Logger } from '../lib/log.ts';
import { createWriteBehind } from '../../db/write-behind.ts';

const USED_FLUSH_MS = 50;
const USED_PRUNE_EVERY_MS = 10_000;

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
  const pending = createWriteBehind<string, number>(sqlite, writeAll, {
    delayMs: USED_FLUSH_MS,
    onError: (err, rows) => logger.warn('used client assertions not written yet; retrying', { assertions: rows, error: String((err as Error)?.message ?? err) }),
  });
  let prunedAt = now();

  return {
    // True the first time a key is presented before it expires; false for a replay.
    claim(key: string, expiresAt: number): boolean {
      const t = now();
      if (t - prunedAt > USED_PRUNE_EVERY_MS) {
        prunedAt = t;
        for (const [k, e] of used) if (e < t) used.delete(k);
      }
      const seen = used.get(key);
      if (seen !== undefined && seen >= t) return false;
      used.set(key, expiresAt);
      pending.put(key, expiresAt);
      return true;
    },
    flush: pending.flush,
  };
}
