// Review reminders for federated credentials (issue 29): no expiry, but a trust is looked at
// once a year. The managers hear of it at the usual thresholds before its review date (and
// once the day after it passed), claimed and sent exactly as expiry reminders are (run.ts);
// the mail asks for a review, not a rotation, and "Reviewed" moves the date a year ahead.
import { and, eq, isNull, sql } from 'drizzle-orm';
import type { Db } from '../../db/client.ts';
import { applications, federatedCredentials } from '../../db/schema.ts';
import type { Config } from '../lib/config.ts';
import { daysBetween, formatDate } from '../lib/dates.ts';
import { CREDENTIALS_PAGE } from '../lib/paths.ts';
import { allDayEvent } from './calendar.ts';

export interface DueReview {
  kind: 'federated';
  id: string;
  name: string;
  hint: string;
  label: string;
  createdAt: number;
  expiresOn: string; // the review date, in the slots the reminder job reads
  expiresAt: number;
  app: typeof applications.$inferSelect;
}

// Live federated credentials of enabled applications whose review date is within [from, to].
export function dueReviews(db: Db, from: string, to: string): DueReview[] {
  return db
    .select({ c: federatedCredentials, app: applications })
    .from(federatedCredentials)
    .innerJoin(applications, eq(applications.id, federatedCredentials.applicationId))
    .where(and(isNull(federatedCredentials.deletedAt), isNull(applications.disabledAt), sql`${federatedCredentials.reviewOn} <= ${to}`, sql`${federatedCredentials.reviewOn} >= ${from}`))
    .all()
    .map(({ c, app }) => ({ kind: 'federated', id: c.id, name: c.name, hint: c.subject.slice(0, 60), label: 'Federated credential', createdAt: c.createdAt, expiresOn: c.reviewOn, expiresAt: c.reviewAt, app }));
}

export function reviewModel(config: Config, c: DueReview, today: string, now: number) {
  const overdue = c.expiresAt <= now;
  const daysLeft = daysBetween(today, c.expiresOn);
  const subject = overdue ? `Federated credential of ${c.app.name}: review overdue` : `Federated credential of ${c.app.name}: review due ${daysLeft === 0 ? 'today' : `in ${daysLeft} day${daysLeft === 1 ? '' : 's'}`}`;
  const model = {
    subject,
    lead: overdue
      ? `The federated credential “${c.name}” of ${c.app.name} was due for its yearly review on ${formatDate(c.expiresOn)}. It still works until someone deletes it.`
      : `The federated credential “${c.name}” of ${c.app.name} is due for its yearly review by ${formatDate(c.expiresOn)}. It keeps working; nothing expires.`,
    ask: `Check that ${c.name} still trusts only what it should; choose Reviewed to keep it for another year`,
    applicationName: c.app.name,
    clientId: c.app.clientId,
    secretName: c.name,
    subjectClaim: c.hint,
    review: formatDate(c.expiresOn),
    daysText: overdue ? 'overdue' : daysLeft === 0 ? 'due today' : `${daysLeft} day${daysLeft === 1 ? '' : 's'} left`,
    link: `${config.baseUrl}${CREDENTIALS_PAGE}`,
    supportEmail: config.supportEmail,
  };
  return { subject, model, template: 'review' };
}

// The calendar file: an all-day event on the review date, an alarm a week (or a day) before.
export function reviewEvent(app: { name: string }, c: Pick<DueReview, 'id' | 'name' | 'expiresOn'>, link: string, daysLeft: number) {
  return allDayEvent({
    id: `federated-${c.id}`,
    product: 'review reminders',
    date: c.expiresOn,
    summary: `Review federated credential “${c.name}” of ${app.name}`,
    description: `Check that ${c.name} still trusts only what it should; choose Reviewed on Manage API credentials to keep it for another year, or delete it.`,
    alarm: () => `Review federated credential “${c.name}” of ${app.name}.`,
    filename: 'federated-review.ics',
    link,
    daysLeft,
  });
}
