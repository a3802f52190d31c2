// Reading the audit log: filters, paging and CSV export.
import { and, desc, eq, gte, lt, lte, or, sql, type SQL } from 'drizzle-orm';
import type { Db } from '../../db/client.ts';
import { applications, auditEvents, organisations } from '../../db/schema.ts';
import { addDays, formatDate, isValidDateString, startOfDateInZone } from '../lib/dates.ts';
import { actionFromInput } from './actions.ts';
import { parseId } from '../lib/validation.ts';

export interface AuditFilter {
  organisationId: number | null;
  applicationId: number | null;
  user: string; // an email (or part of one), or a client id
  action: string; // exact, or a prefix ending in '.' such as 'secret.'
  from: string; // YYYY-MM-DD, inclusive
  to: string; // YYYY-MM-DD, inclusive
  before: AuditCursor | null; // the page starts after this event (newest first)
}

// Keyset pagination: a page is the events older than the last one shown, so the
// thousandth page costs what the first does. The total is counted up to COUNT_CAP.
export interface AuditCursor {
  at: number;
  id: number;
}
export const PAGE_SIZE = 50;
export const COUNT_CAP = 10_000;

// The filter as the page and the CSV use it, the messages for the fields that were not
// understood (shown next to them; those fields are left out of the filter), and the
// values as typed, so a refused one stays in its field.
export function parseAuditFilter(query: Record<string, unknown>): { filter: AuditFilter; errors: Record<string, string>; values: { action: string; from: string; to: string } } {
  const str = (k: string) => (typeof query[k] === 'string' ? (query[k] as string).trim() : '');
  const errors: Record<string, string> = {};
  const from = str('from').slice(0, 30);
  const to = str('to').slice(0, 30);
  if (from && !isValidDateString(from)) errors.from = 'Use a date like 2027-01-31.';
  if (to && !isValidDateString(to)) errors.to = 'Use a date like 2027-01-31.';
  if (!errors.from && !errors.to && from && to && from > to) errors.from = `From (${formatDate(from)}) is after To (${formatDate(to)}): no event can match. Choose a From date on or before the To date.`;
  const typed = str('action').slice(0, 80);
  const action = typed ? actionFromInput(typed) : '';
  if (action === null) errors.action = `No action is called “${typed}”. Choose one from the list.`;
  const cursor = /^(\d{1,15})_(\d{1,15})$/.exec(str('before'));
  return {
    filter: {
      organisationId: parseId(str('organisation')),
      applicationId: parseId(str('application')),
      user: str('user').slice(0, 254),
      action: action ?? '',
      from: errors.from ? '' : from,
      to: errors.to ? '' : to,
      before: cursor ? { at: Number(cursor[1]), id: Number(cursor[2]) } : null,
    },
    errors,
    values: { action: action ?? typed, from, to },
  };
}

// The actions the log holds, each found with one index search (a skip through the
// audit_action index), not a scan of every event.
export function actionsInLog(db: Db): string[] {
  return db
    .all<{ action: string }>(
      sql`with recursive seen(action) as (select min(action) from ${auditEvents} union all select (select min(action) from ${auditEvents} where action > seen.action) from seen where seen.action is not null) select action from seen where action is not null`,
    )
    .map((r) => r.action);
}

function conditions(f: AuditFilter, timeZone: string): SQL | undefined {
  const c: SQL[] = [];
  if (f.organisationId !== null) c.push(eq(auditEvents.organisationId, f.organisationId));
  if (f.applicationId !== null) c.push(eq(auditEvents.applicationId, f.applicationId));
  if (f.user) {
    const like = `%${f.user.replace(/[\\%_]/g, (m) => `\\${m}`)}%`;
    c.push(or(sql`${auditEvents.actor} like ${like} escape '\\'`, sql`${auditEvents.target} like ${like} escape '\\'`)!);
  }
  // A prefix such as 'secret.' as a range ('secret.' ≤ action < 'secret/'), which the
  // audit_action index serves; LIKE would scan.
  if (f.action) c.push(f.action.endsWith('.') ? and(gte(auditEvents.action, f.action), lt(auditEvents.action, `${f.action.slice(0, -1)}/`))! : eq(auditEvents.action, f.action));
  if (f.from) c.push(gte(auditEvents.at, startOfDateInZone(f.from, timeZone)));
  if (f.to) c.push(lt(auditEvents.at, startOfDateInZone(addDays(f.to, 1), timeZone)));
  return c.length ? and(...c) : undefined;
}

// One page, newest first; `total` counts at most COUNT_CAP + 1 (shown as "more than");
// `next` is the cursor of the following page, when there is one.
export function queryAudit(db: Db, f: AuditFilter, timeZone: string, limit = PAGE_SIZE) {
  const where = conditions(f, timeZone);
  const total = db.get<{ n: number }>(sql`select count(*) as n from (select 1 from ${auditEvents} ${where ? sql`where ${where}` : sql``} limit ${COUNT_CAP + 1})`).n;
  // at ≤ A first, so SQLite searches the index from A (an OR alone would walk it from the top).
  const page = f.before ? and(where, lte(auditEvents.at, f.before.at), or(lt(auditEvents.at, f.before.at), lt(auditEvents.id, f.before.id))) : where;
  const rows = db
    .select({ event: auditEvents, organisation: organisations.name, application: applications.name })
    .from(auditEvents)
    .leftJoin(organisations, eq(organisations.id, auditEvents.organisationId))
    .leftJoin(applications, eq(applications.id, auditEvents.applicationId))
    .where(page)
    .orderBy(desc(auditEvents.at), desc(auditEvents.id))
    .limit(limit + 1)
    .all();
  const more = rows.length > limit;
  if (more) rows.pop();
  const last = rows[rows.length - 1]?.event;
  return { total, rows, next: more && last ? `${last.at}_${last.id}` : null };
}

// One CSV cell: quoted, quotes doubled, and neutralised with a leading apostrophe when
// a spreadsheet could read it as a formula: it starts with = + - @ (or their fullwidth
// forms ＝ ＋ － ＠), or with whitespace or a control character that a spreadsheet may
// skip before one (tab, CR, LF, space, NBSP and the other Unicode spaces).
const FORMULA_START = /^[=+\-@\uFF1D\uFF0B\uFF0D\uFF20\s\u0000-\u001f\u007f-\u009f\u200b-\u200d\u2060\ufeff]/;
export function csvCell(value: unknown): string {
  let s = value === null || value === undefined ? '' : String(value);
  if (FORMULA_START.test(s)) s = `'${s}`;
  return `"${s.replace(/"/g, '""')}"`;
}

export function auditCsv(db: Db, f: AuditFilter, timeZone: string): string {
  const { rows } = queryAudit(db, { ...f, before: null }, timeZone, 100_000);
  const lines = [['time (UTC)', 'actor', 'organisation', 'application', 'action', 'target', 'details', 'ip'].map(csvCell).join(',')];
  for (const r of rows) {
    lines.push([new Date(r.event.at).toISOString(), r.event.actor, r.organisation, r.application, r.event.action, r.event.target, r.event.details, r.event.ip].map(csvCell).join(','));
  }
  return lines.join('\r\n') + '\r\n';
}

// The organisations and applications the audit filter offers.
export function auditFilterOptions(db: Db) {
  return {
    organisations: db.select({ id: organisations.id, name: organisations.name }).from(organisations).orderBy(organisations.name).all(),
    applications: db.select({ id: applications.id, name: applications.name }).from(applications).orderBy(applications.name).all(),
  };
}
