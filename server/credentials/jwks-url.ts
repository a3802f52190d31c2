// A JWKS URL instead of uploaded keys: fetched through safe-fetch (a timeout, a size
// limit, no redirects, only https and only public addresses outside the sandbox, checked
// at the address connected to), its signing keys read with the same rules as an upload.
// The token endpoint's cache of these keys is oauth/remote-keys.ts.
import crypto from 'node:crypto';
import { eq } from 'drizzle-orm';
import { clientJwksUrls } from '../../db/schema.ts';
import type { Deps } from '../deps.ts';
import { recordAudit, type AuditActor } from '../audit/audit.ts';
import type { Parsed } from '../lib/validation.ts';
import { safeGet, type SafeFetchProblem } from '../lib/safe-fetch.ts';
import { failure, success, type DomainResult } from '../lib/result.ts';
import type { Application } from './applications.ts';
import { describeKey, jwkThumbprint, keysInUse, MAX_KEYS_PER_APPLICATION } from './public-keys.ts';
import { keySummary } from './jwks-url-status.ts';

export const FETCH_TIMEOUT_MS = 5000;
export const MAX_JWKS_BYTES = 64 * 1024;
export interface RemoteKey {
  kid: string;
  thumbprint: string;
  keyType: string; // "RSA 2048", "EC P-256", … (what the page shows)
  key: crypto.KeyObject;
}

export interface FetchedJwks {
  keys: RemoteKey[];
  maxAgeSeconds: number | null; // the answer's Cache-Control max-age, if any
}

// What went wrong, in words for the person who typed the URL (`what`: "The JWKS URL").
export function fetchProblemMessage(what: string, p: SafeFetchProblem, timeoutMs = FETCH_TIMEOUT_MS): string {
  switch (p.problem) {
    case 'url':
      return `Enter ${what.replace(/^The /, 'the ')} as an absolute https:// address.`;
    case 'scheme':
      return `${what} must start with https://.`;
    case 'credentials':
      return `${what} must not contain a user name or password.`;
    case 'not-found':
      return `The host ${p.host} could not be found.`;
    case 'address':
      return `${what} points to a private or local address (${p.address}, ${p.range}); use a public https address.`;
    case 'timeout':
      return `${what} did not answer within ${timeoutMs / 1000} seconds.`;
    case 'unreachable':
      return `${what} could not be reached.`;
    case 'redirect':
      return `${what} redirects elsewhere; register the final address.`;
    case 'too-large':
      return `The JWKS is too large (at most ${MAX_JWKS_BYTES / 1024} KB).`;
  }
}

function maxAgeOf(cacheControl: string | undefined): number | null {
  if (!cacheControl) return null;
  if (/(^|,)\s*(no-store|no-cache)\s*(,|$)/i.test(cacheControl)) return 0;
  const m = /(?:^|,)\s*max-age\s*=\s*"?(\d{1,9})"?/i.exec(cacheControl);
  return m ? Number(m[1]) : null;
}

// Fetches and reads a JWKS; a plain message for everything that can go wrong.
// `maxKeys`: an application's at most; an outside issuer's (federated credentials) more.
export async function fetchJwks(url: string, sandbox: boolean, timeoutMs = FETCH_TIMEOUT_MS, maxKeys = MAX_KEYS_PER_APPLICATION, what = 'The JWKS URL'): Promise<Parsed<FetchedJwks>> {
  const res = await safeGet(url, { allowHttp: sandbox, allowLoopback: sandbox, timeoutMs, maxBytes: MAX_JWKS_BYTES });
  if (!res.ok) return { ok: false, message: fetchProblemMessage(what, res, timeoutMs) };
  if (res.status < 200 || res.status >= 300) return { ok: false, message: `${what} answered HTTP ${res.status}.` };
  let keys: unknown;
  try {
    keys = (JSON.parse(res.body) as { keys?: unknown }).keys;
  } catch {
    return { ok: false, message: 'The JWKS URL did not return JSON: expected {"keys": [...]}.' };
  }
  if (!Array.isArray(keys) || keys.length === 0) return { ok: false, message: 'The JWKS has no keys: expected {"keys": [...]} with at least one public key.' };
  const out: RemoteKey[] = [];
  for (const jwk of keys.slice(0, 100) as Array<crypto.JsonWebKey & { kid?: unknown; use?: unknown }>) {
    if (typeof jwk !== 'object' || jwk === null || jwk.d !== undefined) return { ok: false, message: 'The JWKS holds a private key: publish only public keys.' };
    if (jwk.use !== undefined && jwk.use !== 'sig') continue;
    try {
      const described = describeKey(crypto.createPublicKey({ key: jwk, format: 'jwk' }));
      if (!described.ok) return { ok: false, message: `A key in the JWKS is refused: ${described.message}` };
      const thumbprint = jwkThumbprint(described.value.jwk);
      out.push({ kid: typeof jwk.kid === 'string' ? jwk.kid : thumbprint, thumbprint, keyType: described.value.keyType, key: crypto.createPublicKey({ key: described.value.jwk, format: 'jwk' }) });
    } catch {
      return { ok: false, message: 'A key in the JWKS could not be read.' };
    }
  }
  if (out.length === 0) return { ok: false, message: 'The JWKS has no signing keys.' };
  if (out.length > maxKeys) return { ok: false, message: `The JWKS has ${out.length} signing keys; ${maxKeys === MAX_KEYS_PER_APPLICATION ? 'an application may have' : 'an issuer may publish'} at most ${maxKeys}.` };
  return { ok: true, value: { keys: out, maxAgeSeconds: maxAgeOf(res.headers['cache-control']) } };
}

// Registers (or replaces) the application's JWKS URL after a successful fetch.
export async function registerJwksUrl(deps: Pick<Deps, 'db' | 'clock' | 'config'>, actor: AuditActor, app: Application, urlInput: unknown): Promise<DomainResult<{ keys: number }>> {
  const url = typeof urlInput === 'string' ? urlInput.trim() : '';
  if (!url || url.length > 500) return failure('jwks_url', 'Enter the JWKS URL as an absolute https:// address.');
  const fetched = await fetchJwks(url, deps.config.portalEnv === 'sandbox');
  if (!fetched.ok) return failure('jwks_url', fetched.message);
  const keyCount = fetched.value.keys.length;
  const { uploaded } = keysInUse(deps, app.id);
  if (uploaded + keyCount > MAX_KEYS_PER_APPLICATION) {
    return failure('jwks_url', `The JWKS has ${keyCount} signing key${keyCount === 1 ? '' : 's'} and this application has ${uploaded} uploaded; an application may have at most ${MAX_KEYS_PER_APPLICATION} keys in all. Delete uploaded keys first.`);
  }
  const now = deps.clock.now();
  const found = { keys: keySummary(fetched.value.keys), fetchedAt: now, lastError: null, lastErrorAt: null };
  deps.db
    .insert(clientJwksUrls)
    .values({ applicationId: app.id, url, createdAt: now, createdBy: actor.userId ?? null, keyCount, ...found })
    .onConflictDoUpdate({ target: clientJwksUrls.applicationId, set: { url, createdAt: now, createdBy: actor.userId ?? null, keyCount, ...found } })
    .run();
  recordAudit(deps.db, deps.clock, actor, { action: 'jwks_url.set', organisationId: app.organisationId, applicationId: app.id, target: url, details: { keys: keyCount } });
  return success({ keys: keyCount });
}

export function removeJwksUrl(deps: Pick<Deps, 'db' | 'clock'>, actor: AuditActor, app: Application): boolean {
  const removed = deps.db.delete(clientJwksUrls).where(eq(clientJwksUrls.applicationId, app.id)).run().changes > 0;
  if (removed) recordAudit(deps.db, deps.clock, actor, { action: 'jwks_url.remove', organisationId: app.organisationId, applicationId: app.id });
  return removed;
}
