// The expiry reminder job. For each active secret, the nearest REMINDER_DAYS threshold
// it has reached (and, once, the day after it expired) is claimed in a transaction,
// mailed to the application's credential managers, then marked sent once the SMTP server
// accepted it (never before); a failed send releases the claim so the next run retries
// (schedule.ts runs again with backoff) and is listed in the console (mail/failures.ts).
// Two runs at once cannot both claim.
import { and, eq, isNull, sql } from 'drizzle-orm';
import type { Db } from '../../db/client.ts';
import { applications, clientKeys, clientSecrets } from '../../db/schema.ts';
import { createClaims, type CredentialKind } from './claims.ts';
import type { Clock } from '../lib/clock.ts';
import type { Config } from '../lib/config.ts';
import type { Logger } from '../lib/log.ts';
import { addDays, dateInZone, daysBetween, formatDate } from '../lib/dates.ts';
import { hintOf, renderEmail } from '../mail/emails.ts';
import { expiryEvent } from './calendar.ts';
import { deliveryNote, type Mailer } from '../mail/mailer.ts';
import { errorText } from '../mail/failures.ts';
import { managersOf } from '../credentials/applications.ts';
import { CREDENTIALS_PAGE } from '../lib/paths.ts';
import { safeToDeleteText } from '../credentials/safe-to-delete.ts';
import { dueReviews, reviewEvent, reviewModel, type DueReview } from './federated.ts';

// The day after expiry, as a threshold value.
export const EXPIRED_THRESHOLD = -1;
// An "expired" mail goes out on the day after expiry, or on a later run within this many days.
const EXPIRED_CATCH_UP_DAYS = 7;

export interface ReminderDeps {
  db: Db;
  mailer: Mailer;
  clock: Clock;
  config: Config;
  logger: Logger;
}

export interface ReminderSummary {
  considered: number;
  sent: number;
  failed: number;
  // Due reminders this run did not get to (its deadline passed, or the database was
  // busy): nothing of theirs is marked sent, so the next run sends them.
  left: number;
}

class DeadlineReached extends Error {}

// Waits for the send, but no longer than the run's deadline. A send still under way
// then settles on its own (its rejection is caught here); its claim has been released,
// so at worst the next run sends that one reminder twice.
function beforeDeadline<T>(work: Promise<T>, deadline: number): Promise<T> {
  work.catch(() => {});
  const ms = deadline - performance.now();
  if (ms <= 0) return Promise.reject(new DeadlineReached());
  let timer: NodeJS.Timeout;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new DeadlineReached()), ms);
    timer.unref();
  });
  return Promise.race([work, expired]).finally(() => clearTimeout(timer));
}

// Which threshold applies today to a secret, if any.
export function dueThreshold(expiresOn: string, expired: boolean, today: string, thresholds: number[]): number | null {
  if (expired) {
    const since = daysBetween(expiresOn, today);
    return since >= 1 && since <= EXPIRED_CATCH_UP_DAYS ? EXPIRED_THRESHOLD : null;
  }
  const daysLeft = daysBetween(today, expiresOn);
  const reached = thresholds.filter((t) => daysLeft <= t);
  return reached.length ? Math.min(...reached) : null;
}

// One credential due for a reminder: a client secret, or a key or certificate.
interface DueCredential {
  kind: CredentialKind;
  id: string;
  name: string;
  hint: string; // a secret's first three characters, a key's thumbprint start
  label: string; // 'Client secret', 'Certificate', 'Public key'
  createdAt: number;
  expiresOn: string;
  expiresAt: number;
  app: typeof applications.$inferSelect;
}

function dueCredentials(db: Db, from: string, to: string): DueCredential[] {
  const inWindow = (expiresOn: typeof clientSecrets.expiresOn | typeof clientKeys.expiresOn) => and(sql`${expiresOn} <= ${to}`, sql`${expiresOn} >= ${from}`);
  const secrets = db
    .select({ c: clientSecrets, app: applications })
    .from(clientSecrets)
    .innerJoin(applications, eq(applications.id, clientSecrets.applicationId))
    .where(and(isNull(clientSecrets.deletedAt), isNull(applications.disabledAt), inWindow(clientSecrets.expiresOn)))
    .all()
    .map(({ c, app }): DueCredential => ({ kind: 'secret', id: c.id, name: c.name, hint: c.hint, label: 'Client secret', createdAt: c.createdAt, expiresOn: c.expiresOn, expiresAt: c.expiresAt, app }));
  const keys = db
    .select({ c: clientKeys, app: applications })
    .from(clientKeys)
    .innerJoin(applications, eq(applications.id, clientKeys.applicationId))
    .where(and(isNull(clientKeys.deletedAt), isNull(applications.disabledAt), inWindow(clientKeys.expiresOn)))
    .all()
    .map(({ c, app }): DueCredential => ({ kind: 'key', id: c.id, name: c.name, hint: c.thumbprint.slice(0, 8), label: c.kind === 'certificate' ? 'Certificate' : 'Public key', createdAt: c.createdAt, expiresOn: c.expiresOn, expiresAt: c.expiresAt, app }));
  return [...secrets, ...keys, ...dueReviews(db, from, to)];
}

export async function sendExpiryReminders(deps: ReminderDeps): Promise<ReminderSummary> {
  const { db, mailer, clock, config, logger } = deps;
  const now = clock.now();
  const today = dateInZone(now, config.timezone);
  const summary: ReminderSummary = { considered: 0, sent: 0, failed: 0, left: 0 };
  // Wall time, not the injected clock: the deadline bounds how long this run takes.
  const deadline = performance.now() + config.reminderDeadlineSeconds * 1000;
  let stopped: string | null = null;
  const claims = createClaims(db, logger);

  for (const c of dueCredentials(db, addDays(today, -EXPIRED_CATCH_UP_DAYS), addDays(today, Math.max(...config.reminderDays)))) {
    summary.considered++;
    const expired = c.expiresAt <= now;
    const threshold = dueThreshold(c.expiresOn, expired, today, config.reminderDays);
    if (threshold === null) continue;
    if (stopped === null && performance.now() >= deadline) stopped = 'deadline reached';
    if (stopped !== null) {
      try {
        if (!claims.alreadySent(c.kind, c.id, threshold)) summary.left++;
      } catch {
        summary.left++;
      }
      continue;
    }
    let recipients: ReturnType<typeof managersOf>;
    try {
      recipients = managersOf(db, c.app.id, { organisationId: c.app.organisationId });
      if (!claims.claim(c.kind, c.id, threshold, now)) continue;
    } catch (err) {
      // The database is locked or failing: stop here; the next run picks up the rest.
      stopped = 'database unavailable';
      summary.left++;
      logger.warn('expiry reminders: could not claim; the rest is left for the next run', { error: String((err as Error)?.message ?? err) });
      continue;
    }
    if (recipients.length === 0) {
      logger.warn('expiry reminder has no credential manager to go to', { applicationId: c.app.id, credentialId: c.id });
      claims.markSent(c.kind, c.id, threshold, now);
      continue;
    }
    const { subject, model, template } = c.kind === 'federated' ? reviewModel(config, c as DueReview, today, now) : reminderModel(db, config, c, today, now);
    const to = recipients.map((r) => ({ name: r.name, address: r.email }));
    let rejected: string[];
    try {
      const attachments = [await (c.kind === 'federated' ? reviewEvent : expiryEvent)(c.app, c, model.link, daysBetween(today, c.expiresOn))];
      ({ rejected } = await beforeDeadline(mailer.send({ to, subject, ...renderEmail(template, model), attachments }), deadline));
    } catch (err) {
      if (err instanceof DeadlineReached) {
        stopped = 'deadline reached';
        summary.left++;
        logger.warn('expiry reminders: deadline reached; the rest is left for the next run', { credentialId: c.id, threshold });
      } else {
        summary.failed++;
        logger.error('expiry reminder failed', { credentialId: c.id, threshold, error: errorText(err) });
        listFailure(deps, `${c.kind}:${c.id}:${threshold}`, to, subject, errorText(err), c.kind === 'federated' ? 'review reminder' : undefined);
      }
      // Release the claim: the next run tries again.
      claims.release(c.kind, c.id, threshold);
      continue;
    }
    // Accepted by the SMTP server (or written to the outbox): from here on it counts as sent.
    listFailure(deps, `${c.kind}:${c.id}`, null);
    if (rejected.length) {
      // The others have it; the refused addresses are listed, not retried (a retry would
      // send it to everyone again).
      const error = `refused by the SMTP server for ${rejected.join(', ')}; the other managers received it`;
      logger.warn('expiry reminder refused for some recipients', { credentialId: c.id, threshold, rejected: rejected.length });
      listFailure(deps, `${c.kind}:${c.id}:${threshold}`, to.filter((r) => rejected.includes(r.address)), subject, error);
    }
    try {
      claims.markSent(c.kind, c.id, threshold, clock.now());
      summary.sent++;
    } catch (err) {
      // Sent but not marked: the stale claim is taken over later (at most one duplicate).
      summary.sent++;
      logger.warn('expiry reminder sent but not marked sent', { credentialId: c.id, threshold, error: String((err as Error)?.message ?? err) });
    }
  }
  logger.info('expiry reminders', { ...summary, ...(mailer.kind === 'outbox' ? { outbox: true } : {}), ...(stopped ? { stopped } : {}) });
  return summary;
}

// The console's list of failed deliveries: a failure listed (with its recipients), or with
// `to` null, a credential's earlier failures cleared once one of its mails was accepted.
export function listFailure(deps: ReminderDeps, key: string, to: Array<{ name: string; address: string }> | null, subject = '', error = '', what?: string): void {
  try {
    if (to === null) deps.mailer.failures?.reminderSent(key);
    else deps.mailer.failures?.recordReminderFailure(key, { to, subject }, error, what);
  } catch (err) {
    deps.logger.warn('expiry reminder failure not listed', { key, error: errorText(err) });
  }
}

function reminderModel(db: Db, config: Config, c: DueCredential, today: string, now: number) {
  const expired = c.expiresAt <= now;
  const noun = c.label.toLowerCase();
  // A newer secret of the same application suggests the old one can go.
  const newer =
    c.kind === 'secret'
      ? db
          .select({ name: clientSecrets.name, hint: clientSecrets.hint, expiresOn: clientSecrets.expiresOn })
          .from(clientSecrets)
          .where(and(eq(clientSecrets.applicationId, c.app.id), isNull(clientSecrets.deletedAt), sql`${clientSecrets.createdAt} > ${c.createdAt}`, sql`${clientSecrets.expiresAt} > ${now}`, sql`${clientSecrets.expiresOn} > ${c.expiresOn}`))
          .get()
      : undefined;
  const daysLeft = daysBetween(today, c.expiresOn);
  const daysText = expired ? 'expired' : daysLeft === 0 ? 'expires today' : `${daysLeft} day${daysLeft === 1 ? '' : 's'} left`;
  const subject = expired ? `${c.label} of ${c.app.name} has expired` : `${c.label} of ${c.app.name} expires in ${daysLeft} day${daysLeft === 1 ? '' : 's'}`;
  const model = {
    subject,
    lead: expired
      ? `The ${noun} “${c.name}” of ${c.app.name} expired on ${formatDate(c.expiresOn)}. Systems that still use it can no longer get tokens.`
      : `The ${noun} “${c.name}” of ${c.app.name} expires on ${formatDate(c.expiresOn)}. After that date, systems that use it can no longer get tokens.`,
    applicationName: c.app.name,
    clientId: c.app.clientId,
    credentialLabel: c.label,
    noun,
    secretName: c.name,
    hint: hintOf(c.hint),
    expires: formatDate(c.expiresOn),
    daysText,
    // Safe to delete (issue 28): said instead of asking to rotate.
    safeToDelete: expired ? '' : safeToDeleteText({ db, config }, c.app.id, c.kind, c.id, now),
    newerSecret: newer ? `“${newer.name}” (${hintOf(newer.hint)}), expires ${formatDate(newer.expiresOn)}` : '',
    link: `${config.baseUrl}${CREDENTIALS_PAGE}`,
    supportEmail: config.supportEmail,
  };
  return { subject, model, template: 'reminder' };
}

// The CLI's line: "sent" only when an SMTP server took the mails.
export function formatSummary(s: ReminderSummary, mailer: Pick<Mailer, 'kind'> = { kind: 'smtp' }): string {
  const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;
  const done = mailer.kind === 'smtp' ? `sent ${plural(s.sent, 'mail')}` : `${plural(s.sent, 'mail')} ${deliveryNote(mailer)}`;
  return `considered ${plural(s.considered, 'secret')}, ${done}, ${plural(s.failed, 'failure')}, ${s.left} left for the next run`;
}
