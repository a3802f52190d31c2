// What each credential is doing, as the page, its dialogs, the mails and the CLI show it
// (issue 28): requests on each of the last 30 days, refusals in 30 days, last use (when,
// from which address, which client software), requests in the last 24 hours, and whether
// it is "safe to delete": not used for IDLE_DAYS days while a newer credential of the same
// application has been used since its last use. Read from credential_usage (one row per
// credential per day, written by the token endpoint, server/oauth/usage.ts) for all the
// applications shown at once: four queries.
import type { Deps } from '../deps.ts';
import { keptUntilWrite } from '../../db/client.ts';
import { addDays, dateInZone } from '../lib/dates.ts';

export const USAGE_DAYS = 30;
const DAY_MS = 86_400_000;

// A credential: a secret, a key, the JWKS URL ('jwks', one per application), later a federated one.
export type UsageKind = string;
export const usageKey = (kind: UsageKind, id: string) => `${kind} ${id}`;

export interface CredentialUsage {
  days: number[]; // requests on each of the last USAGE_DAYS days, oldest first (today last)
  requests: number; // in the last USAGE_DAYS days
  refusals: number;
  last24h: number;
  lastUsedAt: number | null;
  lastAddress: string;
  lastClient: string;
}

const EMPTY: CredentialUsage = Object.freeze({ days: Object.freeze(new Array<number>(USAGE_DAYS).fill(0)) as number[], requests: 0, refusals: 0, last24h: 0, lastUsedAt: null, lastAddress: '', lastClient: '' });

// One row per credential: its days as "YYYY-MM-DD n,…", the sums, and its last use as
// "<last_used_at, 15 digits>\t<address>\t<client>" (the max of that string is the latest).
type CredentialRow = [applicationId: number, kind: string, credentialId: string, days: string, requests: number, refusals: number, last: string | null];
type HourRow = [applicationId: number, kind: string, credentialId: string, requests: number];

const IDS = 'in (select value from json_each(?))';
const statements = new WeakMap<object, ReturnType<typeof prepare>>();
function prepare(sqlite: Deps['db']['$client']) {
  return {
    // One row per credential, aggregated by SQLite: 25 rows for 5 × 5 secrets, not 750.
    credentials: sqlite.prepare<[string, string], CredentialRow>(
      `select application_id, kind, credential_id, group_concat(day || ' ' || requests), sum(requests), sum(refusals),
         max(case when last_used_at is not null then printf('%015d', last_used_at) || char(9) || coalesce(last_address, '') || char(9) || coalesce(last_client, '') end)
       from credential_usage where application_id ${IDS} and day >= ? group by application_id, kind, credential_id`,
    ).raw(),
    hours: sqlite.prepare<[string, number], HourRow>(`select application_id, kind, credential_id, sum(requests) from credential_usage_hours where application_id ${IDS} and hour >= ? group by application_id, kind, credential_id`).raw(),
    firstUse: sqlite.prepare<[number, string, string, string], { day: string | null }>('select min(day) as day from credential_usage where application_id = ? and kind = ? and credential_id = ? and requests > 0 and day >= ?'),
  };
}
function statementsOf(db: Deps['db']) {
  let s = statements.get(db.$client);
  if (!s) statements.set(db.$client, (s = prepare(db.$client)));
  return s;
}

export type UsageByCredential = Map<string, CredentialUsage>; // by application id, then usageKey
export interface UsageReader {
  of(applicationId: number, kind: UsageKind, id: string): CredentialUsage;
}

// Usage of every credential of these applications, today being `now` in `timeZone`: the last
// USAGE_DAYS days (the last use seen there; older, the credential's own column says it), and
// with `last24h` the requests of the last 24 hours (the delete dialog; the page needs none).
export function readUsage(db: Deps['db'], applicationIds: number[], now: number, timeZone: string, options: { last24h?: boolean } = {}): UsageReader {
  if (applicationIds.length === 0) return { of: () => EMPTY };
  // The same applications on the same day (and hour) read again while nothing was written
  // (`PRAGMA data_version` of this connection, and this process's write count, as the
  // client cache does): the usage already read. A page shown again costs no read.
  const key = `${dateInZone(now, timeZone)} ${options.last24h ? now - (now % 3_600_000) : ''} ${applicationIds.join(',')}`;
  return kept(db.$client, key, () => readUsageNow(db, applicationIds, now, timeZone, options));
}

const kept = keptUntilWrite<UsageReader>();

function readUsageNow(db: Deps['db'], applicationIds: number[], now: number, timeZone: string, options: { last24h?: boolean }): UsageReader {
  const byCredential = new Map<string, CredentialUsage>();
  const at = (applicationId: number, kind: string, id: string) => {
    const key = `${applicationId} ${kind} ${id}`;
    let u = byCredential.get(key);
    if (!u) byCredential.set(key, (u = { ...EMPTY, days: new Array<number>(USAGE_DAYS).fill(0) }));
    return u;
  };
  if (applicationIds.length) {
    const ids = JSON.stringify(applicationIds);
    const q = statementsOf(db);
    const today = dateInZone(now, timeZone);
    const from = addDays(today, -(USAGE_DAYS - 1));
    const dayIndex = new Map<string, number>();
    for (let i = 0; i < USAGE_DAYS; i++) dayIndex.set(addDays(from, i), i);
    for (const [applicationId, kind, id, days, requests, refusals, last] of q.credentials.all(ids, from)) {
      const u = at(applicationId, kind, id);
      for (const entry of days.split(',')) {
        const space = entry.indexOf(' ');
        const index = dayIndex.get(entry.slice(0, space));
        if (index !== undefined) u.days[index]! += Number(entry.slice(space + 1));
      }
      u.requests = requests;
      u.refusals = refusals;
      if (last) {
        const [at15, address, client] = last.split('\t');
        Object.assign(u, { lastUsedAt: Number(at15), lastAddress: address ?? '', lastClient: client ?? '' });
      }
    }
    if (options.last24h) {
      const hourStart = now - (now % 3_600_000) - 23 * 3_600_000;
      for (const [applicationId, kind, id, requests] of q.hours.all(ids, hourStart)) at(applicationId, kind, id).last24h = requests;
    }
  }
  return { of: (applicationId, kind, id) => byCredential.get(`${applicationId} ${kind} ${id}`) ?? EMPTY };
}

// The application's refused token requests of the last 30 days, the latest first: one row
// per credential, reason, address and hour, with its count.
export function readRefusals(db: Deps['db'], applicationId: number, now: number, limit = 20) {
  return db.$client
    .prepare<[number, number, number], { last_at: number; first_at: number; count: number; address: string; client: string; kind: string; credential_label: string; reason: string }>(
      'select last_at, first_at, count, address, client, kind, credential_label, reason from token_refusals where application_id = ? and last_at >= ? order by last_at desc limit ?',
    )
    .all(applicationId, now - USAGE_DAYS * DAY_MS, limit);
}

// Usage and refusals older than KEPT_DAYS, and hours older than two days, deleted (the daily job).
export const KEPT_DAYS = 90;
export function pruneUsage(db: Deps['db'], now: number, timeZone: string): number {
  const sqlite = db.$client;
  const before = addDays(dateInZone(now, timeZone), -KEPT_DAYS);
  return (
    sqlite.prepare('delete from credential_usage where day < ?').run(before).changes +
    sqlite.prepare('delete from token_refusals where last_at < ?').run(now - KEPT_DAYS * DAY_MS).changes +
    sqlite.prepare('delete from credential_usage_hours where hour < ?').run(now - 2 * DAY_MS).changes
  );
}

// The first day (portal zone) the credential was used on or after `since` (within 90 days), or null.
export function firstUseSince(db: Deps['db'], applicationId: number, kind: UsageKind, id: string, since: number, timeZone: string): string | null {
  return statementsOf(db).firstUse.get(applicationId, kind, id, dateInZone(since, timeZone))?.day ?? null;
}

// A credential as the "safe to delete" rule sees it.
export interface Candidate {
  kind: UsageKind;
  id: string;
  name: string;
  createdAt: number;
  expiresAt: number;
  lastUsedAt: number | null; // the latest of the credential's own column and its usage rows
}

// Whether `c` is safe to delete among its application's credentials `all`: active, not used
// (or, never used, not created) for idleDays days, while a newer active credential has been
// used since. Returns that newer credential (the one used last), or null.
export function tookOver(c: Candidate, all: Candidate[], now: number, idleDays: number): Candidate | null {
  if (c.expiresAt <= now) return null;
  const since = c.lastUsedAt ?? c.createdAt;
  if (now - since < idleDays * DAY_MS) return null;
  let newer: Candidate | null = null;
  for (const n of all) {
    if (n === c || n.createdAt <= c.createdAt || n.expiresAt <= now || n.lastUsedAt === null || n.lastUsedAt <= since) continue;
    if (!newer || n.lastUsedAt > newer.lastUsedAt!) newer = n;
  }
  return newer;
}

// The latest of two last-use times (a credential's own column, written once a minute, and
// its usage rows, kept 90 days).
export const latest = (a: number | null | undefined, b: number | null | undefined): number | null => (a == null ? (b ?? null) : b == null ? a : Math.max(a, b));
