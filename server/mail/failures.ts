// Mail that could not be delivered, kept in the database so that a restart loses none of
// it and the console can list it (recipient, subject, error, attempts).
//
// Two kinds of row:
// - a background mail (a notice, an invitation, a password-reset link) that failed: its
//   message is kept, sealed under the master key (it may carry a setup or reset link), and
//   retried with backoff (RETRY_DELAYS_MS) until the SMTP server accepts it or
//   MAX_ATTEMPTS is reached; then it stays listed as given up;
// - an expiry reminder that failed: the reminder job retries it itself (its claim is
//   released, schedule.ts runs again with backoff); the row only says so, and goes once a
//   reminder for that credential is accepted.
import type { Db } from '../../db/client.ts';
import { immediate } from '../../db/client.ts';
import type { Clock } from '../lib/clock.ts';
import { decrypt, encrypt, type MasterKey } from '../lib/crypto.ts';
import type { Logger } from '../lib/log.ts';
import type { MailMessage } from './mailer.ts';

// The wait after the 1st, 2nd, ... failed attempt; after the last one the mail is given up.
export const RETRY_DELAYS_MS = [60_000, 5 * 60_000, 30 * 60_000, 2 * 3_600_000, 6 * 3_600_000];
export const MAX_ATTEMPTS = RETRY_DELAYS_MS.length + 1;
// A row being retried is leased for this long: a process that dies mid-send leaves it to a later pass.
const LEASE_MS = 10 * 60_000;
// Rows nobody acted on are forgotten after this long.
const KEEP_MS = 30 * 24 * 3_600_000;

export interface FailedMail {
  id: number;
  recipients: string;
  subject: string;
  what: string;
  attempts: number;
  lastError: string;
  firstFailedAt: number;
  lastAttemptAt: number;
  nextAttemptAt: number | null;
  givenUpAt: number | null;
  reminder: string | null;
}

export interface FailedMailStore {
  // A background mail failed for the first time: kept for retries.
  recordFailure(message: MailMessage, what: string, error: string): void;
  // A mail of the daily job failed (an expiry reminder, `key` kind:id:threshold; or a
  // safe-to-delete mail); the job retries it.
  recordReminderFailure(key: string, message: Pick<MailMessage, 'to' | 'subject'>, error: string, what?: string): void;
  // A reminder for this credential was accepted: its failure rows go.
  reminderSent(credentialKey: string): void;
  list(limit?: number): FailedMail[];
  // Rows still waiting for a retry and rows given up (the console's banner).
  count(): number;
}

export const recipientList = (m: Pick<MailMessage, 'to'>) => m.to.map((r) => r.address).join(', ');
// A server's error in words, with whatever it echoed of our AUTH line (user and password,
// base64) taken out: it is kept, listed on the Mail page and printed by the CLI.
export const errorText = (err: unknown) =>
  String((err as Error)?.message ?? err)
    .replace(/\bAUTH\b(\s+(PLAIN|LOGIN|XOAUTH2|CRAM-MD5))?(\s+[A-Za-z0-9+/=._-]{6,})+/gi, 'AUTH [redacted]')
    .slice(0, 500);

export function createFailedMailStore(db: Db, masterKey: MasterKey, clock: Clock): FailedMailStore {
  const sqlite = db.$client;
  const insert = sqlite.prepare<[string, string, string, string, string, number, number, number, number]>(
    `insert into mail_failures (recipients, subject, what, message, last_error, attempts, first_failed_at, last_attempt_at, next_attempt_at) values (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
  );
  const upsertReminder = sqlite.prepare<[string, string, string, string, string, number, number]>(
    `insert into mail_failures (reminder, recipients, subject, what, last_error, attempts, first_failed_at, last_attempt_at) values (?, ?, ?, ?, ?, 1, ?, ?)
     on conflict (reminder) do update set recipients = excluded.recipients, subject = excluded.subject, last_error = excluded.last_error, attempts = attempts + 1, last_attempt_at = excluded.last_attempt_at`,
  );
  const deleteReminder = sqlite.prepare<[string]>(`delete from mail_failures where reminder like ? escape '\\'`);
  const select = sqlite.prepare<[number], Record<string, unknown>>(
    `select id, recipients, subject, what, attempts, last_error, first_failed_at, last_attempt_at, next_attempt_at, given_up_at, reminder from mail_failures order by last_attempt_at desc, id desc limit ?`,
  );
  const total = sqlite.prepare<[], { n: number }>('select count(*) as n from mail_failures');
  return {
    recordFailure(message, what, error) {
      const now = clock.now();
      insert.run(recipientList(message), message.subject, what, encrypt(masterKey, JSON.stringify(message)), error, 1, now, now, now + RETRY_DELAYS_MS[0]!);
    },
    recordReminderFailure(key, message, error, what = 'expiry reminder') {
      const now = clock.now();
      upsertReminder.run(key, recipientList(message), message.subject, what, error, now, now);
    },
    reminderSent(credentialKey) {
      deleteReminder.run(`${credentialKey.replace(/[\\%_]/g, (c) => `\\${c}`)}:%`);
    },
    list(limit = 200) {
      return select.all(limit).map((r) => ({
        id: r.id as number,
        recipients: r.recipients as string,
        subject: r.subject as string,
        what: r.what as string,
        attempts: r.attempts as number,
        lastError: r.last_error as string,
        firstFailedAt: r.first_failed_at as number,
        lastAttemptAt: r.last_attempt_at as number,
        nextAttemptAt: r.next_attempt_at as number | null,
        givenUpAt: r.given_up_at as number | null,
        reminder: r.reminder as string | null,
      }));
    },
    count: () => total.get()!.n,
  };
}

export interface RetrySummary {
  sent: number;
  failed: number;
  gaveUp: number;
}

// One pass: every kept background mail whose time has come is sent again. Accepted: the
// row goes. Refused again: the next attempt later, or given up after MAX_ATTEMPTS.
export async function retryFailedMail(deps: { db: Db; masterKey: MasterKey; clock: Clock; logger: Pick<Logger, 'info' | 'warn' | 'error'>; mailer: { send(m: MailMessage): Promise<unknown> } }): Promise<RetrySummary> {
  const { db, masterKey, clock, logger, mailer } = deps;
  const sqlite = db.$client;
  const now = clock.now();
  sqlite.prepare('delete from mail_failures where last_attempt_at < ?').run(now - KEEP_MS);
  // Leased in one transaction, so two passes never send the same row.
  const due = immediate(db, () => {
    const rows = sqlite
      .prepare<[number], { id: number; message: string; attempts: number; what: string }>(
        'select id, message, attempts, what from mail_failures where message is not null and given_up_at is null and next_attempt_at <= ? order by next_attempt_at limit 50',
      )
      .all(now);
    const lease = sqlite.prepare<[number, number]>('update mail_failures set next_attempt_at = ? where id = ?');
    for (const r of rows) lease.run(now + LEASE_MS, r.id);
    return rows;
  });
  const summary: RetrySummary = { sent: 0, failed: 0, gaveUp: 0 };
  for (const row of due) {
    let message: MailMessage;
    try {
      message = JSON.parse(decrypt(masterKey, row.message)) as MailMessage;
      await mailer.send(message);
    } catch (err) {
      const attempts = row.attempts + 1;
      const at = clock.now();
      const gaveUp = attempts >= MAX_ATTEMPTS;
      sqlite
        .prepare<[number, string, number, number | null, number | null, number]>('update mail_failures set attempts = ?, last_error = ?, last_attempt_at = ?, next_attempt_at = ?, given_up_at = ? where id = ?')
        .run(attempts, errorText(err), at, gaveUp ? null : at + RETRY_DELAYS_MS[attempts - 1]!, gaveUp ? at : null, row.id);
      if (gaveUp) summary.gaveUp++;
      else summary.failed++;
      logger[gaveUp ? 'error' : 'warn'](gaveUp ? `${row.what} given up after ${attempts} attempts` : `${row.what} failed again; retried later`, { id: row.id, attempts, error: errorText(err) });
      continue;
    }
    sqlite.prepare('delete from mail_failures where id = ?').run(row.id);
    summary.sent++;
    logger.info(`${row.what} sent on a retry`, { id: row.id, attempts: row.attempts + 1 });
  }
  return summary;
}

// In the server: a retry pass every minute (and one shortly after start, for what an
// earlier process or a CLI command left). Each pass catches its own errors.
export function startMailRetries(deps: Parameters<typeof retryFailedMail>[0], everyMs = 60_000) {
  let running: Promise<unknown> | null = null;
  const pass = () => {
    running ??= retryFailedMail(deps)
      .catch((err: unknown) => deps.logger.error('mail retry pass failed', { error: errorText(err) }))
      .finally(() => {
        running = null;
      });
    return running;
  };
  const timer = setInterval(() => void pass(), everyMs);
  timer.unref();
  const first = setTimeout(() => void pass(), Math.min(everyMs, 10_000));
  first.unref();
  return {
    pass,
    async stop() {
      clearInterval(timer);
      clearTimeout(first);
      await running;
    },
  };
}
