// Issue 29, the yearly review: federated credentials' managers hear of the review date at
// the usual thresholds (and once when it passed), each mail claimed once even by two runs
// at once, over a real SMTP server with the injectable clock; the mail asks for a review,
// not a rotation; "Reviewed" starts the reminders over for the next year. The co-manager
// notice of a new federated credential says its review date, not an expiry.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { eq } from 'drizzle-orm';
import { startPortal, type TestPortal } from '../helpers/portal.ts';
import { startSmtp, readable, header } from '../helpers/smtp.ts';
import { makeApplication, makeOrganisation, withoutNotices } from '../helpers/fixtures.ts';
import { loopbackIssuer, SUBJECT } from '../helpers/issuer.ts';
import { fixedClock } from '../../server/lib/clock.ts';
import { cliActor } from '../../server/audit/audit.ts';
import { findApplicationByClientId } from '../../server/admin/applications.ts';
import { inviteUser } from '../../server/admin/users.ts';
import { addFederatedCredential, reviewFederatedCredential } from '../../server/credentials/federated.ts';
import { sendExpiryReminders } from '../../server/reminders/run.ts';
import { addDays, startOfDateInZone } from '../../server/lib/dates.ts';
import { users } from '../../db/schema.ts';

const TZ = 'Europe/Amsterdam';
const at = (date: string, hh = 0, mm = 0) => startOfDateInZone(date, TZ) + (hh * 60 + mm) * 60_000;
const run = (portal: TestPortal, when: number) => sendExpiryReminders({ ...portal.deps, clock: fixedClock(when) });

test('review reminders for a federated credential: each threshold once, once overdue, review wording, Reviewed starts over; the notice says the review date', async (t) => {
  const smtp = await startSmtp(t);
  const gh = await loopbackIssuer(t);
  const portal = await startPortal(t, { PORTAL_ENV: 'sandbox', PORTAL_TIMEZONE: TZ, SMTP_URL: smtp.url }, '2027-01-10T12:00:00Z');
  const org = makeOrganisation(portal, 'Hospital A');
  const clientId = makeApplication(portal, org, 'Partner-NL-HospitalA-DM');
  for (const email of ['m1@hospital-a.example', 'm2@hospital-a.example']) {
    const r = inviteUser(portal.deps.db, portal.clock, cliActor, { organisationId: org, email, name: email.split('@')[0], managerOf: [clientId] });
    assert.ok(r.ok);
    portal.deps.db.update(users).set({ passwordHash: 'set up', totpSecret: 'set up' }).where(eq(users.id, r.value.userId)).run();
  }
  const app = findApplicationByClientId(portal.deps.db, clientId)!;

  // The co-managers' notice (the CLI adds it: both hear) says the review date.
  const added = await addFederatedCredential(portal.deps, cliActor, app, { name: 'registry-sync', issuer: gh.url, subject: SUBJECT });
  assert.ok(added.ok);
  await portal.deps.mailer.idle();
  assert.equal(smtp.messages.length, 1);
  assert.equal(header(smtp.messages[0]!.raw, 'Subject'), '[Sandbox] Federated credential added for Partner-NL-HospitalA-DM');
  const notice = readable(smtp.messages[0]!.raw);
  assert.match(notice, /Review by:\s+10 Jan 2028/);
  assert.doesNotMatch(notice, /Expires/);
  smtp.messages.length = 0;

  const REVIEW = added.value.row.reviewOn;
  assert.equal(REVIEW, '2028-01-10');
  // A refusing SMTP server: nothing counts as sent, the failure is listed for the console,
  // and the claim is released so the next run sends it.
  smtp.setMode('refuse');
  const refused = await run(portal, at(addDays(REVIEW, -30), 0, 0));
  assert.deepEqual([refused.sent, refused.failed], [0, 1]);
  assert.deepEqual(portal.deps.mailer.failures!.list().map((f) => [f.what, f.reminder?.startsWith(`federated:${added.value.row.id}:30`)]), [['review reminder', true]]);
  assert.equal((portal.deps.db.$client.prepare('select count(*) as n from federated_reminders_sent').get() as { n: number }).n, 0, 'the claim was released');
  smtp.setMode('accept');
  const expectations: Array<[number, number, string]> = [
    [at(addDays(REVIEW, -31), 23, 59), 0, '31 days left: nothing yet'],
    [at(addDays(REVIEW, -30), 0, 0), 1, '30 days, on the next run'],
    [at(addDays(REVIEW, -30), 7, 0), 1, 'the same day again: nothing new'],
    [at(addDays(REVIEW, -7), 7, 0), 2, '7 days (14 was skipped: the nearest threshold reached)'],
    [at(addDays(REVIEW, -1), 7, 0), 3, '1 day'],
    [at(REVIEW, 23, 59), 3, 'the review date itself'],
    [at(addDays(REVIEW, 1), 0, 0), 4, 'the day after: overdue, once'],
    [at(addDays(REVIEW, 2), 7, 0), 4, 'never again'],
  ];
  for (const [when, total, label] of expectations) {
    await run(portal, when);
    assert.equal(smtp.messages.length, total, label);
  }
  assert.equal(portal.deps.mailer.failures!.list().length, 0, 'the listed failure went once the reminder was accepted');
  assert.deepEqual(smtp.messages.map((m) => header(m.raw, 'Subject')), [
    '[Sandbox] Federated credential of Partner-NL-HospitalA-DM: review due in 30 days',
    '[Sandbox] Federated credential of Partner-NL-HospitalA-DM: review due in 7 days',
    '[Sandbox] Federated credential of Partner-NL-HospitalA-DM: review due in 1 day',
    '[Sandbox] Federated credential of Partner-NL-HospitalA-DM: review overdue',
  ]);
  const first = smtp.messages[0]!;
  assert.deepEqual([...first.to].sort(), ['m1@hospital-a.example', 'm2@hospital-a.example']);
  const body = readable(first.raw);
  assert.ok(body.includes('Check that registry-sync still trusts only what it should; choose Reviewed to keep it for another year'), body);
  assert.match(body, /Review by:\s+10 Jan 2028 \(30 days left\)/);
  assert.match(body, new RegExp(`subject ${SUBJECT}`));
  assert.doesNotMatch(body, /rotate|expires on/i);
  assert.match(first.raw, /filename=federated-review\.ics/, 'a calendar event for the review date');

  // Reviewed (overdue now): the date a year from that day; the reminders start over, and
  // two runs at once send each one once.
  const reviewedOn = addDays(REVIEW, 3);
  const reviewed = reviewFederatedCredential(withoutNotices({ ...portal.deps, clock: fixedClock(at(reviewedOn, 9)) }), cliActor, app, added.value.row.id);
  assert.equal(reviewed?.reviewOn, addDays(reviewedOn, 365));
  await Promise.all([run(portal, at(addDays(reviewed!.reviewOn, -30), 7)), run(portal, at(addDays(reviewed!.reviewOn, -30), 7))]);
  assert.equal(smtp.messages.length, 5, 'one mail for the next year’s 30 days, claimed once');
  assert.equal(header(smtp.messages[4]!.raw, 'Subject'), '[Sandbox] Federated credential of Partner-NL-HospitalA-DM: review due in 30 days');
  assert.equal((portal.deps.db.$client.prepare('select count(*) as n from federated_reminders_sent where sent_at is not null').get() as { n: number }).n, 1);
});
