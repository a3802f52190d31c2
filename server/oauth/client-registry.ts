// The second link of client authentication: loading the client. Clients are read through
// the endpoints' own SQLite connection into an in-memory cache that is dropped whenever
// `PRAGMA data_version` moves, which it does on every commit by any other connection (the
// web pages' in this process, the CLI's, another process's). The version is read when this
// process wrote through another connection since the last look (localWriteCount), and
// otherwise at most every CROSS_PROCESS_CHECK_MS. So a deleted secret or a disabled
// application is refused from the very next request made after a change in this process,
// and within a quarter second of a commit elsewhere. A credential the cache does not hold
// is asked about at once (changedElsewhere): a secret the CLI made or rolled in another
// process a moment ago works from the very first request.
import crypto from 'node:crypto';
import type Database from 'better-sqlite3';
import { localWriteCount } from '../../db/client.ts';
import { describeKey, MAX_KEYS_PER_APPLICATION } from '../credentials/public-keys.ts';
import type { FederatedRow } from './federated.ts';

export interface Grant {
  code: string;
  sandbox: string;
  production: string;
}

// What authenticated: a secret, an uploaded key, a key at the JWKS URL, or an outside
// issuer's token (a federated credential).
export type CredentialKind = 'secret' | 'key' | 'jwks' | 'federated';

export interface AuthenticatedClient {
  applicationId: number;
  organisationId: number;
  clientId: string;
  sandboxOnly: boolean;
  secretId: string; // the credential's id, in the token's secret_id
  credential: CredentialKind;
  grants: Grant[];
}

export interface SecretRow {
  id: string;
  hash: Buffer;
  expires_at: number;
  expires_on: string; // the date it expires at the end of (for the caller's error_description)
  deleted_at: number | null; // a deleted secret, kept to say so to a caller that still sends it
  hint?: string;
  deleted_by?: string | null; // who deleted it, for the managers' refusals ("its manager (name)")
}
export interface KeyRow {
  id: string;
  thumbprint: string;
  expires_at: number;
  key: crypto.KeyObject;
}

// A client as the cache holds it; `app` null for a client id that names no enabled application.
export interface RegisteredClient {
  app: { id: number; organisation_id: number; client_id: string; sandbox_only: number } | null;
  disabledApplicationId?: number; // the client id names a disabled application (refusals shown to its managers)
  secrets: SecretRow[]; // the live ones, then the twenty deleted last
  grants: Grant[];
  keys?: KeyRow[]; // loaded on its first private_key_jwt request
  jwksUrl?: string | null;
  federated?: FederatedRow[]; // loaded on its first federated request
}

const MAX_CACHED_CLIENTS = 20_000;
// How often the cache asks SQLite whether another process committed.
export const CROSS_PROCESS_CHECK_MS = 250;

export function createClientRegistry(sqlite: Database.Database) {
  const findApp = sqlite.prepare<[string], NonNullable<RegisteredClient['app']> & { disabled_at: number | null }>('select id, organisation_id, client_id, sandbox_only, disabled_at from applications where client_id = ?');
  const findSecrets = sqlite.prepare<[number, number], { id: string; secret_hash: string; expires_at: number; expires_on: string; deleted_at: number | null; hint: string; deleted_by: string | null }>(
    `select * from (select id, secret_hash, expires_at, expires_on, deleted_at, hint, null as deleted_by from client_secrets where application_id = ? and deleted_at is null) union all select * from (select s.id, s.secret_hash, s.expires_at, s.expires_on, s.deleted_at, s.hint,
       case when s.delete_reason is not null then 'an administrator (' || coalesce(nullif(u.display_name, ''), u.email, 'unknown') || ')' when u.id is null then 'the command line' when u.is_admin then 'an administrator (' || coalesce(nullif(u.display_name, ''), u.email) || ')' else 'its manager (' || coalesce(nullif(u.display_name, ''), u.email) || ')' end as deleted_by
       from client_secrets s left join users u on u.id = s.deleted_by where s.application_id = ? and s.deleted_at is not null order by s.deleted_at desc limit 20)`,
  );
  const findGrants = sqlite.prepare<[number], Grant>(
    'select a.code as code, a.sandbox_resource as sandbox, a.production_resource as production from application_apis g join apis a on a.code = g.api_code where g.application_id = ? order by a.code',
  );
  const findKeys = sqlite.prepare<[number], { id: string; thumbprint: string; public_jwk: string; expires_at: number }>(
    'select id, thumbprint, public_jwk, expires_at from client_keys where application_id = ? and deleted_at is null order by expires_at desc',
  );
  const findJwksUrl = sqlite.prepare<[number], { url: string }>('select url from client_jwks_urls where application_id = ?');
  const findFederated = sqlite.prepare<[number], FederatedRow>('select id, name, issuer, subject, audience from federated_credentials where application_id = ? and deleted_at is null');
  const dataVersion = sqlite.prepare('pragma data_version').pluck();
  let version = dataVersion.get();
  let seenWrites = localWriteCount();
  let checkedAt = performance.now();
  const cache = new Map<string, RegisteredClient>();

  // Whether any other connection committed since the cache was filled (the cache is then
  // dropped): asked now, whatever the counter and the clock say.
  function changedElsewhere(): boolean {
    seenWrites = localWriteCount();
    checkedAt = performance.now();
    const v = dataVersion.get();
    if (v === version) return false;
    cache.clear();
    version = v;
    return true;
  }

  function lookup(clientId: string): RegisteredClient {
    if (localWriteCount() !== seenWrites || performance.now() - checkedAt >= CROSS_PROCESS_CHECK_MS) changedElsewhere();
    if (cache.size > MAX_CACHED_CLIENTS) cache.clear();
    let entry = cache.get(clientId);
    if (!entry) {
      const found = clientId.length <= 200 ? (findApp.get(clientId) ?? null) : null;
      const app = found && found.disabled_at === null ? { id: found.id, organisation_id: found.organisation_id, client_id: found.client_id, sandbox_only: found.sandbox_only } : null;
      entry = {
        app,
        secrets: app ? findSecrets.all(app.id, app.id).map((r) => ({ id: r.id, hash: Buffer.from(r.secret_hash, 'hex'), expires_at: r.expires_at, expires_on: r.expires_on, deleted_at: r.deleted_at, hint: r.hint, deleted_by: r.deleted_by })) : [],
        grants: app ? findGrants.all(app.id) : [],
        ...(found && !app ? { disabledApplicationId: found.id } : {}),
      };
      cache.set(clientId, entry);
    }
    return entry;
  }

  // Its registered keys and JWKS URL, read on first use into the same entry. Keys stored
  // before today's rules (an RSA exponent other than 65537, a modulus over 4096 bits) are
  // not used: each costs every tenant time.
  function keysOf(entry: RegisteredClient): { keys: KeyRow[]; jwksUrl: string | null } {
    if (!entry.app) return { keys: [], jwksUrl: null };
    if (entry.jwksUrl === undefined) entry.jwksUrl = findJwksUrl.get(entry.app.id)?.url ?? null;
    entry.keys ??= findKeys
      .all(entry.app.id)
      .flatMap((r) => {
        try {
          const key = crypto.createPublicKey({ key: JSON.parse(r.public_jwk) as crypto.JsonWebKey, format: 'jwk' });
          return describeKey(key).ok ? [{ id: r.id, thumbprint: r.thumbprint, expires_at: r.expires_at, key }] : [];
        } catch {
          return [];
        }
      })
      .slice(0, MAX_KEYS_PER_APPLICATION);
    return { keys: entry.keys, jwksUrl: entry.jwksUrl };
  }

  // Its federated credentials, read on first use into the same entry.
  function federatedOf(entry: RegisteredClient): FederatedRow[] {
    if (!entry.app) return [];
    entry.federated ??= findFederated.all(entry.app.id);
    return entry.federated;
  }

  return { lookup, changedElsewhere, keysOf, federatedOf };
}

// The authenticated client, once a credential of `entry` (whose app is set) matched.
export function authenticated(entry: RegisteredClient, credential: CredentialKind, id: string): AuthenticatedClient {
  const app = entry.app!;
  return { applicationId: app.id, organisationId: app.organisation_id, clientId: app.client_id, sandboxOnly: app.sandbox_only === 1, secretId: id, credential, grants: entry.grants };
}
