// What each credential is doing (issue 28), counted off the hot path: a successful token
// request is an increment on the credential's counter in memory (no string built, no row
// written); a refusal whose application is known is counted by credential, reason, address
// and hour. Both are written behind (db/write-behind.ts) ten seconds later on the endpoints'
// connection: usage as one row per credential per day (credential_usage, added to; and by hour
// in credential_usage_hours for the last 24 hours), refusals
// as one row per credential, reason, address and hour with a count (token_refusals). Bounded
// in memory: one counter per credential that was used; at most MAX_REFUSAL_KEYS_PER_HOUR
// distinct refusals an hour, the rest counted under the address "(others)" of their
// application and reason; a database refusing writes keeps the counts for the next try.
import type Database from 'better-sqlite3';
import type { Clock } from '../lib/clock.ts';
import type { Logger } from '../lib/log.ts';
import { dateInZone, endOfDateInZone, startOfDateInZone } from '../lib/dates.ts';
import { createWriteBehind } from '../../db/write-behind.ts';
import { gauge } from '../lib/gauges.ts';
import type { CredentialKind } from './client-registry.ts';
import { UNKNOWN_KEY_ID } from './refusal-words.ts';

// A write of 1,000 credentials' counters (a row a day and a row an hour each) holds the main
// thread 13–34 ms on a loaded machine: once every ten seconds, not every second.
export const USAGE_FLUSH_MS = 10_000;
const MAX_COUNTERS = 100_000;
export const MAX_REFUSAL_KEYS_PER_HOUR = 1000;
export const OTHER_ADDRESSES = '(others)';
const HOUR_MS = 3_600_000;
export const MAX_CLIENT_LENGTH = 64;

// The User-Agent as people read it: its first product token (`python-requests/2.31`,
// `curl/8.5.0`); for a browser's `Mozilla/5.0 (…) … Chrome/120.0`, the last one. Only
// the first 512 characters are looked at; at most MAX_CLIENT_LENGTH are kept.
export function shortClient(userAgent: string | undefined): string {
  if (!userAgent) return '';
  const head = userAgent.slice(0, 512);
  const products = head.match(/[A-Za-z][\w.+-]*\/[\w.+-]+/g);
  const pick = !products ? head : products[0]!.startsWith('Mozilla/') && products.length > 1 ? products[products.length - 1]! : products[0]!;
  return pick.replace(/[^\x20-\x7e]+/g, ' ').trim().slice(0, MAX_CLIENT_LENGTH);
}

interface Counter {
  kind: CredentialKind;
  id: string;
  applicationId: number;
  requests: number;
  refusals: number;
  lastAt: number;
  address: string;
  userAgent: string | undefined; // the raw header: shortened when written
}

// A refusal the managers of `applicationId` see: the credential where it can be told
// (kind, id and label: a secret's hint, a key's thumbprint), and the reason in plain words.
export interface Refusal {
  applicationId: number;
  kind?: CredentialKind;
  id?: string;
  label?: string;
  reason: string;
}

interface RefusalCount extends Refusal {
  hour: number;
  address: string;
  userAgent: string | undefined;
  count: number;
  firstAt: number;
  lastAt: number;
}

export function createUsage(sqlite: Database.Database, clock: Clock, timezone: string, logger: Pick<Logger, 'warn'>) {
  const addUsage = sqlite.prepare(
    `insert into credential_usage (application_id, kind, credential_id, day, requests, refusals, last_used_at, last_address, last_client) values (?, ?, ?, ?, ?, ?, ?, ?, ?)
     on conflict (application_id, kind, credential_id, day) do update set requests = requests + excluded.requests, refusals = refusals + excluded.refusals,
       last_address = case when excluded.last_used_at >= coalesce(last_used_at, 0) then excluded.last_address else last_address end,
       last_client = case when excluded.last_used_at >= coalesce(last_used_at, 0) then excluded.last_client else last_client end,
       last_used_at = max(coalesce(last_used_at, 0), coalesce(excluded.last_used_at, 0))`,
  );
  const addHour = sqlite.prepare(
    `insert into credential_usage_hours (application_id, kind, credential_id, hour, requests) values (?, ?, ?, ?, ?)
     on conflict (application_id, kind, credential_id, hour) do update set requests = requests + excluded.requests`,
  );
  const addRefusal = sqlite.prepare(
    `insert into token_refusals (application_id, hour, kind, credential_id, credential_label, reason, address, client, count, first_at, last_at) values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
     on conflict (application_id, hour, credential_id, reason, address) do update set count = count + excluded.count, last_at = max(last_at, excluded.last_at), client = excluded.client`,
  );
  let day = '';
  let dayStart = 0;
  let dayEnd = 0;
  let usageHour = 0; // the hour the counts belong to
  // One counter per credential ("kind id"; a JWKS URL's by its application).
  const counters = new Map<string | number, Counter>();
  const refusals = new Map<string, RefusalCount>();
  gauge('usage counters', counters, (m) => m.size);
  gauge('usage refusal counts', refusals, (m) => m.size);
  let hour = 0;
  let keysThisHour = new Set<string>();

  const writeAll = sqlite.transaction((rows: Array<[Counter | RefusalCount, Counter | RefusalCount]>) => {
    for (const [row] of rows) {
      if ('reason' in row) {
        const r = row;
        addRefusal.run(r.applicationId, r.hour, r.kind ?? '', r.id ?? '', r.label ?? '', r.reason, r.address, shortClient(r.userAgent), r.count, r.firstAt, r.lastAt);
      } else if (row.requests || row.refusals) {
        const c = row;
        addUsage.run(c.applicationId, c.kind, c.id, day, c.requests, c.refusals, c.requests ? c.lastAt : null, c.requests ? c.address : null, c.requests ? shortClient(c.userAgent) : null);
        if (c.requests) addHour.run(c.applicationId, c.kind, c.id, usageHour, c.requests);
      }
    }
    // Written: counted from zero again (the transaction commits after this returns; a
    // failure throws before it, and the counts stay).
    for (const [row] of rows) {
      if ('reason' in row) refusals.delete(refusalKey(row.applicationId, row.hour, row.id, row.reason, row.address));
      else row.requests = row.refusals = 0;
    }
    if (counters.size > MAX_COUNTERS) counters.clear();
  });
  const pending = createWriteBehind<Counter | RefusalCount, Counter | RefusalCount>(sqlite, writeAll, {
    delayMs: USAGE_FLUSH_MS,
    name: 'usage counters',
    onError: (err, rows) => logger.warn('credential usage not recorded yet; retrying', { rows, error: String((err as Error)?.message ?? err) }),
  });

  // The day and hour the counts belong to; when either ends, what was counted is written first.
  function today(now: number) {
    if (now >= dayStart && now < dayEnd && now >= usageHour && now < usageHour + HOUR_MS) return;
    if (day) pending.flush();
    day = dateInZone(now, timezone);
    dayStart = startOfDateInZone(day, timezone);
    dayEnd = endOfDateInZone(day, timezone);
    usageHour = now - (now % HOUR_MS);
  }

  function counterOf(kind: CredentialKind, id: string, applicationId: number): Counter {
    const key = kind === 'secret' || kind === 'key' ? id : `${kind} ${applicationId} ${id}`;
    let c = counters.get(key);
    if (!c) counters.set(key, (c = { kind, id, applicationId, requests: 0, refusals: 0, lastAt: 0, address: '', userAgent: undefined }));
    return c;
  }

  return {
    // A token request this credential authenticated.
    used(kind: CredentialKind, id: string, applicationId: number, address: string, userAgent: string | undefined) {
      const now = clock.now();
      today(now);
      const c = counterOf(kind, id, applicationId);
      c.requests++;
      c.lastAt = now;
      c.address = address;
      c.userAgent = userAgent;
      pending.put(c, c);
    },
    // A refused token request of a known application.
    refused(refusal: Refusal, address: string, userAgent: string | undefined) {
      const now = clock.now();
      today(now);
      if (refusal.kind && refusal.id) {
        const c = counterOf(refusal.kind, refusal.id, refusal.applicationId);
        c.refusals++;
        pending.put(c, c);
      }
      const thisHour = now - (now % HOUR_MS);
      if (thisHour !== hour) {
        hour = thisHour;
        keysThisHour = new Set();
      }
      let key = refusalKey(refusal.applicationId, hour, refusal.id, refusal.reason, address);
      if (!keysThisHour.has(key)) {
        if (keysThisHour.size >= MAX_REFUSAL_KEYS_PER_HOUR) {
          // Past the cap, one row per application and reason a hour (a key id named by the
          // caller no longer makes a reason of its own).
          address = OTHER_ADDRESSES;
          refusal = { applicationId: refusal.applicationId, reason: refusal.reason.startsWith(UNKNOWN_KEY_ID) ? `${UNKNOWN_KEY_ID} (various)` : refusal.reason };
          key = refusalKey(refusal.applicationId, hour, refusal.id, refusal.reason, address);
        } else keysThisHour.add(key);
      }
      let r = refusals.get(key);
      if (!r) refusals.set(key, (r = { applicationId: refusal.applicationId, kind: refusal.kind, id: refusal.id, label: refusal.label, reason: refusal.reason, hour, address, userAgent, count: 0, firstAt: now, lastAt: now }));
      r.count++;
      r.lastAt = now;
      r.userAgent = userAgent;
      pending.put(r, r);
    },
    flush: pending.flush,
  };
}

function refusalKey(applicationId: number, hour: number, id: string | undefined, reason: string, address: string): string {
  return `${applicationId}\n${hour}\n${id ?? ''}\n${reason}\n${address}`;
}
