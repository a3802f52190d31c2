// The credentials page's reads: one statement per kind of row for all the applications
// shown (their ids as a JSON array), prepared once per connection. 50 applications cost
// four queries, not three hundred.
// Secrets, grants and keys come back as arrays (better-sqlite3's raw mode), named by their
// tuple types and taken apart by destructuring: building an object with named properties
// per row cost as much as the query itself (25 secrets: 118 µs as objects, 67 µs as arrays).
import type { Deps } from '../deps.ts';
import { keptUntilWrite } from '../../db/client.ts';

export type GrantRow = [applicationId: number, code: string, name: string, sandboxResource: string, productionResource: string];
export type SecretRow = [applicationId: number, id: string, name: string, hint: string, createdAt: number, expiresOn: string, expiresAt: number, lastUsedAt: number | null, createdByEmail: string | null, createdByName: string | null];
export type KeyRow = [applicationId: number, id: string, name: string, kind: string, thumbprint: string, keyType: string, expiresOn: string, expiresAt: number, lastUsedAt: number | null, createdAt: number];
export type FederatedRow = [applicationId: number, id: string, name: string, issuer: string, subject: string, audience: string, reviewOn: string, reviewAt: number, createdAt: number, lastUsedAt: number | null];
export interface JwksUrlRow {
  application_id: number;
  url: string;
  keys: string;
  fetched_at: number | null;
  last_error: string | null;
  last_error_at: number | null;
}
export interface CountRow {
  application_id: number;
  active: number;
  expiring: number;
  expired: number;
  next_expiry: string | null;
}

const IDS = 'in (select value from json_each(?))';
const statements = new WeakMap<object, ReturnType<typeof prepare>>();
function prepare(sqlite: Deps['db']['$client']) {
  return {
    grants: sqlite.prepare<[string], GrantRow>(`select g.application_id, a.code, a.name, a.sandbox_resource, a.production_resource from application_apis g join apis a on a.code = g.api_code where g.application_id ${IDS} order by a.code`).raw(),
    secrets: sqlite.prepare<[string], SecretRow>(`select s.application_id, s.id, s.name, s.hint, s.created_at, s.expires_on, s.expires_at, s.last_used_at, u.email as created_by_email, u.display_name as created_by_name from client_secrets s left join users u on u.id = s.created_by where s.application_id ${IDS} and s.deleted_at is null order by s.created_at desc`).raw(),
    keys: sqlite.prepare<[string], KeyRow>(`select application_id, id, name, kind, thumbprint, key_type, expires_on, expires_at, last_used_at, created_at from client_keys where application_id ${IDS} and deleted_at is null order by created_at`).raw(),
    federated: sqlite.prepare<[string], FederatedRow>(`select application_id, id, name, issuer, subject, audience, review_on, review_at, created_at, last_used_at from federated_credentials where application_id ${IDS} and deleted_at is null order by created_at`).raw(),
    urls: sqlite.prepare<[string], JwksUrlRow>(`select application_id, url, keys, fetched_at, last_error, last_error_at from client_jwks_urls where application_id ${IDS}`),
    counts: sqlite.prepare<[number, number, string, number, number, string], CountRow>(
      `select application_id, sum(expires_at > ?) as active, sum(expires_at > ? and expires_on <= ?) as expiring, sum(expires_at <= ?) as expired, min(case when expires_at > ? then expires_on end) as next_expiry
       from client_secrets where application_id ${IDS} and deleted_at is null group by application_id`,
    ),
  };
}
function statementsOf(db: Deps['db']) {
  let s = statements.get(db.$client);
  if (!s) statements.set(db.$client, (s = prepare(db.$client)));
  return s;
}

// Rows by their application (the first column).
function byApplication<T extends [applicationId: number, ...rest: unknown[]]>(rows: T[]): Map<number, T[]> {
  const out = new Map<number, T[]>();
  for (const row of rows) {
    const [applicationId] = row;
    const list = out.get(applicationId);
    if (list) list.push(row);
    else out.set(applicationId, [row]);
  }
  return out;
}

// Everything the page shows of these applications, by application: five queries (none
// without applications). The same applications read again while nothing was written
// (`PRAGMA data_version` of this connection, and this process's write count, as the usage
// reader in usage.ts and the token endpoint's cache do) get the rows already read: a page
// shown again reads nothing (about 200 µs of the 5 × 5 credentials page). The rows are
// shared between requests: callers only read them.
export function readApplications(db: Deps['db'], applicationIds: number[]): ApplicationRows {
  const ids = JSON.stringify(applicationIds);
  return kept(db.$client, ids, () => readNow(statementsOf(db), ids, applicationIds.length > 0));
}

const kept = keptUntilWrite<ApplicationRows>();
export type ApplicationRows = ReturnType<typeof readNow>;

function readNow(q: ReturnType<typeof prepare>, ids: string, any: boolean) {
  return {
    grants: byApplication(any ? q.grants.all(ids) : []),
    secrets: byApplication(any ? q.secrets.all(ids) : []),
    keys: byApplication(any ? q.keys.all(ids) : []),
    federated: byApplication(any ? q.federated.all(ids) : []),
    jwksUrls: new Map((any ? q.urls.all(ids) : []).map((r) => [r.application_id, r])),
  };
}

// Per application, its live secrets counted as active (expiring after now), expiring (active,
// on or before the date expiringOn) and expired, and the next expiry date: one query.
export function readSecretCounts(db: Deps['db'], applicationIds: number[], now: number, expiringOn: string): Map<number, CountRow> {
  if (applicationIds.length === 0) return new Map();
  const rows = statementsOf(db).counts.all(now, now, expiringOn, now, now, JSON.stringify(applicationIds));
  return new Map(rows.map((r) => [r.application_id, r]));
}

// The APIs granted to one application.
export function readGrants(db: Deps['db'], applicationId: number): GrantRow[] {
  return statementsOf(db).grants.all(JSON.stringify([applicationId]));
}

// A grant's resource identifier in the application's default environment: sandbox for a
// sandbox-only application, production otherwise.
export function resourceOf([, , , sandboxResource, productionResource]: GrantRow, sandboxOnly: boolean): string {
  return sandboxOnly ? sandboxResource : productionResource;
}
