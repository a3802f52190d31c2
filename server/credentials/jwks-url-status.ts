// What the credentials page shows of a JWKS URL: the keys its last fetch found (kid, type,
// thumbprint), when, and the last failed fetch. Registration writes it at once; the token
// endpoint's key cache notes every fetch it makes, and a write-behind batch writes those
// (never on a request's path; a locked database is retried, never thrown).
import type Database from 'better-sqlite3';
import { createWriteBehind } from '../../db/write-behind.ts';
import type { Logger } from '../lib/log.ts';
import type { Parsed } from '../lib/validation.ts';
import type { FetchedJwks, RemoteKey } from './jwks-url.ts';

export interface JwksKeySummary {
  kid: string;
  keyType: string;
  thumbprint: string;
}

export const keySummary = (keys: RemoteKey[]): string => JSON.stringify(keys.map(({ kid, keyType, thumbprint }): JwksKeySummary => ({ kid, keyType, thumbprint })));

// The stored summary, read back; anything unexpected reads as no keys.
export function parseKeySummary(json: string | null): JwksKeySummary[] {
  try {
    const keys = JSON.parse(json ?? '[]') as unknown;
    return Array.isArray(keys) ? keys.filter((k): k is JwksKeySummary => typeof k?.kid === 'string' && typeof k?.thumbprint === 'string').map((k) => ({ kid: k.kid, keyType: String(k.keyType ?? ''), thumbprint: k.thumbprint })) : [];
  } catch {
    return [];
  }
}

type Outcome = { ok: true; keys: string; at: number } | { ok: false; message: string; at: number };

export function createJwksFetchRecorder(sqlite: Database.Database, logger: Pick<Logger, 'warn'>) {
  const found = sqlite.prepare<[string, number, string]>('update client_jwks_urls set keys = ?, fetched_at = ? where url = ?');
  const failed = sqlite.prepare<[string, number, string]>('update client_jwks_urls set last_error = ?, last_error_at = ? where url = ?');
  const writeAll = sqlite.transaction((rows: Array<[string, Outcome]>) => {
    for (const [key, o] of rows) {
      const url = key.slice(key.indexOf(' ') + 1);
      if (o.ok) found.run(o.keys, o.at, url);
      else failed.run(o.message, o.at, url);
    }
  });
  // Keyed "ok URL" and "error URL": a success and a failure in one batch both stay.
  const pending = createWriteBehind<string, Outcome>(sqlite, writeAll, {
    delayMs: 1000,
    name: 'JWKS fetches',
    onError: (err, rows) => logger.warn('JWKS fetch outcome not recorded yet; retrying', { rows, error: String((err as Error)?.message ?? err) }),
  });
  return {
    note(url: string, fetched: Parsed<FetchedJwks>, at: number): void {
      if (fetched.ok) pending.put(`ok ${url}`, { ok: true, keys: keySummary(fetched.value.keys), at });
      else pending.put(`error ${url}`, { ok: false, message: fetched.message, at });
    },
    flush: pending.flush,
  };
}
