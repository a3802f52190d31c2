// The expiry reminder job. For each active secret, the nearest REMINDER_DAYS threshold
// it has reached (and, once, the day after it expired) is claimed in a transaction,
// mailed to the application's credential managers, then marked sent; a failed send
// releases the claim so the next run retries. Two runs at once cannot both claim.
import { and, eq, isNull, sql } from 'drizzle-orm';
import type { Db } from '../../db/client.ts';
import { immediate } from '../../db/client.ts';
import { applications, clientSecrets, remindersSent } from '../../db/schema.ts';
import type { Clock } from '../clock.ts';
import type { Config } from '../config.ts';
import type { Logger } from '../log.ts';
import { addDays, dateInZone, daysBetween, formatDate } from '../dates.ts';
import { renderEmail } from './emails.ts';
import type { Mailer } from './mailer.ts';
import { managersOf } from '../credentials/applications.ts';

// The day after expiry, as a threshold value.
export const EXPIRED_THRESHOLD = -1;
// An "expired" mail goes out on the day after expiry, or on a later run within this many days.
const EXPIRED_CATCH_UP_DAYS = 7;
// A claim whose run died before marking it sent is taken over after this long.
const STALE_CLAIM_MS = 15 * 60 * 1000;

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

function claim(db: Db, secretId: string, threshold: number, now: number): boolean {
  return immediate(db, () => {
    const existing = db
      .select()
      .from(remindersSent)
      .where(and(eq(remindersSent.secretId, secretId), eq(remindersSent.threshold, threshold)))
      .get();
    if (!existing) {
      db.insert(remindersSent).values({ secretId, threshold, claimedAt: now }).run();
      return true;
    }
    if (existing.sentAt === null && existing.claimedAt < now - STALE_CLAIM_MS) {
      db.update(remindersSent).set({ claimedAt: now }).where(and(eq(remindersSent.secretId, secretId), eq(remindersSent.threshold, threshold))).run();
      return true;
    }
    return false;
  });
}

export async function sendExpiryReminders(deps: ReminderDeps): Promise<ReminderSummary> {
  const { db, mailer, clock, config, logger } = deps;
  const now = clock.now();
  const today = dateInZone(now, config.timezone);
  const horizon = addDays(today, Math.max(...config.reminderDays));
  const summary: ReminderSummary = { considered: 0, sent: 0, failed: 0, left: 0 };
  // Wall time, not the injected clock: the deadline bounds how long this run takes.
  const deadline = performance.now() + config.reminderDeadlineSeconds * 1000;
  let stopped: string | null = null;
  const alreadySent = db.$client.prepare<[string, number], { one: number }>('select 1 as one from reminders_sent where secret_id = ? and threshold = ? and sent_at is not null');
  const rows = db
    .select({ secret: clientSecrets, app: applications })
    .from(clientSecrets)
    .innerJoin(applications, eq(applications.id, clientSecrets.applicationId))
    .where(and(isNull(clientSecrets.deletedAt), isNull(applications.disabledAt), sql`${clientSecrets.expiresOn} <= ${horizon}`, sql`${clientSecrets.expiresOn} >= ${addDays(today, -EXPIRED_CATCH_UP_DAYS)}`))
    .all();

  for (const { secret, app } of rows) {
    summary.considered++;
    const expired = secret.expiresAt <= now;
    const threshold = dueThreshold(secret.expiresOn, expired, today, config.reminderDays);
    if (threshold === null) continue;
    if (stopped === null && performance.now() >= deadline) stopped = 'deadline reached';
    if (stopped !== null) {
      try {
        if (!alreadySent.get(secret.id, threshold)) summary.left++;
      } catch {
        summary.left++;
      }
      continue;
    }
    let recipients: ReturnType<typeof managersOf>;
    try {
      recipients = managersOf(db, app.id, { organisationId: app.organisationId });
      if (!claim(db, secret.id, threshold, now)) continue;
    } catch (err) {
      // The database is locked or failing: stop here; the next run picks up the rest.
      stopped = 'database unavailable';
      summary.left++;
      logger.warn('expiry reminders: could not claim; the rest is left for the next run', { error: String((err as Error)?.message ?? err) });
      continue;
    }
    if (recipients.length === 0) {
      logger.warn('expiry reminder has no credential manager to go to', { applicationId: app.id, secretId: secret.id });
      db.update(remindersSent).set({ sentAt: now }).where(and(eq(remindersSent.secretId, secret.id), eq(remindersSent.threshold, threshold))).run();
      continue;
    }
    const newer = db
      .select({ name: clientSecrets.name, hint: clientSecrets.hint, expiresOn: clientSecrets.expiresOn })
      .from(clientSecrets)
      .where(and(eq(clientSecrets.applicationId, app.id), isNull(clientSecrets.deletedAt), sql`${clientSecrets.createdAt} > ${secret.createdAt}`, sql`${clientSecrets.expiresAt} > ${now}`, sql`${clientSecrets.expiresOn} > ${secret.expiresOn}`))
      .get();
    const daysLeft = daysBetween(today, secret.expiresOn);
    const daysText = expired ? 'expired' : daysLeft === 0 ? 'expires today' : `${daysLeft} day${daysLeft === 1 ? '' : 's'} left`;
    const subject = expired
      ? `Client secret of ${app.name} has expired`
      : `Client secret of ${app.name} expires in ${daysLeft} day${daysLeft === 1 ? '' : 's'}`;
    const model = {
      subject,
      lead: expired
        ? `The client secret “${secret.name}” of ${app.name} expired on ${formatDate(secret.expiresOn)}. Systems that still use it can no longer get tokens.`
        : `The client secret “${secret.name}” of ${app.name} expires on ${formatDate(secret.expiresOn)}. After that date, systems that use it can no longer get tokens.`,
      applicationName: app.name,
      clientId: app.clientId,
      secretName: secret.name,
      hint: secret.hint,
      expires: formatDate(secret.expiresOn),
      daysText,
      newerSecret: newer ? `“${newer.name}” (${newer.hint}…), expires ${formatDate(newer.expiresOn)}` : '',
      link: `${config.baseUrl}/manage-api-credentials`,
      supportEmail: config.supportEmail,
    };
    const claimed = and(eq(remindersSent.secretId, secret.id), eq(remindersSent.threshold, threshold));
    try {
      const attachments = [await expiryEvent(app, secret, model.link)];
      await beforeDeadline(mailer.send({ to: recipients.map((r) => ({ name: r.name, address: r.email })), subject, ...renderEmail('reminder', model), attachments }), deadline);
    } catch (err) {
      if (err instanceof DeadlineReached) {
        stopped = 'deadline reached';
        summary.left++;
        logger.warn('expiry reminders: deadline reached; the rest is left for the next run', { secretId: secret.id, threshold });
      } else {
        summary.failed++;
        logger.error('expiry reminder failed', { secretId: secret.id, threshold, error: String((err as Error)?.message ?? err) });
      }
      // Release the claim: the next run tries again.
      releaseClaim(db, secret.id, threshold, logger);
      continue;
    }
    try {
      db.update(remindersSent).set({ sentAt: clock.now() }).where(claimed).run();
      summary.sent++;
    } catch (err) {
      // Sent but not marked: the stale claim is taken over later (at most one duplicate).
      summary.sent++;
      logger.warn('expiry reminder sent but not marked sent', { secretId: secret.id, threshold, error: String((err as Error)?.message ?? err) });
    }
  }
  logger.info('expiry reminders', { ...summary, ...(stopped ? { stopped } : {}) });
  return summary;
}

// An all-day calendar event on the expiry date (ical-generator, loaded on first use), so
// the rotation lands in the managers' calendars.
async function expiryEvent(app: { name: string; clientId: string }, secret: { id: string; name: string; hint: string; expiresOn: string }, link: string) {
  const { default: ical } = await import('ical-generator');
  const calendar = ical({ name: 'Credentials Portal', prodId: { company: 'Credentials Portal', product: 'expiry reminders' } });
  calendar.createEvent({
    id: `secret-${secret.id}@credentials-portal`,
    // Noon UTC of the date: the same calendar day in every zone the event is read in.
    start: new Date(`${secret.expiresOn}T12:00:00Z`),
    allDay: true,
    summary: `Client secret “${secret.name}” of ${app.name} expires`,
    description: `Rotate it before it expires: create a new secret, put it in your systems, confirm they connect, delete the old one (${secret.hint}…).\n${link}`,
    url: link,
  });
  return { filename: 'secret-expiry.ics', content: calendar.toString(), contentType: 'text/calendar; charset=utf-8; method=PUBLISH' };
}

function releaseClaim(db: Db, secretId: string, threshold: number, logger: Logger) {
  try {
    db.delete(remindersSent).where(and(eq(remindersSent.secretId, secretId), eq(remindersSent.threshold, threshold), isNull(remindersSent.sentAt))).run();
  } catch (err) {
    // The claim goes stale and is taken over by a run after STALE_CLAIM_MS.
    logger.warn('expiry reminder claim not released', { secretId, threshold, error: String((err as Error)?.message ?? err) });
  }
}

export function formatSummary(s: ReminderSummary): string {
  const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;
  return `considered ${plural(s.considered, 'secret')}, sent ${plural(s.sent, 'mail')}, ${plural(s.failed, 'failure')}, ${s.left} left for the next run`;
}
