// Audit events written behind the request (the token endpoint's failures): queued in
// memory and written in batches on the endpoint's own connection, so a failed token
// request neither waits for the database nor fails with it. While the database is
// locked, full or failing, the batch is retried with a growing pause; past MAX_QUEUED
// events, new ones are dropped and counted in a warning. Never throws, never blocks.
import type Database from 'better-sqlite3';
import type { Clock } from '../lib/clock.ts';
import type { Logger } from '../lib/log.ts';
import type { AuditActor, AuditEventInput } from './audit.ts';
import { gauge } from '../lib/gauges.ts';

export const MAX_QUEUED = 5000;
const BATCH = 200;
const FIRST_PAUSE_MS = 100;
const LONGEST_PAUSE_MS = 5000;

type Row = [number, number | null, string, number | null, number | null, string, string | null, string, string | null];

export interface AuditQueue {
  // `summary`: a row that accounts for others (a tally), kept past MAX_QUEUED up to twice it.
  push(actor: AuditActor, event: AuditEventInput, summary?: boolean): void;
  // Whether an ordinary event would be kept now.
  hasRoom(): boolean;
  // Writes what is queued now (tests, shutdown); false when the database refused.
  flush(): boolean;
  stats(): { queued: number; written: number; dropped: number; failedWrites: number };
  close(): void;
}

export function createAuditQueue(sqlite: Database.Database, clock: Clock, logger: Logger): AuditQueue {
  const insert = sqlite.prepare(
    'insert into audit_events (at, actor_user_id, actor, organisation_id, application_id, action, target, details, ip) values (?, ?, ?, ?, ?, ?, ?, ?, ?)',
  );
  const writeBatch = sqlite.transaction((rows: Row[]) => {
    for (const r of rows) insert.run(...r);
  });
  let queue: Row[] = [];
  let written = 0;
  let dropped = 0;
  let failedWrites = 0;
  let pause = FIRST_PAUSE_MS;
  let timer: NodeJS.Timeout | null = null;

  function schedule(ms: number) {
    if (timer) return;
    timer = setTimeout(() => {
      timer = null;
      if (!flush() || queue.length) schedule(pause);
    }, ms);
    timer.unref();
  }

  function flush(): boolean {
    while (queue.length) {
      const batch = queue.slice(0, BATCH);
      try {
        if (!sqlite.open) return false;
        writeBatch(batch);
      } catch (err) {
        failedWrites++;
        pause = Math.min(pause * 2, LONGEST_PAUSE_MS);
        logger.warn('audit events not written yet; retrying', { queued: queue.length, error: String((err as Error)?.message ?? err) });
        return false;
      }
      queue = queue.slice(batch.length);
      written += batch.length;
      pause = FIRST_PAUSE_MS;
    }
    return true;
  }

  const api: AuditQueue = {
    hasRoom: () => queue.length < MAX_QUEUED,
    push(actor, event, summary = false) {
      if (queue.length >= (summary ? 2 * MAX_QUEUED : MAX_QUEUED)) {
        dropped++;
        // One warning at the first drop and at every power of two after it.
        if ((dropped & (dropped - 1)) === 0) logger.warn('audit events dropped: more are waiting to be written than the queue holds (the database refusing writes, or a flood)', { dropped });
        return;
      }
      queue.push([
        clock.now(),
        actor.userId ?? null,
        actor.label,
        event.organisationId ?? null,
        event.applicationId ?? null,
        event.action,
        event.target ?? null,
        JSON.stringify(event.details ?? {}),
        actor.ip ?? null,
      ]);
      schedule(pause);
    },
    flush,
    stats: () => ({ queued: queue.length, written, dropped, failedWrites }),
    close() {
      if (timer) clearTimeout(timer);
      timer = null;
      flush();
    },
  };
  gauge('audit queue', api, (q) => q.stats().queued);
  return api;
}
