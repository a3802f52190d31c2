// Integration health for the IT team (issue 28, point 8): the enabled applications whose
// partners may be in trouble, read in a handful of bounded queries that search their
// indexes (test/admin/query-plans.test.ts), so the page stays fast with 90 days of usage:
// - refused token requests of the last 24 hours (token_refusals by its hour index, at most
//   1,000 rows an hour), by application: the count, the top reasons and the last one;
// - secrets and keys expiring within 7 days (by their expiry indexes) with no newer
//   credential of the same application in use (used since that newer one was created);
// - applications whose credentials (all of them) have had no use for 30 days, a credential
//   never used counting as idle from its creation: one pass over the applications, each
//   looked up by its own indexes.
// Disabled applications are left out. Each list holds at most HEALTH_ROWS rows.
import type { Deps } from '../deps.ts';
import { addDays, dateInZone } from '../lib/dates.ts';

export const HEALTH_ROWS = 100;
export const REFUSALS_HOURS = 24;
export const EXPIRING_WITHIN_DAYS = 7;
export const IDLE_FOR_DAYS = 30;
export const TOP_REASONS = 3;
const HOUR_MS = 3_600_000;
const DAY_MS = 86_400_000;

type Sqlite = Deps['db']['$client'];

interface ApplicationCells {
  applicationId: number;
  application: string;
  clientId: string;
  organisation: string;
}

export interface RefusedApplication extends ApplicationCells {
  count: number;
  lastAt: number;
  lastAddress: string;
  lastClient: string;
  reasons: Array<{ reason: string; count: number }>; // the TOP_REASONS most frequent
  moreReasons: number; // how many other reasons
}

export interface ExpiringCredential extends ApplicationCells {
  kind: 'secret' | 'key';
  id: string;
  name: string;
  label: string; // a secret's hint, a key's thumbprint
  expiresOn: string;
  expiresAt: number;
  lastUsedAt: number | null;
  newerUnused: number; // newer credentials of the application, none of them used yet
}

export interface IdleApplication extends ApplicationCells {
  credentials: number;
  lastUsedAt: number | null; // the latest use of any of them (within the 90 days kept for a JWKS URL)
  since: number; // idle since: the latest use, or the latest creation if later
}

// An application, as the joins below give it.
const APPLICATION = 'a.id as applicationId, a.name as application, a.client_id as clientId, o.name as organisation';

// The live credentials of application `a` and `c.created_at` (secret, key, federated, JWKS
// URL) created after the credential `c` and used since they were created (`used`), or not yet.
const NEWER = (used: boolean) => {
  const use = used ? 'n.last_used_at >= n.created_at' : 'n.last_used_at is null';
  const jwksUse = `exists (select 1 from credential_usage u where u.application_id = j.application_id and u.kind = 'jwks' and u.credential_id = 'jwks' and u.last_used_at >= j.created_at)`;
  return [
    `select 1 from client_secrets n where n.application_id = c.application_id and n.created_at > c.created_at and n.deleted_at is null and n.expires_at > $now and ${use}`,
    `select 1 from client_keys n where n.application_id = c.application_id and n.created_at > c.created_at and n.deleted_at is null and n.expires_at > $now and ${use}`,
    `select 1 from federated_credentials n where n.application_id = c.application_id and n.created_at > c.created_at and n.deleted_at is null and ${use}`,
    `select 1 from client_jwks_urls j where j.application_id = c.application_id and j.created_at > c.created_at and ${used ? '' : 'not '}${jwksUse}`,
  ];
};

const expiringSql = (table: 'client_secrets' | 'client_keys', kind: 'secret' | 'key', label: string) =>
  `select '${kind}' as kind, c.id, c.name, c.${label} as label, c.expires_on as expiresOn, c.expires_at as expiresAt, c.last_used_at as lastUsedAt, ${APPLICATION},
     ${NEWER(false).map((q) => `(${q.replace('select 1', 'select count(*)')})`).join(' + ')} as newerUnused
   from ${table} c cross join applications a on a.id = c.application_id cross join organisations o on o.id = a.organisation_id
   where c.expires_at > $now and c.expires_at <= $until and c.deleted_at is null and a.disabled_at is null
     ${NEWER(true).map((q) => `and not exists (${q})`).join(' ')}
   order by c.expires_at, c.id limit $limit`;

// The application `a`'s live credentials, and those of them used or created after $since.
const LIVE = [
  'select 1 from client_secrets s where s.application_id = a.id and s.deleted_at is null and s.expires_at > $now',
  'select 1 from client_keys s where s.application_id = a.id and s.deleted_at is null and s.expires_at > $now',
  'select 1 from federated_credentials s where s.application_id = a.id and s.deleted_at is null',
];
const JWKS_LAST_USE = `(select max(u.last_used_at) from credential_usage u where u.application_id = a.id and u.kind = 'jwks' and u.credential_id = 'jwks')`;
const LIVE_USE = LIVE.map((q) => q.replace('select 1', 'select max(s.last_used_at)'));
const LIVE_CREATED = LIVE.map((q) => q.replace('select 1', 'select max(s.created_at)'));

function prepare(sqlite: Sqlite) {
  return {
    // Summed by application first (one row each), then joined: not a join per refusal row.
    refused: sqlite.prepare(
      `select ${APPLICATION}, r.count, r.lastAt
       from (select application_id, sum(count) as count, max(last_at) as lastAt from token_refusals indexed by token_refusals_hour
             where hour > $hour and last_at >= $since group by application_id) r
         cross join applications a on a.id = r.application_id cross join organisations o on o.id = a.organisation_id
       where a.disabled_at is null order by r.count desc, r.lastAt desc limit $limit`,
    ),
    last: sqlite.prepare('select address, client from token_refusals where application_id = $id and last_at >= $since order by last_at desc limit 1'),
    reasons: sqlite.prepare(
      `select application_id as applicationId, reason, sum(count) as count from token_refusals
       where application_id in (select value from json_each($ids)) and last_at >= $since group by application_id, reason`,
    ),
    expiringSecrets: sqlite.prepare(expiringSql('client_secrets', 'secret', 'hint')),
    expiringKeys: sqlite.prepare(expiringSql('client_keys', 'key', 'thumbprint')),
    idle: sqlite.prepare(
      `with idle as materialized (select ${APPLICATION},
         ${LIVE.map((q) => `(${q.replace('select 1', 'select count(*)')})`).join(' + ')} + (select count(*) from client_jwks_urls j where j.application_id = a.id) as credentials,
         max(coalesce((${LIVE_USE[0]}), 0), coalesce((${LIVE_USE[1]}), 0), coalesce((${LIVE_USE[2]}), 0), coalesce(${JWKS_LAST_USE}, 0)) as lastUse,
         max(coalesce((${LIVE_CREATED[0]}), 0), coalesce((${LIVE_CREATED[1]}), 0), coalesce((${LIVE_CREATED[2]}), 0),
             coalesce((select j.created_at from client_jwks_urls j where j.application_id = a.id), 0)) as lastCreated
       from applications a cross join organisations o on o.id = a.organisation_id
       where a.disabled_at is null
         and (${LIVE.map((q) => `exists (${q})`).join(' or ')} or exists (select 1 from client_jwks_urls j where j.application_id = a.id))
         ${LIVE.map((q) => `and not exists (${q} and (s.last_used_at >= $since or s.created_at >= $since))`).join(' ')}
         and not exists (select 1 from client_jwks_urls j where j.application_id = a.id and (j.created_at >= $since
           or exists (select 1 from credential_usage u where u.application_id = a.id and u.kind = 'jwks' and u.credential_id = 'jwks' and u.day >= $sinceDay and u.last_used_at >= $since)))
      ) select * from idle order by max(lastUse, lastCreated), applicationId limit $limit`,
    ),
  };
}
const statements = new WeakMap<Sqlite, ReturnType<typeof prepare>>();
function statementsOf(db: Deps['db']) {
  let s = statements.get(db.$client);
  if (!s) statements.set(db.$client, (s = prepare(db.$client)));
  return s;
}

// A list and whether more rows matched than it holds.
export interface Listed<T> {
  rows: T[];
  more: boolean;
}
const listed = <T>(rows: T[], limit: number): Listed<T> => ({ rows: rows.slice(0, limit), more: rows.length > limit });

export function refusedApplications(db: Deps['db'], now: number, limit = HEALTH_ROWS): Listed<RefusedApplication> {
  const q = statementsOf(db);
  const since = now - REFUSALS_HOURS * HOUR_MS;
  // A row's hour starts at most an hour before its last refusal: hour > since − 1 h.
  const found = q.refused.all({ hour: since - HOUR_MS, since, limit: limit + 1 }) as Array<ApplicationCells & { count: number; lastAt: number }>;
  const byApplication = new Map<number, RefusedApplication>();
  const rows = found.slice(0, limit).map((r) => {
    const last = q.last.get({ id: r.applicationId, since }) as { address: string; client: string } | undefined;
    const row: RefusedApplication = { ...r, lastAddress: last?.address ?? '', lastClient: last?.client ?? '', reasons: [], moreReasons: 0 };
    byApplication.set(r.applicationId, row);
    return row;
  });
  if (rows.length) {
    const reasons = q.reasons.all({ ids: JSON.stringify(rows.map((r) => r.applicationId)), since }) as Array<{ applicationId: number; reason: string; count: number }>;
    for (const r of reasons) byApplication.get(r.applicationId)?.reasons.push({ reason: r.reason, count: r.count });
    for (const row of rows) {
      row.reasons.sort((x, y) => y.count - x.count || x.reason.localeCompare(y.reason));
      row.moreReasons = Math.max(0, row.reasons.length - TOP_REASONS);
      row.reasons = row.reasons.slice(0, TOP_REASONS);
    }
  }
  return { rows, more: found.length > limit };
}

export function expiringWithoutSuccessor(db: Deps['db'], now: number, limit = HEALTH_ROWS): Listed<ExpiringCredential> {
  const q = statementsOf(db);
  const params = { now, until: now + EXPIRING_WITHIN_DAYS * DAY_MS, limit: limit + 1 };
  const rows = [...(q.expiringSecrets.all(params) as ExpiringCredential[]), ...(q.expiringKeys.all(params) as ExpiringCredential[])];
  rows.sort((x, y) => x.expiresAt - y.expiresAt || x.id.localeCompare(y.id));
  return listed(rows, limit);
}

export function idleApplications(db: Deps['db'], now: number, timeZone: string, limit = HEALTH_ROWS): Listed<IdleApplication> {
  const since = now - IDLE_FOR_DAYS * DAY_MS;
  const found = statementsOf(db).idle.all({ now, since, sinceDay: addDays(dateInZone(since, timeZone), -1), limit: limit + 1 }) as Array<ApplicationCells & { credentials: number; lastUse: number; lastCreated: number }>;
  return listed(
    found.map(({ lastUse, lastCreated, ...r }) => ({ ...r, lastUsedAt: lastUse || null, since: Math.max(lastUse, lastCreated) })),
    limit,
  );
}
