// Client authentication for the token and introspection endpoints:
// client_secret_basic (RFC 6749 §2.3.1: id and secret form-urlencoded, then base64)
// or client_secret_post. Any active secret of an enabled application authenticates;
// every failure looks the same, from outside and on the clock.
import crypto from 'node:crypto';
import type Database from 'better-sqlite3';
import { invalidClient, invalidRequest } from './errors.ts';
import { localWriteCount } from '../../db/client.ts';
import { describeKey, MAX_KEYS_PER_APPLICATION } from '../credentials/public-keys.ts';

export interface PresentedCredentials {
  clientId: string;
  secret: string;
  basic: boolean;
}

function formDecode(s: string): string {
  if (s.indexOf('%') === -1 && s.indexOf('+') === -1) return s; // nothing encoded (a UUID, a generated secret)
  return decodeURIComponent(s.replace(/\+/g, ' '));
}

// Reads the credentials from the Authorization header or the body; both at once is an error.
export function presentedCredentials(authorization: string | undefined, params: URLSearchParams): PresentedCredentials {
  const bodyId = params.get('client_id');
  const bodySecret = params.get('client_secret');
  if (params.getAll('client_id').length > 1 || params.getAll('client_secret').length > 1) {
    throw invalidRequest('client_id and client_secret may be sent only once.');
  }
  if (authorization !== undefined) {
    const m = /^Basic[ ]+([A-Za-z0-9+/=._~-]+)[ ]*$/i.exec(authorization);
    if (!m) throw invalidClient(true);
    if (bodySecret !== null) throw invalidRequest('Use one client authentication method: HTTP Basic or client_secret in the body, not both.');
    const decoded = Buffer.from(m[1]!, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon < 1) throw invalidClient(true);
    let clientId: string;
    let secret: string;
    try {
      clientId = formDecode(decoded.slice(0, colon));
      secret = formDecode(decoded.slice(colon + 1));
    } catch {
      throw invalidClient(true);
    }
    if (bodyId !== null && bodyId !== clientId) throw invalidRequest('client_id in the body does not match the Authorization header.');
    return { clientId, secret, basic: true };
  }
  if (bodyId === null || bodySecret === null || bodyId === '' || bodySecret === '') throw invalidClient(true);
  return { clientId: bodyId, secret: bodySecret, basic: false };
}

export interface Grant {
  code: string;
  sandbox: string;
  production: string;
}

export interface AuthenticatedClient {
  applicationId: number;
  organisationId: number;
  clientId: string;
  sandboxOnly: boolean;
  secretId: string;
  grants: Grant[];
}

interface AppRow {
  id: number;
  organisation_id: number;
  client_id: string;
  sandbox_only: number;
}
interface SecretRow {
  id: string;
  hash: Buffer;
  expires_at: number;
}
export interface KeyRow {
  id: string;
  thumbprint: string;
  expires_at: number;
  key: crypto.KeyObject;
}
interface Entry {
  app: AppRow | null;
  secrets: SecretRow[];
  grants: Grant[];
  keys?: KeyRow[]; // loaded on first private_key_jwt request
  jwksUrl?: string | null;
}

// A hash that no secret has, compared against when there is nothing real to compare,
// so an unknown client costs the same as a wrong secret.
const DUMMY: SecretRow = { id: '', hash: crypto.createHash('sha256').update(crypto.randomBytes(32)).digest(), expires_at: 0 };
const MAX_CACHED_CLIENTS = 20_000;

// How often the cache asks SQLite whether another process committed.
export const CROSS_PROCESS_CHECK_MS = 250;

// Looks clients up through their own SQLite connection, with an in-memory cache that is
// dropped whenever `PRAGMA data_version` moves, which it does on every commit by any
// other connection (the web pages' in this process, the CLI's, another process's). The
// version is read when this process wrote through another connection since the last
// look (localWriteCount), and otherwise at most every CROSS_PROCESS_CHECK_MS. So a
// deleted secret or a disabled application is refused from the very next request made
// after a change in this process, and within a quarter second of a commit elsewhere.
export function createClientAuthenticator(sqlite: Database.Database) {
  const findApp = sqlite.prepare<[string], AppRow>(
    'select id, organisation_id, client_id, sandbox_only from applications where client_id = ? and disabled_at is null',
  );
  const findSecrets = sqlite.prepare<[number], { id: string; secret_hash: string; expires_at: number }>(
    'select id, secret_hash, expires_at from client_secrets where application_id = ? and deleted_at is null',
  );
  const findGrants = sqlite.prepare<[number], Grant>(
    'select a.code as code, a.sandbox_resource as sandbox, a.production_resource as production from application_apis g join apis a on a.code = g.api_code where g.application_id = ? order by a.code',
  );
  const findKeys = sqlite.prepare<[number], { id: string; thumbprint: string; public_jwk: string; expires_at: number }>(
    'select id, thumbprint, public_jwk, expires_at from client_keys where application_id = ? and deleted_at is null order by expires_at desc',
  );
  const findJwksUrl = sqlite.prepare<[number], { url: string }>('select url from client_jwks_urls where application_id = ?');
  const dataVersion = sqlite.prepare('pragma data_version').pluck();
  let version = dataVersion.get();
  let seenWrites = localWriteCount();
  let checkedAt = performance.now();
  const cache = new Map<string, Entry>();

  function lookup(clientId: string): Entry {
    const writes = localWriteCount();
    const t = performance.now();
    if (writes !== seenWrites || t - checkedAt >= CROSS_PROCESS_CHECK_MS) {
      seenWrites = writes;
      checkedAt = t;
      const v = dataVersion.get();
      if (v !== version) {
        cache.clear();
        version = v;
      }
    }
    if (cache.size > MAX_CACHED_CLIENTS) cache.clear();
    let entry = cache.get(clientId);
    if (!entry) {
      const app = clientId.length <= 200 ? (findApp.get(clientId) ?? null) : null;
      entry = {
        app,
        secrets: app ? findSecrets.all(app.id).map((r) => ({ id: r.id, hash: Buffer.from(r.secret_hash, 'hex'), expires_at: r.expires_at })) : [],
        grants: app ? findGrants.all(app.id) : [],
      };
      cache.set(clientId, entry);
    }
    return entry;
  }

  // The application's registered public keys, for private_key_jwt (same cache, same invalidation).
  function keysOf(clientId: string): { client: Omit<AuthenticatedClient, 'secretId'> | null; keys: KeyRow[]; jwksUrl: string | null } {
    const entry = lookup(clientId);
    if (!entry.app) return { client: null, keys: [], jwksUrl: null };
    if (entry.jwksUrl === undefined) entry.jwksUrl = findJwksUrl.get(entry.app.id)?.url ?? null;
    // Keys stored before today's rules (an RSA exponent other than 65537, a modulus over
    // 4096 bits) are not used: each costs every tenant time.
    entry.keys ??= findKeys.all(entry.app.id).flatMap((r) => {
      try {
        const key = crypto.createPublicKey({ key: JSON.parse(r.public_jwk) as crypto.JsonWebKey, format: 'jwk' });
        return describeKey(key).ok ? [{ id: r.id, thumbprint: r.thumbprint, expires_at: r.expires_at, key }] : [];
      } catch {
        return [];
      }
    }).slice(0, MAX_KEYS_PER_APPLICATION);
    const app = entry.app;
    return { client: { applicationId: app.id, organisationId: app.organisation_id, clientId: app.client_id, sandboxOnly: app.sandbox_only === 1, grants: entry.grants }, keys: entry.keys, jwksUrl: entry.jwksUrl };
  }

  // The client when the secret is right; otherwise a short fingerprint of what was
  // presented, so that the limits can tell a repeated wrong secret from a new guess.
  function authenticate(clientId: string, secret: string, now: number): { client: AuthenticatedClient; fingerprint?: undefined } | { client: null; fingerprint: string } {
    // crypto.hash: the one-shot digest, half the cost of createHash().update().digest() here.
    const presented = crypto.hash('sha256', secret, 'buffer') as unknown as Buffer;
    const { app, secrets, grants } = lookup(clientId);
    let match: SecretRow | null = null;
    // Every candidate is compared (at least one), whichever matches.
    for (const row of secrets.length ? secrets : [DUMMY]) {
      if (crypto.timingSafeEqual(row.hash, presented) && row !== DUMMY && row.expires_at > now && !match) match = row;
    }
    if (!app || !match) return { client: null, fingerprint: presented.toString('base64', 0, 12) };
    return { client: { applicationId: app.id, organisationId: app.organisation_id, clientId: app.client_id, sandboxOnly: app.sandbox_only === 1, secretId: match.id, grants } };
  }
  return { authenticate, keysOf };
}
