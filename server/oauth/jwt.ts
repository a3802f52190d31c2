// Access tokens as JWTs per RFC 9068, signed ES256 with node:crypto directly (the hot
// path: no slow hash, no RSA, no JOSE machinery; on the signature thread), and
// their verification for introspection, which accepts ES256 `at+jwt` tokens of our own
// published keys only.
import crypto from 'node:crypto';
import type * as Jose from 'jose';
import type { Db } from '../../db/client.ts';
import type { Clock } from '../lib/clock.ts';
import type { MasterKey } from '../lib/crypto.ts';
import { currentSigningKey, publishedKeys, type SigningKey } from './keys.ts';
import { lazy } from '../lib/lazy.ts';
import type { Sign } from './signatures/signatures.ts';

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
const P1363 = { dsaEncoding: 'ieee-p1363' } as const;

// `signBeside`: the endpoints' signatures (on their thread, otherwise inline).
export function createTokenSigner(db: Db, masterKey: MasterKey, clock: Clock, signBeside: Sign) {
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

  return function sign(claims: AccessTokenClaims): string | Promise<string> {
    refresh();
    const input = `${header}.${b64url(JSON.stringify(claims))}`;
    const signed = signBeside('sha256', input, key.privateKey, P1363);
    return typeof signed === 'string' ? `${input}.${signed}` : signed.then((signature) => `${input}.${signature}`);
  };
}

// Verifies signature, algorithm, type, issuer and expiry with jose (not the hot path);
// null when anything is off. Only ES256 `at+jwt` tokens signed by one of our published
// keys pass: `alg: none`, HS256 or a foreign key never do.
// jose, loaded on first use: introspection and client assertions need it, tokens do not.
export const loadJose = lazy(() => import('jose'));

export function createTokenVerifier(db: Db, clock: Clock, issuer: string, tokenLifetimeSeconds: number) {
  const keyCache = new Map<string, crypto.KeyObject>();
  const keyFor = (header: Jose.JWTHeaderParameters): crypto.KeyObject => {
    const kid = header.kid;
    // Unknown, or retired long enough ago that none of its tokens live.
    const published = typeof kid === 'string' ? publishedKeys(db, clock, tokenLifetimeSeconds).find((k) => k.kid === kid) : undefined;
    if (!published || !kid) throw new Error('no such key');
    let key = keyCache.get(kid);
    if (!key) {
      key = crypto.createPublicKey({ key: { kty: published.kty, crv: published.crv, x: published.x, y: published.y }, format: 'jwk' });
      keyCache.set(kid, key);
    }
    return key;
  };
  return async function verify(token: string): Promise<AccessTokenClaims | null> {
    if (token.length > 8192) return null;
    try {
      const jose = await loadJose();
      const { payload } = await jose.jwtVerify(token, keyFor, { algorithms: ['ES256'], typ: 'at+jwt', issuer, currentDate: new Date(clock.now()) });
      const claims = payload as unknown as AccessTokenClaims;
      if (typeof claims.secret_id !== 'string' || typeof claims.client_id !== 'string' || typeof claims.exp !== 'number') return null;
      return claims;
    } catch {
      return null;
    }
  };
}
