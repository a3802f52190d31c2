// What the Manage API credentials page shows about an application: its client ID, the
// APIs and resource identifiers granted, its secrets with their status and last use,
// and recent activity (on demand). Built once per request.
import type { Deps } from '../deps.ts';
import type { ClientSecret } from './secrets.ts';
import type { Application } from './applications.ts';
import { describeEvent, recentEvents } from './events.ts';
import { addDays, dateInZone, daysBetween, formatDate, formatDateTime, relativeTime } from '../dates.ts';

// "Never used" until the token endpoint records a use; then how long ago.
export function lastUsedLabel(lastUsedAt: number | null, now: number): string {
  return lastUsedAt === null ? 'Never used' : `Last used ${relativeTime(lastUsedAt, now)}`;
}

export type SecretStatus = { kind: 'active' | 'expiring' | 'expired'; label: string; daysLeft: number };

export function secretStatus(secret: Pick<ClientSecret, 'expiresOn' | 'expiresAt'>, now: number, timeZone: string): SecretStatus {
  return statusOn(secret, now, dateInZone(now, timeZone));
}

// The same, with today's date in the portal's zone worked out once for the whole page.
function statusOn(secret: Pick<ClientSecret, 'expiresOn' | 'expiresAt'>, now: number, today: string): SecretStatus {
  const daysLeft = daysBetween(today, secret.expiresOn);
  if (secret.expiresAt <= now) return { kind: 'expired', label: 'Expired', daysLeft };
  if (daysLeft <= 30) {
    return { kind: 'expiring', label: daysLeft === 0 ? 'Expires today' : `Expires in ${daysLeft} day${daysLeft === 1 ? '' : 's'}`, daysLeft };
  }
  return { kind: 'active', label: 'Active', daysLeft };
}

export const PAGE = '/manage-api-credentials';

// The page's reads: one statement per kind of row for all the applications shown (their
// ids as a JSON array), prepared once per connection. 50 applications cost four queries,
// not three hundred.
// Secrets, grants and keys come back as arrays (better-sqlite3's raw mode), read by position:
// building an object with named properties per row cost as much as the query itself (25
// secrets: 118 µs as objects, 67 µs as arrays).
type GrantRow = [application_id: number, code: string, name: string, sandbox_resource: string, production_resource: string];
type SecretRow = [application_id: number, id: string, name: string, hint: string, created_at: number, expires_on: string, expires_at: number, last_used_at: number | null, created_by_email: string | null, created_by_name: string | null];
type KeyRow = [application_id: number, id: string, name: string, kind: string, thumbprint: string, key_type: string, expires_on: string, expires_at: number, last_used_at: number | null];
interface UrlRow { application_id: number; url: string }
interface CountRow { application_id: number; active: number; expiring: number; expired: number; next_expiry: string | null }
const IDS = 'in (select value from json_each(?))';
const statements = new WeakMap<object, ReturnType<typeof prepareReads>>();
function prepareReads(sqlite: Deps['db']['$client']) {
  return {
    grants: sqlite.prepare<[string], GrantRow>(`select g.application_id, a.code, a.name, a.sandbox_resource, a.production_resource from application_apis g join apis a on a.code = g.api_code where g.application_id ${IDS} order by a.code`).raw(),
    secrets: sqlite.prepare<[string], SecretRow>(`select s.application_id, s.id, s.name, s.hint, s.created_at, s.expires_on, s.expires_at, s.last_used_at, u.email as created_by_email, u.display_name as created_by_name from client_secrets s left join users u on u.id = s.created_by where s.application_id ${IDS} and s.deleted_at is null order by s.created_at desc`).raw(),
    keys: sqlite.prepare<[string], KeyRow>(`select application_id, id, name, kind, thumbprint, key_type, expires_on, expires_at, last_used_at from client_keys where application_id ${IDS} and deleted_at is null order by created_at`).raw(),
    urls: sqlite.prepare<[string], UrlRow>(`select application_id, url from client_jwks_urls where application_id ${IDS}`),
    counts: sqlite.prepare<[number, number, string, number, number, string], CountRow>(
      `select application_id, sum(expires_at > ?) as active, sum(expires_at > ? and expires_on <= ?) as expiring, sum(expires_at <= ?) as expired, min(case when expires_at > ? then expires_on end) as next_expiry
       from client_secrets where application_id ${IDS} and deleted_at is null group by application_id`,
    ),
  };
}
function reads(db: Deps['db']) {
  let s = statements.get(db.$client);
  if (!s) statements.set(db.$client, (s = prepareReads(db.$client)));
  return s;
}
// Rows by their application (the first column).
function byApplication<T extends [number, ...unknown[]]>(rows: T[]): Map<number, T[]> {
  const out = new Map<number, T[]>();
  for (const r of rows) {
    const list = out.get(r[0]);
    if (list) list.push(r);
    else out.set(r[0], [r]);
  }
  return out;
}

export type ApplicationView = ReturnType<typeof applicationViews>[number];

// The applications as the page shows them. Recent activity is not part of it: the page
// loads it when a manager opens it (applicationEvents).
export function applicationViews(deps: Pick<Deps, 'db' | 'clock' | 'config'>, apps: Application[]) {
  const { db, clock, config } = deps;
  const now = clock.now();
  const today = dateInZone(now, config.timezone);
  const ids = JSON.stringify(apps.map((a) => a.id));
  const q = reads(db);
  const grants = byApplication(apps.length ? q.grants.all(ids) : []);
  const secrets = byApplication(apps.length ? q.secrets.all(ids) : []);
  const keys = byApplication(apps.length ? q.keys.all(ids) : []);
  const urls = new Map((apps.length ? q.urls.all(ids) : []).map((r) => [r.application_id, r.url]));
  return apps.map((app) => {
    const granted = grants.get(app.id) ?? [];
    const live = secrets.get(app.id) ?? [];
    return {
      name: app.name,
      clientId: app.clientId,
      sandboxOnly: app.sandboxOnly,
      apis: granted.map(([, code, name, sandboxResource, productionResource]) => ({
        code,
        name,
        resources: app.sandboxOnly
          ? [{ env: 'Sandbox', id: sandboxResource }]
          : [
              { env: 'Production', id: productionResource },
              { env: 'Sandbox', id: sandboxResource },
            ],
      })),
      secrets: live.map(([, id, name, hint, createdAt, expiresOn, expiresAt, lastUsedAt, createdByEmail, createdByName]) => ({
        id,
        name,
        hint,
        created: formatDate(dateInZone(createdAt, config.timezone)),
        createdBy: createdByName || createdByEmail || 'the association',
        expires: formatDate(expiresOn),
        expiresOn,
        status: statusOn({ expiresOn, expiresAt }, now, today),
        lastUsed: lastUsedLabel(lastUsedAt, now),
        lastUsedTitle: lastUsedAt === null ? '' : formatDateTime(lastUsedAt, config.timezone),
      })),
      ...capOf(live.filter((s) => s[6] > now).length, config.maxSecretsPerApplication),
      keys: (keys.get(app.id) ?? []).map(([, id, name, kind, thumbprint, keyType, expiresOn, expiresAt, lastUsedAt]) => ({
        id,
        name,
        kind: kind === 'certificate' ? 'Certificate' : kind === 'jwk' ? 'JWK' : 'Public key',
        thumbprint,
        keyType,
        expires: formatDate(expiresOn),
        expiresOn,
        status: statusOn({ expiresOn, expiresAt }, now, today),
        lastUsed: lastUsedLabel(lastUsedAt, now),
      })),
      jwksUrl: urls.get(app.id) ?? null,
      base: `${PAGE}/applications/${app.clientId}`,
      usage: usageOf(config, app.clientId, granted.map((g) => (app.sandboxOnly ? g[3] : g[4]))),
    };
  });
}

// A manager of more than this many applications sees them as a list to open one by one:
// fifty applications in full are 650 KB of HTML, their summaries 20 KB.
export const COMPACT_AFTER = 10;

// Each application in a line: name, client ID, how many secrets are active, expiring
// within 30 days or expired, and the next expiry date.
export function applicationSummaries(deps: Pick<Deps, 'db' | 'clock' | 'config'>, apps: Application[]) {
  const { db, clock, config } = deps;
  const now = clock.now();
  const soon = addDays(dateInZone(now, config.timezone), 30);
  const counts = new Map(apps.length ? reads(db).counts.all(now, now, soon, now, now, JSON.stringify(apps.map((a) => a.id))).map((r) => [r.application_id, r]) : []);
  return apps.map((app) => {
    const c = counts.get(app.id);
    const active = c?.active ?? 0;
    return {
      name: app.name,
      clientId: app.clientId,
      sandboxOnly: app.sandboxOnly,
      base: `${PAGE}/applications/${app.clientId}`,
      capLabel: capOf(active, config.maxSecretsPerApplication).capLabel,
      expiring: c?.expiring ?? 0,
      expired: c?.expired ?? 0,
      nextExpiry: c?.next_expiry ? formatDate(c.next_expiry) : '',
    };
  });
}

// One application's view (after a change to it), with its recent activity.
export function applicationView(deps: Pick<Deps, 'db' | 'clock' | 'config'>, app: Application) {
  return { ...applicationViews(deps, [app])[0]!, events: applicationEvents(deps, app) };
}

// The last 20 events of the application, as sentences.
export function applicationEvents(deps: Pick<Deps, 'db' | 'config'>, app: Application) {
  return recentEvents(deps.db, app.id, 20).map((e) => ({
    at: formatDateTime(e.at, deps.config.timezone),
    iso: new Date(e.at).toISOString(),
    actor: e.actor,
    text: describeEvent(e),
    ip: e.ip ?? '',
  }));
}

// "3 of 5 active secrets", and whether the cap is reached.
export function capOf(active: number, cap: number) {
  return { activeCount: active, cap, atCap: active >= cap, capLabel: `${active} of ${cap} active secret${cap === 1 ? '' : 's'}` };
}

// The resource value the examples use: the application's first granted API in its
// default environment (as the page's usage section shows it).
export function firstResource(db: Deps['db'], app: Application): string {
  const [g] = reads(db).grants.all(JSON.stringify([app.id]));
  return g ? (app.sandboxOnly ? g[3] : g[4]) : '';
}

// How to get a token: the endpoint, the resource values, the lifetime and a ready curl
// command (client ID filled in; the secret too where the page may show it).
export function usageOf(config: Pick<Deps['config'], 'baseUrl' | 'tokenLifetimeSeconds'>, clientId: string, resources: string[]) {
  const tokenEndpoint = `${config.baseUrl}/oauth/token`;
  const resource = resources[0] ?? '';
  return {
    issuer: config.baseUrl,
    tokenEndpoint,
    resource,
    lifetimeMinutes: Math.round(config.tokenLifetimeSeconds / 60),
    curl: (secret = 'YOUR_CLIENT_SECRET') =>
      `curl -s -u '${clientId}:${secret}' -d grant_type=client_credentials${resource ? ` -d 'resource=${resource}'` : ''} '${tokenEndpoint}'`,
  };
}

