// A JWKS URL instead of uploaded keys: fetched with a timeout, a size limit and no
// redirects, only over https outside the sandbox, never from a private, loopback or
// link-local address outside the sandbox (the portal must not become a way into the
// internal network); the keys are cached and refetched on an unknown `kid` at most once
// a minute.
import crypto from 'node:crypto';
import dns from 'node:dns/promises';
import net from 'node:net';
import { eq } from 'drizzle-orm';
import { clientJwksUrls } from '../../db/schema.ts';
import type { Deps } from '../deps.ts';
import { recordAudit, type AuditActor } from '../audit/audit.ts';
import type { Parsed } from '../validation.ts';
import { failure, success, type DomainResult } from '../result.ts';
import type { Application } from './applications.ts';
import { describeKey, jwkThumbprint } from './public-keys.ts';

export const FETCH_TIMEOUT_MS = 5000;
export const MAX_JWKS_BYTES = 64 * 1024;
export const REFETCH_AFTER_MS = 60_000;

export interface RemoteKey {
  kid: string;
  thumbprint: string;
  key: crypto.KeyObject;
}

function isPrivateAddress(ip: string): boolean {
  const v4 = net.isIPv4(ip) ? ip : ip.startsWith('::ffff:') && net.isIPv4(ip.slice(7)) ? ip.slice(7) : null;
  if (v4) {
    const [a, b] = v4.split('.').map(Number) as [number, number];
    return a === 10 || a === 127 || a === 0 || (a === 172 && b >= 16 && b <= 31) || (a === 192 && b === 168) || (a === 169 && b === 254) || (a === 100 && b >= 64 && b <= 127) || a >= 224;
  }
  const v6 = ip.toLowerCase();
  return v6 === '::1' || v6 === '::' || v6.startsWith('fc') || v6.startsWith('fd') || v6.startsWith('fe8') || v6.startsWith('fe9') || v6.startsWith('fea') || v6.startsWith('feb');
}

// Fetches and reads a JWKS; a plain message for everything that can go wrong.
export async function fetchJwks(url: string, sandbox: boolean): Promise<Parsed<RemoteKey[]>> {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return { ok: false, message: 'Enter the JWKS URL as an absolute https:// address.' };
  }
  if (u.protocol !== 'https:' && !(sandbox && u.protocol === 'http:')) return { ok: false, message: 'The JWKS URL must start with https://.' };
  if (u.username || u.password) return { ok: false, message: 'The JWKS URL must not contain a user name or password.' };
  if (!sandbox) {
    const host = u.hostname.replace(/^\[|\]$/g, '');
    let addresses: string[];
    try {
      addresses = net.isIP(host) ? [host] : (await dns.lookup(host, { all: true })).map((a) => a.address);
    } catch {
      return { ok: false, message: `The host ${host} could not be found.` };
    }
    if (addresses.some(isPrivateAddress)) return { ok: false, message: 'The JWKS URL points to a private or local address; use a public https address.' };
  }
  let body: string;
  try {
    const res = await fetch(u, { redirect: 'manual', signal: AbortSignal.timeout(FETCH_TIMEOUT_MS), headers: { Accept: 'application/json' } });
    if (res.status >= 300 && res.status < 400) return { ok: false, message: 'The JWKS URL redirects elsewhere; register the final address.' };
    if (!res.ok) return { ok: false, message: `The JWKS URL answered HTTP ${res.status}.` };
    const declared = Number(res.headers.get('content-length') ?? 0);
    if (declared > MAX_JWKS_BYTES) return { ok: false, message: `The JWKS is too large (at most ${MAX_JWKS_BYTES / 1024} KB).` };
    const reader = res.body?.getReader();
    const chunks: Uint8Array[] = [];
    let size = 0;
    while (reader) {
      const { done, value } = await reader.read();
      if (done) break;
      size += value.length;
      if (size > MAX_JWKS_BYTES) {
        await reader.cancel();
        return { ok: false, message: `The JWKS is too large (at most ${MAX_JWKS_BYTES / 1024} KB).` };
      }
      chunks.push(value);
    }
    body = Buffer.concat(chunks).toString('utf8');
  } catch (err) {
    const timeout = (err as { name?: string }).name === 'TimeoutError';
    return { ok: false, message: timeout ? `The JWKS URL did not answer within ${FETCH_TIMEOUT_MS / 1000} seconds.` : 'The JWKS URL could not be reached.' };
  }
  let keys: unknown;
  try {
    keys = (JSON.parse(body) as { keys?: unknown }).keys;
  } catch {
    return { ok: false, message: 'The JWKS URL did not return JSON: expected {"keys": [...]}.' };
  }
  if (!Array.isArray(keys) || keys.length === 0) return { ok: false, message: 'The JWKS has no keys: expected {"keys": [...]} with at least one public key.' };
  const out: RemoteKey[] = [];
  for (const jwk of keys.slice(0, 20) as Array<crypto.JsonWebKey & { kid?: unknown; use?: unknown }>) {
    if (typeof jwk !== 'object' || jwk === null || jwk.d !== undefined) return { ok: false, message: 'The JWKS holds a private key: publish only public keys.' };
    if (jwk.use !== undefined && jwk.use !== 'sig') continue;
    try {
      const described = describeKey(crypto.createPublicKey({ key: jwk, format: 'jwk' }));
      if (!described.ok) return { ok: false, message: `A key in the JWKS is refused: ${described.message}` };
      const thumbprint = jwkThumbprint(described.value.jwk);
      out.push({ kid: typeof jwk.kid === 'string' ? jwk.kid : thumbprint, thumbprint, key: crypto.createPublicKey({ key: described.value.jwk, format: 'jwk' }) });
    } catch {
      return { ok: false, message: 'A key in the JWKS could not be read.' };
    }
  }
  if (out.length === 0) return { ok: false, message: 'The JWKS has no signing keys.' };
  return { ok: true, value: out };
}

// Registers (or replaces) the application's JWKS URL after a successful fetch.
export async function registerJwksUrl(deps: Pick<Deps, 'db' | 'clock' | 'config'>, actor: AuditActor, app: Application, urlInput: unknown): Promise<DomainResult<{ keys: number }>> {
  const url = typeof urlInput === 'string' ? urlInput.trim() : '';
  if (!url || url.length > 500) return failure('jwks_url', 'Enter the JWKS URL as an absolute https:// address.');
  const fetched = await fetchJwks(url, deps.config.portalEnv === 'sandbox');
  if (!fetched.ok) return failure('jwks_url', fetched.message);
  const now = deps.clock.now();
  deps.db
    .insert(clientJwksUrls)
    .values({ applicationId: app.id, url, createdAt: now, createdBy: actor.userId ?? null })
    .onConflictDoUpdate({ target: clientJwksUrls.applicationId, set: { url, createdAt: now, createdBy: actor.userId ?? null } })
    .run();
  recordAudit(deps.db, deps.clock, actor, { action: 'jwks_url.set', organisationId: app.organisationId, applicationId: app.id, target: url, details: { keys: fetched.value.length } });
  return success({ keys: fetched.value.length });
}

export function removeJwksUrl(deps: Pick<Deps, 'db' | 'clock'>, actor: AuditActor, app: Application): boolean {
  const removed = deps.db.delete(clientJwksUrls).where(eq(clientJwksUrls.applicationId, app.id)).run().changes > 0;
  if (removed) recordAudit(deps.db, deps.clock, actor, { action: 'jwks_url.remove', organisationId: app.organisationId, applicationId: app.id });
  return removed;
}

// The token endpoint's cache of remote keys, per URL: fetched on first use, refetched
// when an assertion names an unknown kid, at most once a minute.
export function createRemoteKeyCache(sandbox: boolean, now: () => number) {
  const cache = new Map<string, { keys: RemoteKey[]; fetchedAt: number }>();
  return async function remoteKeys(url: string, kid: string | null): Promise<RemoteKey[]> {
    const hit = cache.get(url);
    const known = hit && (kid === null || hit.keys.some((k) => k.kid === kid || k.thumbprint === kid));
    if (hit && (known || now() - hit.fetchedAt < REFETCH_AFTER_MS)) return hit.keys;
    const fetched = await fetchJwks(url, sandbox);
    const keys = fetched.ok ? fetched.value : (hit?.keys ?? []);
    if (cache.size > 10_000) cache.clear();
    cache.set(url, { keys, fetchedAt: now() });
    return keys;
  };
}
