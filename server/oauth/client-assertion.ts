// private_key_jwt (RFC 7523 §3, RFC 7521 §4.2, OIDC Core §9): the client signs a short
// JWT with its private key; we verify it with a public key registered for it.
//   iss = sub = client_id; aud = the token endpoint URL or the issuer (or, for
//   introspection, its URL); exp required, at most an hour ahead and at most an hour after
//   iat; iat/nbf with 60 s of skew; jti required and single-use until
//   exp (kept in SQLite, purged); RS256, PS256, ES256/384/512 or EdDSA; the key chosen by
//   `kid` (its thumbprint or id), otherwise every active key of the client is tried.
import crypto from 'node:crypto';
import type Database from 'better-sqlite3';
import type { KeyRow } from './client-registry.ts';
import type { Logger } from '../lib/log.ts';
import { createUsedAssertions } from './used-assertions.ts';
import type { Verify } from './signatures/signatures.ts';

export const ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';
// An hour: what Okta accepts, and Authlib signs (exp = iat + 3600) by default.
export const MAX_LIFETIME_S = 3600;
export const SKEW_S = 60;

// The signature check of one algorithm, with node:crypto (WebCrypto, which jose uses,
// costs half as much again in CPU per verification). Each algorithm names the only key
// type it accepts, so a key is never used with an algorithm of another family (RFC 8725
// §3.1).
interface Algorithm {
  keyType: string;
  curve?: string;
  hash: string | null;
  options?: Partial<crypto.VerifyKeyObjectInput>;
  signatureChars?: number; // a fixed-size signature's length in base64url
}
const ALGORITHMS: Record<string, Algorithm> = {
  RS256: { keyType: 'rsa', hash: 'sha256' },
  PS256: { keyType: 'rsa', hash: 'sha256', options: { padding: crypto.constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 } },
  ES256: { keyType: 'ec', curve: 'prime256v1', hash: 'sha256', options: { dsaEncoding: 'ieee-p1363' }, signatureChars: 86 },
  ES384: { keyType: 'ec', curve: 'secp384r1', hash: 'sha384', options: { dsaEncoding: 'ieee-p1363' }, signatureChars: 128 },
  ES512: { keyType: 'ec', curve: 'secp521r1', hash: 'sha512', options: { dsaEncoding: 'ieee-p1363' }, signatureChars: 176 },
  EdDSA: { keyType: 'ed25519', hash: null },
};
export const ASSERTION_ALGORITHMS = Object.keys(ALGORITHMS);
const NO_OPTIONS = {};

// Whether `key` can have made a signature of `alg` of this length at all.
function fits(alg: Algorithm, key: crypto.KeyObject, signature: string): boolean {
  if (key.type !== 'public' || key.asymmetricKeyType !== alg.keyType) return false;
  if (alg.curve && key.asymmetricKeyDetails?.namedCurve !== alg.curve) return false;
  return !alg.signatureChars || signature.length === alg.signatureChars;
}

// With `verifyBeside`: the endpoints' signatures (on their thread, otherwise inline).
function signatureValid(verifyBeside: Verify, alg: Algorithm, key: crypto.KeyObject, input: string, signature: string): boolean | null | Promise<boolean | null> {
  try {
    const valid = verifyBeside(alg.hash, input, key, alg.options ?? NO_OPTIONS, signature);
    return valid instanceof Promise ? valid.catch(() => false) : valid;
  } catch {
    return false;
  }
}

interface AssertionParts {
  alg: Algorithm;
  input: string; // header.payload, as signed
  signature: string; // base64url
  claims: Record<string, unknown>;
}

// An assertion read once, before any signature is checked: whom it claims to be (to find
// the keys and to count a failure), and its parts when it is a well-formed compact JWS
// with a JSON object header of an allowed `alg` and no `crit` (we understand no
// extensions), a JSON object payload and a base64url signature.
export interface ReadAssertion {
  clientId: string;
  kid: string | null;
  parts: AssertionParts | null;
}

const B64URL = /^[A-Za-z0-9_-]*$/;
const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

export function readAssertion(assertion: string): ReadAssertion | null {
  if (assertion.length > 16_384) return null;
  const parts = assertion.split('.');
  if (parts.length !== 3) return null;
  let header: unknown;
  let claims: unknown;
  try {
    header = JSON.parse(Buffer.from(parts[0]!, 'base64url').toString('utf8'));
    claims = JSON.parse(Buffer.from(parts[1]!, 'base64url').toString('utf8'));
  } catch {
    return null;
  }
  if (!isObject(header) || !isObject(claims)) return null;
  const { iss } = claims; // whom it claims to be; iss = sub = that client is one of the claims checked below
  if (typeof iss !== 'string' || iss.length > 200) return null;
  const kid = typeof header.kid === 'string' ? header.kid : null;
  const wellFormed = header.crit === undefined && typeof header.alg === 'string' && Object.hasOwn(ALGORITHMS, header.alg) && parts.every((p) => B64URL.test(p));
  if (!wellFormed) return { clientId: iss, kid, parts: null };
  const dot = parts[0]!.length + 1 + parts[1]!.length;
  return { clientId: iss, kid, parts: { alg: ALGORITHMS[header.alg as string]!, input: assertion.slice(0, dot), signature: parts[2]!, claims } };
}

// The claims RFC 7523 §3 asks for: iss = sub = client_id, aud naming us, exp not passed
// (at most an hour ahead, and an hour after iat), nbf and iat not in the future (60 s of
// skew), a jti. The rule broken, in words for error_description, or null.
function claimsProblem(claims: Record<string, unknown>, clientId: string, audiences: string[], now: number): string | null {
  const { iss, sub, aud, exp, nbf, iat, jti } = claims;
  if (iss !== clientId || sub !== clientId) return 'iss and sub must both be the client ID';
  const named = typeof aud === 'string' ? [aud] : Array.isArray(aud) ? aud : [];
  if (!named.some((a) => typeof a === 'string' && audiences.includes(a))) return `aud must be ${audiences.length > 2 ? 'this endpoint, ' : ''}the token endpoint or the issuer`;
  const skew = SKEW_S * 1000;
  if (typeof exp !== 'number' || !Number.isFinite(exp)) return 'exp is missing';
  if (exp * 1000 <= now - skew) return 'the assertion has expired (exp)';
  if (exp * 1000 > now + (MAX_LIFETIME_S + SKEW_S) * 1000) return `exp is more than ${MAX_LIFETIME_S / 60} minutes ahead`;
  if (nbf !== undefined && (typeof nbf !== 'number' || nbf * 1000 > now + skew)) return 'nbf is in the future';
  if (iat !== undefined && (typeof iat !== 'number' || iat * 1000 > now + skew)) return 'iat is in the future';
  if (iat !== undefined && exp - iat > MAX_LIFETIME_S) return `exp is more than ${MAX_LIFETIME_S / 60} minutes after iat`;
  if (typeof jti !== 'string' || jti.length === 0) return 'jti is missing';
  if (jti.length > 200) return 'jti is longer than 200 characters';
  return null;
}

// What a check comes to: the key that verified it; null (nothing proven: the same answer for
// every such failure); the rule broken, once the signature proved the caller; or 'over
// budget' when `afford` refused the checks the candidate keys would take; 'unavailable' when
// a check could not be made (the signature thread full, failed or late), which says nothing
// about the client.
export type AssertionOutcome = KeyRow | null | { refused: string; key: KeyRow } | 'over budget' | 'unavailable';

export function createAssertionVerifier(sqlite: Database.Database, audiences: string[], logger: Pick<Logger, 'warn'>, now: () => number, verifyBeside: Verify) {
  const used = createUsedAssertions(sqlite, logger, now);

  // The candidate keys are those that fit the algorithm: the one the kid names, or every
  // active one. `audience`: one more aud this endpoint accepts (introspection's own URL).
  // Never throws for a bad assertion.
  async function verifyAssertion(read: ReadAssertion | null, keys: KeyRow[], now: number, afford: (candidates: KeyRow[]) => boolean = () => true, audience?: string): Promise<AssertionOutcome> {
    if (!read?.parts) return null;
    const key = await verifySignature(read, keys, now, afford);
    if (key === null || typeof key === 'string') return key;
    const { clientId, parts } = read;
    const problem = claimsProblem(parts.claims, clientId, audience ? [...audiences, audience] : audiences, now);
    if (problem) return { refused: problem, key };
    const { exp, jti } = parts.claims as { exp: number; jti: string };
    // Single use: the first request with this jti wins; a replay is refused. The answer
    // waits for the claim's commit (a 503 OAuthError when it fails).
    if (!used.claim(`${clientId} ${crypto.hash('sha256', jti, 'base64url')}`, exp * 1000 + SKEW_S * 1000)) return { refused: 'jti already used', key };
    await used.committed();
    return key;
  }

  // The signature alone (a federated credential's outside token has claims of its own):
  // the key that verified it, null, 'over budget' or 'unavailable', as above.
  async function verifySignature(read: ReadAssertion, keys: KeyRow[], now: number, afford: (candidates: KeyRow[]) => boolean): Promise<KeyRow | null | 'over budget' | 'unavailable'> {
    if (!read.parts) return null;
    const { kid, parts } = read;
    const active = keys.filter((k) => k.expires_at > now && fits(parts.alg, k.key, parts.signature));
    const chosen = kid ? active.filter((k) => k.thumbprint === kid || k.id === kid) : [];
    const candidates = chosen.length ? chosen : active;
    if (candidates.length === 0) return null;
    if (!afford(candidates)) return 'over budget';
    let key: KeyRow | undefined;
    let unchecked = false;
    for (const k of candidates) {
      const answer = signatureValid(verifyBeside, parts.alg, k.key, parts.input, parts.signature);
      const valid = answer instanceof Promise ? await answer : answer;
      if (valid === null) unchecked = true;
      if (valid === true) {
        key = k;
        break;
      }
    }
    return key ?? (unchecked ? 'unavailable' : null);
  }
  return { verifyAssertion, verifySignature, flush: used.flush };
}
