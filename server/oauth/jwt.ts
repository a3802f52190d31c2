// Access tokens as JWTs per RFC 9068, signed ES256 with node:crypto directly (the hot
// path: no slow hash, no RSA, no async JOSE machinery), and their verification for
// introspection, which accepts ES256 `at+jwt` tokens of our own published keys only.
import crypto from 'node:crypto';
import type { Db } from '../../db/client.ts';
import type { Clock } from '../clock.ts';
import type { MasterKey } from '../crypto.ts';
import { currentSigningKey, publishedKeys, type SigningKey } from './keys.ts';

export interface AccessTokenClaims {
  iss: string;
  sub: string;
  client_id: string;
  aud: string[];
  scope: string;
  iat: number;
  exp: number;
  jti: string;
  secret_id: string;
}

const b64url = (s: string) => Buffer.from(s, 'utf8').toString('base64url');

export function createTokenSigner(db: Db, masterKey: MasterKey, clock: Clock) {
  let key: SigningKey = currentSigningKey(db, masterKey, clock);
  let header = b64url(JSON.stringify({ alg: 'ES256', typ: 'at+jwt', kid: key.kid }));
  let checkedAt = clock.now();
  const currentKid = db.$client.prepare<[], { kid: string }>('select kid from signing_keys where retired_at is null order by created_at desc limit 1');

  // A rotation done by the CLI (another process) is picked up within five seconds.
  function refresh() {
    const now = clock.now();
    if (now - checkedAt < 5000) return;
    checkedAt = now;
    if (currentKid.get()?.kid !== key.kid) {
      key = currentSigningKey(db, masterKey, clock);
      header = b64url(JSON.stringify({ alg: 'ES256', typ: 'at+jwt', kid: key.kid }));
    }
  }

  return function sign(claims: AccessTokenClaims): string {
    refresh();
    const input = `${header}.${b64url(JSON.stringify(claims))}`;
    const signature = crypto.sign('sha256', Buffer.from(input), { key: key.privateKey, dsaEncoding: 'ieee-p1363' });
    return `${input}.${signature.toString('base64url')}`;
  };
}

// Verifies signature, algorithm, type, issuer and expiry; null when anything is off.
export function createTokenVerifier(db: Db, clock: Clock, issuer: string, tokenLifetimeSeconds: number) {
  const keyCache = new Map<string, crypto.KeyObject>();
  return function verify(token: string): AccessTokenClaims | null {
    const parts = token.split('.');
    if (parts.length !== 3 || token.length > 8192) return null;
    const [h, p, s] = parts as [string, string, string];
    let header: { alg?: unknown; typ?: unknown; kid?: unknown };
    let claims: AccessTokenClaims;
    try {
      header = JSON.parse(Buffer.from(h, 'base64url').toString('utf8'));
      claims = JSON.parse(Buffer.from(p, 'base64url').toString('utf8'));
    } catch {
      return null;
    }
    if (header.alg !== 'ES256' || header.typ !== 'at+jwt' || typeof header.kid !== 'string') return null;
    let publicKey = keyCache.get(header.kid);
    const published = publishedKeys(db, clock, tokenLifetimeSeconds).find((k) => k.kid === header.kid);
    if (!published) return null; // unknown, or retired long enough ago that none of its tokens live
    if (!publicKey) {
      publicKey = crypto.createPublicKey({ key: { kty: published.kty, crv: published.crv, x: published.x, y: published.y }, format: 'jwk' });
      keyCache.set(header.kid, publicKey);
    }
    const signature = Buffer.from(s, 'base64url');
    if (signature.length !== 64) return null;
    if (!crypto.verify('sha256', Buffer.from(`${h}.${p}`), { key: publicKey, dsaEncoding: 'ieee-p1363' }, signature)) return null;
    const now = Math.floor(clock.now() / 1000);
    if (!claims || typeof claims !== 'object' || claims.iss !== issuer || typeof claims.exp !== 'number' || claims.exp <= now) return null;
    if (typeof claims.secret_id !== 'string' || typeof claims.client_id !== 'string') return null;
    return claims;
  };
}
