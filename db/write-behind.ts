// Writes kept off the request path: rows are collected in memory by key (a later value
// for the same key replaces the earlier one) and written in one batch `delayMs` later.
// A failed write (a locked database) keeps what was not written and tries again a second
// later; `onError` is told each time. Nothing here throws to its caller.
import type Database from 'better-sqlite3';
import { gauge } from '../server/lib/gauges.ts';

export const RETRY_MS = 1000;

export function createWriteBehind<K, V>(
  sqlite: Database.Database,
  write: (rows: Array<[K, V]>) => void,
  // `name`: what `kill -USR2` and the soak call its rows waiting (server/lib/gauges.ts).
  options: { delayMs: number; onError: (err: unknown, rows: number) => void; name?: string },
) {
  const pending = new Map<K, V>();
  gauge(`write-behind: ${options.name ?? 'other'}`, pending, (m) => m.size);
  let timer: NodeJS.Timeout | null = null;

  function schedule(ms: number) {
    if (timer) return;
    timer = setTimeout(flush, ms);
    timer.unref();
  }

  function flush() {
    if (timer) clearTimeout(timer);
    timer = null;
    if (pending.size === 0 || !sqlite.open) return;
    const rows = [...pending];
    try {
      write(rows);
      // A value noted again while the batch was written stays for the next one.
      for (const [key, value] of rows) if (pending.get(key) === value) pending.delete(key);
    } catch (err) {
      options.onError(err, rows.length);
      schedule(RETRY_MS);
    }
  }

  return {
    put(key: K, value: V) {
      pending.set(key, value);
      schedule(options.delayMs);
    },
    flush,
  };
}
