// Mail that did not go: kept in the database, retried with backoff, listed in the console
// (recipient, subject, error, attempts), given up after MAX_ATTEMPTS; reminders counted as
// sent only once a real SMTP server accepted them; the console's banner and the outbox
// viewer in production.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { startPortal, type TestPortal } from '../helpers/portal.ts';
import { startSmtp, header, readable } from '../helpers/smtp.ts';
import { makeApplication, makeOrganisation, withoutNotices } from '../helpers/fixtures.ts';
import { createAdmin, createUser, signIn } from '../helpers/accounts.ts';
import { cliActor } from '../../server/audit/audit.ts';
import { inviteUser } from '../../server/admin/users.ts';
import { invitationMail } from '../../server/admin/invitation-mail.ts';
import { findApplicationByClientId } from '../../server/admin/applications.ts';
import { createClientSecret } from '../../server/credentials/secrets.ts';
import { sendExpiryReminders } from '../../server/reminders/run.ts';
import { startReminderSchedule } from '../../server/reminders/schedule.ts';
import { MAX_ATTEMPTS, RETRY_DELAYS_MS, retryFailedMail, startMailRetries } from '../../server/mail/failures.ts';
import { bootstrap } from '../../server/bootstrap.ts';
import { memoryLogger } from '../../server/lib/log.ts';
import { fixedClock } from '../../server/lib/clock.ts';
import { addDays, dateInZone } from '../../server/lib/dates.ts';
import { remindersSent } from '../../db/schema.ts';

const failureRows = (portal: TestPortal) => portal.deps.db.$client.prepare('select * from mail_failures order by id').all() as Array<Record<string, unknown>>;

// An invitation mailed in the background, as the console does after the invitation is committed.
function inviteInBackground(portal: TestPortal, org: number, email: string) {
  const r = inviteUser(portal.deps.db, portal.clock, cliActor, { organisationId: org, email, name: 'Nina New', managerOf: [] });
  assert.ok(r.ok);
  portal.deps.mailer.sendAfter(() => invitationMail(portal.deps, r.value.userId, r.value.token, 'invite', cliActor), 'invitation mail', { userId: r.value.userId });
  return r.value.token;
}

// A production portal whose SMTP server refused one invitation mailed in the background.
async function refusedInvitation(t: Parameters<typeof startPortal>[0]) {
  const smtp = await startSmtp(t);
  const portal = await startPortal(t, { SMTP_URL: smtp.url, PORTAL_ENV: 'production' });
  const org = makeOrganisation(portal, 'Hospital A');
  smtp.setMode('refuse');
  inviteInBackground(portal, org, 'nina@hospital-a.example');
  await portal.deps.mailer.idle();
  return { smtp, portal, org };
}

async function waitFor(condition: () => boolean, what: string, ms = 10_000) {
  const until = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > until) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

test('a refused background mail is kept (sealed), listed in the console, retried with backoff until accepted, and survives a restart', async (t) => {
  const smtp = await startSmtp(t);
  const portal = await startPortal(t, { SMTP_URL: smtp.url, PORTAL_ENV: 'production' });
  const admin = await createAdmin(portal);
  const c = await signIn(portal, admin);
  assert.doesNotMatch((await c.get('/admin')).text, /mail-banner/, 'no banner while all is well');
  const org = makeOrganisation(portal, 'Hospital A');
  smtp.setMode('refuse');
  const token = inviteInBackground(portal, org, 'nina@hospital-a.example');
  await portal.deps.mailer.idle();
  const [row] = failureRows(portal);
  assert.ok(row, 'the failed invitation is kept');
  assert.equal(row.recipients, 'nina@hospital-a.example');
  assert.equal(row.attempts, 1);
  assert.match(String(row.last_error), /Mailbox unavailable/);
  assert.equal(row.next_attempt_at, portal.clock.now() + RETRY_DELAYS_MS[0]!);
  assert.ok(!String(row.message).includes(token) && !String(row.message).includes('/setup/'), 'the setup link is not stored in plaintext');
  assert.ok(!portal.logs.some((l) => l.includes(token)), 'nor logged');

  const banner = await c.get('/admin');
  assert.match(banner.text, /class="error-summary mail-banner"[^>]*>1 mail could not be delivered\. <a href="\/admin\/outbox">See the failed deliveries<\/a>/);
  const page = await c.get('/admin/outbox');
  assert.equal(page.status, 200);
  for (const cell of ['nina@hospital-a.example', 'Your invitation to the Credentials Portal', 'Mailbox unavailable', '>1<', `at most ${MAX_ATTEMPTS} in all`]) assert.ok(page.text.includes(cell), `the list shows ${cell}`);

  // Not due yet: nothing is tried.
  assert.deepEqual(await retryFailedMail(portal.deps), { sent: 0, failed: 0, gaveUp: 0 });
  portal.clock.advance(RETRY_DELAYS_MS[0]!);
  assert.deepEqual(await retryFailedMail(portal.deps), { sent: 0, failed: 1, gaveUp: 0 }, 'still refused');
  assert.equal(failureRows(portal)[0]!.attempts, 2);
  assert.equal(failureRows(portal)[0]!.next_attempt_at, portal.clock.now() + RETRY_DELAYS_MS[1]!, 'the wait grows');

  // A restart: another process on the same data folder (the same master key) takes over.
  smtp.setMode('accept');
  portal.clock.advance(RETRY_DELAYS_MS[1]!);
  const restarted = bootstrap({ env: { DATA_DIR: portal.dataDir, BASE_URL: portal.baseUrl, SMTP_URL: smtp.url, PORTAL_ENV: 'production' }, clock: portal.clock, logger: memoryLogger() });
  t.after(() => {
    restarted.mailer.close();
    restarted.db.$client.close();
  });
  assert.deepEqual(await retryFailedMail(restarted), { sent: 1, failed: 0, gaveUp: 0 });
  assert.equal(smtp.messages.length, 1);
  assert.equal(header(smtp.messages[0]!.raw, 'Subject'), 'Your invitation to the Credentials Portal');
  assert.ok(readable(smtp.messages[0]!.raw).includes(`${portal.baseUrl}/setup/${token}`), 'the mail as it was built, link included');
  assert.equal(failureRows(portal).length, 0, 'delivered: no longer listed');
  assert.doesNotMatch((await c.get('/admin')).text, /mail-banner/);
});

test(`a mail refused ${MAX_ATTEMPTS} times is given up and stays listed as such`, async (t) => {
  const { portal } = await refusedInvitation(t);
  for (const delay of RETRY_DELAYS_MS) {
    portal.clock.advance(delay);
    await retryFailedMail(portal.deps);
  }
  const [row] = failureRows(portal);
  assert.equal(row!.attempts, MAX_ATTEMPTS);
  assert.ok(row!.given_up_at, 'given up');
  assert.equal(row!.next_attempt_at, null);
  portal.clock.advance(24 * 3_600_000);
  assert.deepEqual(await retryFailedMail(portal.deps), { sent: 0, failed: 0, gaveUp: 0 }, 'never tried again');
  const admin = await createAdmin(portal);
  const page = await (await signIn(portal, admin)).get('/admin/outbox');
  assert.match(page.text, new RegExp(`Given up after ${MAX_ATTEMPTS} attempts`));
});

// A portal, an application with two managers and a secret expiring in 7 days.
async function reminderWorld(t: Parameters<typeof startPortal>[0], env: Record<string, string>) {
  const portal = await startPortal(t, { PORTAL_ENV: 'production', ...env });
  const org = makeOrganisation(portal, 'Hospital A');
  const clientId = makeApplication(portal, org, 'Partner-NL-HospitalA-DM');
  for (const email of ['m1@hospital-a.example', 'm2@hospital-a.example']) {
    assert.ok(inviteUser(portal.deps.db, portal.clock, cliActor, { organisationId: org, email, name: email.split('@')[0], managerOf: [clientId] }).ok);
  }
  const app = findApplicationByClientId(portal.deps.db, clientId)!;
  const expires = addDays(dateInZone(portal.clock.now(), 'UTC'), 7);
  assert.ok(createClientSecret(withoutNotices(portal.deps), cliActor, app, { name: 'Secret by VM', expires }).ok);
  return portal;
}

// The reminder world behind an SMTP server that refuses, with the schedule running (its
// start-up run at once, retries after `retryAfterMs`).
async function refusingSchedule(t: Parameters<typeof startPortal>[0], retryAfterMs: number[]) {
  const smtp = await startSmtp(t);
  const portal = await reminderWorld(t, { SMTP_URL: smtp.url });
  smtp.setMode('refuse');
  const schedule = startReminderSchedule(portal.deps, { startupDelayMs: 0, retryAfterMs });
  t.after(() => schedule.stop());
  return { smtp, portal, schedule };
}

test('a reminder counts as sent only once the SMTP server accepted it: refused, it is listed and sent by a later run; refused for one manager, the other has it and the refusal is listed', async (t) => {
  const smtp = await startSmtp(t);
  const portal = await reminderWorld(t, { SMTP_URL: smtp.url });
  smtp.setMode('refuse');
  assert.deepEqual(await sendExpiryReminders(portal.deps), { considered: 1, sent: 0, failed: 1, left: 0 });
  assert.equal(portal.deps.db.select().from(remindersSent).all().length, 0, 'nothing marked sent');
  let [row] = failureRows(portal);
  assert.equal(row!.what, 'expiry reminder');
  assert.equal(row!.recipients, 'm1@hospital-a.example, m2@hospital-a.example');
  assert.match(String(row!.subject), /expires in 7 days/);
  assert.equal(row!.message, null, 'the reminder job retries it, not the mail queue');
  await sendExpiryReminders(portal.deps);
  assert.equal(failureRows(portal)[0]!.attempts, 2, 'a second failure counts');

  smtp.setMode('accept');
  smtp.refuseRecipient('m2@hospital-a.example');
  assert.deepEqual(await sendExpiryReminders(portal.deps), { considered: 1, sent: 1, failed: 0, left: 0 });
  assert.deepEqual(smtp.messages.map((m) => m.to), [['m1@hospital-a.example']], 'only the accepted recipient has it');
  assert.ok(portal.deps.db.select().from(remindersSent).all()[0]!.sentAt, 'marked sent: the SMTP server accepted it');
  [row] = failureRows(portal);
  assert.equal(failureRows(portal).length, 1);
  assert.equal(row!.recipients, 'm2@hospital-a.example', 'the refused manager is listed');
  assert.match(String(row!.last_error), /refused by the SMTP server for m2@hospital-a\.example; the other managers received it/);
  assert.equal(row!.attempts, 1);
});

test('after a run with failures the schedule runs again with backoff, and only the failed reminder goes out', async (t) => {
  const { smtp, portal } = await refusingSchedule(t, [300, 300]);
  await waitFor(() => failureRows(portal).length === 1, 'the first run to fail');
  smtp.setMode('accept');
  await waitFor(() => smtp.messages.length === 1, 'the retry run to send it');
  await waitFor(() => failureRows(portal).length === 0, 'the failure to be cleared');
  assert.ok(portal.logs.some((l) => l.includes('expiry reminders failed; trying again later')));
});

test('production without SMTP_URL: the console says mail is not sent, the outbox viewer works with formatted dates, the CLI says "written to the outbox, not sent"', async (t) => {
  const portal = await reminderWorld(t, { PORTAL_TIMEZONE: 'Europe/Amsterdam' });
  const summary = await sendExpiryReminders({ ...portal.deps, clock: fixedClock(portal.clock.now()) });
  assert.equal(summary.sent, 1);
  const admin = await createAdmin(portal);
  const c = await signIn(portal, admin);
  const home = await c.get('/admin');
  assert.match(home.text, /Mail is not sent: SMTP_URL is not set, so invitations, notices and expiry reminders are written to [^ ]+outbox and nobody receives them\. <a href="\/admin\/outbox">Read the outbox<\/a>/);
  assert.match(home.text, /<a href="\/admin\/outbox">Mail<\/a>/, 'the console links to it');
  const list = await c.get('/admin/outbox');
  assert.equal(list.status, 200, 'the outbox viewer works in production');
  assert.match(list.text, /No SMTP_URL is set: the portal sends no mail/);
  assert.match(list.text, /<td data-label="Date">\d{1,2} [A-Z][a-z]{2} \d{4}, \d{2}:\d{2} \(Europe\/Amsterdam\)<\/td>/, 'dates formatted in the portal zone');
  assert.match(list.text, /expires in 7 days/);
  const file = fs.readdirSync(`${portal.dataDir}/outbox`)[0]!;
  const message = await c.get(`/admin/outbox/${file}`);
  assert.equal(message.status, 200);
  assert.match(message.text, /<dt>Date<\/dt><dd>\d{1,2} [A-Z][a-z]{2} \d{4}, \d{2}:\d{2} \(Europe\/Amsterdam\)<\/dd>/);
  const { cliInProcess } = await import('../helpers/cli.ts');
  const cli = await cliInProcess(['send-expiry-reminders', '--now', new Date(portal.clock.now() + 86_400_000).toISOString()], { DATA_DIR: portal.dataDir, BASE_URL: portal.baseUrl, PORTAL_TIMEZONE: 'Europe/Amsterdam' });
  assert.equal(cli.code, 0, cli.stderr);
  assert.match(cli.stdout, /^considered 1 secret, 0 mails written to the outbox, not sent \(no SMTP_URL is set\), 0 failures, 0 left for the next run\b/);
});

test('the server\'s retry pass runs on its own timer and sends what is due; the Mail page is for administrators only', async (t) => {
  const { smtp, portal, org } = await refusedInvitation(t);
  assert.equal(failureRows(portal).length, 1);
  smtp.setMode('accept');
  portal.clock.advance(RETRY_DELAYS_MS[0]!);
  const retries = startMailRetries(portal.deps, 50);
  t.after(() => retries.stop());
  await waitFor(() => smtp.messages.length === 1 && failureRows(portal).length === 0, 'the timer\'s pass to send it');

  const manager = await createUser(portal, org, 'm@hospital-a.example');
  const c = await signIn(portal, manager);
  assert.equal((await c.get('/admin/outbox')).status, 403, 'not for a member');
});

test('the retries after a failed reminder run are bounded, and each scheduled run starts a new series', async (t) => {
  const { smtp, portal, schedule } = await refusingSchedule(t, [50, 50]);
  const attempts = () => Number(failureRows(portal)[0]?.attempts ?? 0);
  const retriesPlanned = () => portal.logs.filter((l) => l.includes('expiry reminders failed; trying again later')).length;
  await waitFor(() => attempts() === 3, 'the start-up run and its two retries');
  // A retry beyond the series plans nothing more (the plan is logged as the run ends). A
  // call while the last retry still runs waits for it and is skipped: call until one ran.
  while (attempts() < 4) await schedule.run('retry');
  assert.equal(retriesPlanned(), 2, 'no third retry');
  await schedule.run('schedule');
  assert.equal(retriesPlanned(), 3, 'the next scheduled run starts a new series');
  assert.equal(smtp.messages.length, 0);
});
