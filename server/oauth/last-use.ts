// When each credential was last used: noted in memory, written in one batch a moment later
// on the endpoints' connection, at most once a minute per credential, to the table of its
// kind (a secret's or a key's; a key at the JWKS URL has no row). A locked or failing
// database keeps the note for the next try.
import type Database from 'better-sqlite3';
import type { Clock } from '../lib/clock.ts';
import type { Logger } from '../lib/log.ts';
import { createWriteBehind } from '../../db/write-behind.ts';
import { gauge } from '../lib/gauges.ts';
import type { CredentialKind } from './client-registry.ts';

const LAST_USE_EVERY_MS = 60_000;
const LAST_USE_FLUSH_MS = 50;
const MAX_NOTED = 100_000;

export function createLastUse(sqlite: Database.Database, clock: Clock, logger: Pick<Logger, 'warn'>) {
  const touch = {
    secret: sqlite.prepare<[number, string]>('update client_secrets set last_used_at = max(coalesce(last_used_at, 0), ?) where id = ?'),
    key: sqlite.prepare<[number, string]>('update client_keys set last_used_at = max(coalesce(last_used_at, 0), ?) where id = ?'),
    federated: sqlite.prepare<[number, string]>('update federated_credentials set last_used_at = max(coalesce(last_used_at, 0), ?) where id = ?'),
  };
  // Keyed "kind id": the kind chooses the table.
  const writeAll = sqlite.transaction((rows: Array<[string, number]>) => {
    for (const [noted, at] of rows) {
      const space = noted.indexOf(' ');
      touch[noted.slice(0, space) as 'secret' | 'key' | 'federated'].run(at, noted.slice(space + 1));
    }
  });
  const lastNoted = new Map<string, number>();
  gauge('last use noted', lastNoted, (m) => m.size);
  const pending = createWriteBehind<string, number>(sqlite, writeAll, {
    delayMs: LAST_USE_FLUSH_MS,
    name: 'last use',
    onError: (err, rows) => logger.warn('last use not recorded yet; retrying', { credentials: rows, error: String((err as Error)?.message ?? err) }),
  });
  return {
    note(kind: CredentialKind, id: string) {
      if (kind === 'jwks') return;
      const noted = `${kind} ${id}`;
      const now = clock.now();
      if (now - (lastNoted.get(noted) ?? 0) < LAST_USE_EVERY_MS) return;
      if (lastNoted.size > MAX_NOTED) lastNoted.clear();
      lastNoted.set(noted, now);
      pending.put(noted, now);
    },
    flush: pending.flush,
  };
}
