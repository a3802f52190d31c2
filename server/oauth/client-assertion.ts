// private_key_jwt (RFC 7523 §3, RFC 7521 §4.2, OIDC Core §9): the client signs a short
// JWT with its private key; we verify it with a public key registered for it.
//   iss = sub = client_id; aud = the token endpoint URL or the issuer; exp required and at
//   most five minutes ahead; iat/nbf with 60 s of skew; jti required and single-use until
//   exp (kept in SQLite, purged); RS256, PS256, ES256/384/512 or EdDSA; the key chosen by
//   `kid` (its thumbprint or id), otherwise every active key of the client is tried.
import crypto from 'node:crypto';
import type Database from 'better-sqlite3';
import type { KeyRow } from './client-auth.ts';

export const ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';
export const ASSERTION_ALGORITHMS = ['RS256', 'PS256', 'ES256', 'ES384', 'ES512', 'EdDSA'];
const MAX_LIFETIME_S = 300;
const SKEW_S = 60;

export interface UnverifiedAssertion {
  clientId: string;
  kid: string | null;
}

// What the assertion claims to be, before any signature is checked (to find the keys).
export function peekAssertion(assertion: string): UnverifiedAssertion | null {
  const parts = assertion.split('.');
  if (parts.length !== 3 || assertion.length > 16_384) return null;
  try {
    const header = JSON.parse(Buffer.from(parts[0]!, 'base64url').toString('utf8')) as { kid?: unknown };
    const claims = JSON.parse(Buffer.from(parts[1]!, 'base64url').toString('utf8')) as { iss?: unknown; sub?: unknown };
    if (typeof claims.iss !== 'string' || claims.iss !== claims.sub || claims.iss.length > 200) return null;
    return { clientId: claims.iss, kid: typeof header.kid === 'string' ? header.kid : null };
  } catch {
    return null;
  }
}

export function createAssertionVerifier(sqlite: Database.Database, audiences: string[]) {
  const remember = sqlite.prepare<[string, number]>('insert into used_assertions (key, expires_at) values (?, ?) on conflict do nothing');
  const purge = sqlite.prepare<[number]>('delete from used_assertions where expires_at < ?');
  let sincePurge = 0;

  // The key that verified it, or null. Never throws for a bad assertion.
  return async function verifyAssertion(assertion: string, clientId: string, kid: string | null, keys: KeyRow[], now: number): Promise<KeyRow | null> {
    const active = keys.filter((k) => k.expires_at > now);
    const chosen = kid ? active.filter((k) => k.thumbprint === kid || k.id === kid) : [];
    const candidates = chosen.length ? chosen : active;
    if (candidates.length === 0) return null;
    const jose = await import('jose');
    for (const key of candidates) {
      let payload: { exp?: number; jti?: unknown };
      try {
        ({ payload } = await jose.jwtVerify(assertion, key.key, {
          algorithms: ASSERTION_ALGORITHMS,
          issuer: clientId,
          subject: clientId,
          audience: audiences,
          clockTolerance: SKEW_S,
          currentDate: new Date(now),
          requiredClaims: ['exp', 'jti'],
        }));
      } catch {
        continue;
      }
      if (typeof payload.jti !== 'string' || payload.jti.length > 200 || payload.exp! * 1000 > now + (MAX_LIFETIME_S + SKEW_S) * 1000) return null;
      // Single use: the first request with this jti wins; a replay is refused.
      if (++sincePurge >= 100) {
        sincePurge = 0;
        purge.run(now);
      }
      const fresh = remember.run(`${clientId} ${crypto.createHash('sha256').update(payload.jti).digest('base64url')}`, payload.exp! * 1000 + SKEW_S * 1000).changes === 1;
      return fresh ? key : null;
    }
    return null;
  };
}
