// The "safe to delete" nudge (issue 28, point 5) with a real SMTP server on loopback: once
// per credential across runs (the daily job and `send-expiry-reminders --now`), the expiry
// reminder of such a credential says so instead of asking to rotate; the daily job prunes
// usage older than 90 days (the injectable clock).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startPortal } from '../helpers/portal.ts';
import { startSmtp, header, readable } from '../helpers/smtp.ts';
import { buildWorld } from '../helpers/fixtures.ts';
import { cliInProcess } from '../helpers/cli.ts';
import { secretFor, takeOver, tokenFrom } from '../helpers/token-from.ts';
import { runDailyJob } from '../../server/reminders/daily.ts';

const DAY = 86_400_000;
// The Subject header, its RFC 2047 encoded words decoded.
const subject = (raw: string) =>
  (header(raw, 'Subject') ?? '').replace(/=\?UTF-8\?([QB])\?(.*?)\?=\s*/gi, (_, enc: string, text: string) => (enc.toUpperCase() === 'B' ? Buffer.from(text, 'base64').toString('utf8') : readable(text.replace(/_/g, ' '))));
const count = (portal: { deps: { db: { $client: { prepare(s: string): { get(): unknown } } } } }, table: string) => (portal.deps.db.$client.prepare(`select count(*) as n from ${table}`).get() as { n: number }).n;

test('safe to delete: the managers are mailed once per credential, by the daily job or send-expiry-reminders --now; the expiry reminder says so instead of asking to rotate', async (t) => {
  const smtp = await startSmtp(t);
  const portal = await startPortal(t, { SMTP_URL: smtp.url, PORTAL_TIMEZONE: 'UTC' }, '2026-11-10T10:00:00Z');
  const world = await buildWorld(portal);
  // "Old" expires on 24 Nov: on 19 Nov, five days before, its 7-day reminder is due.
  await takeOver(portal, world.appA1, 14);
  await portal.deps.mailer.idle();
  const nudges = () => smtp.messages.filter((m) => / is safe to delete$/.test(subject(m.raw)));
  const reminders = () => smtp.messages.filter((m) => /expires in/.test(subject(m.raw)));

  const first = await runDailyJob(portal.deps);
  assert.equal(first.safeToDelete.sent, 1);
  assert.equal(nudges().length, 1);
  const nudge = nudges()[0]!;
  assert.equal(subject(nudge.raw), 'Client secret “Old” of Partner-NL-HospitalA-DM is safe to delete');
  assert.deepEqual(nudge.to, ['a1@hospital-a.example']);
  assert.match(readable(nudge.raw), /Not used for 9 days; “Secret by VM 2026” took over on 12 Nov 2026: safe to delete\./);

  // The expiry reminder for the same secret says it is safe to delete, not how to rotate.
  assert.equal(reminders().length, 1);
  const reminder = readable(reminders()[0]!.raw);
  assert.match(reminder, /safe to delete\. No system needs it any more/);
  assert.doesNotMatch(reminder, /To rotate the/);

  // A second run, and the command line with --now: no second nudge.
  const again = await runDailyJob(portal.deps);
  assert.equal(again.safeToDelete.sent, 0);
  portal.settle();
  const cli = await cliInProcess(['send-expiry-reminders', '--now', new Date(portal.clock.now() + 3_600_000).toISOString()], { DATA_DIR: portal.dataDir, BASE_URL: portal.baseUrl, SMTP_URL: smtp.url, PORTAL_TIMEZONE: 'UTC' });
  assert.equal(cli.code, 0, cli.stderr);
  assert.match(cli.stdout, /safe to delete: 0 mails/);
  assert.equal(nudges().length, 1, 'exactly once across runs');
});

test('send-expiry-reminders --now sends the nudge when it is the first to see it; a refused mail is tried again on the next run', async (t) => {
  const smtp = await startSmtp(t);
  const portal = await startPortal(t, { SMTP_URL: smtp.url, PORTAL_TIMEZONE: 'UTC' }, '2026-11-10T10:00:00Z');
  const world = await buildWorld(portal);
  await takeOver(portal, world.appA1);
  await portal.deps.mailer.idle();
  const env = { DATA_DIR: portal.dataDir, BASE_URL: portal.baseUrl, SMTP_URL: smtp.url, PORTAL_TIMEZONE: 'UTC' };
  const now = new Date(portal.clock.now()).toISOString();
  smtp.setMode('refuse');
  const refused = await cliInProcess(['send-expiry-reminders', '--now', now], env);
  assert.match(refused.stdout, /safe to delete: 0 mails, 1 failed/);
  const listed = () => portal.deps.db.$client.prepare("select what, recipients, attempts from mail_failures where what = 'safe-to-delete mail'").all();
  assert.deepEqual(listed(), [{ what: 'safe-to-delete mail', recipients: 'a1@hospital-a.example', attempts: 1 }], 'listed on the console\'s Mail page');
  smtp.setMode('accept');
  const sent = await cliInProcess(['send-expiry-reminders', '--now', now], env);
  assert.equal(sent.code, 0, sent.stderr);
  assert.match(sent.stdout, /safe to delete: 1 mail\b/);
  assert.deepEqual(listed(), [], 'and no longer once accepted');
  const later = await cliInProcess(['send-expiry-reminders', '--now', now], env);
  assert.match(later.stdout, /safe to delete: 0 mails/);
  assert.equal(smtp.messages.filter((m) => / is safe to delete$/.test(subject(m.raw))).length, 1);
});

test('the daily job prunes usage, refusals and hours older than they are kept', async (t) => {
  const portal = await startPortal(t, { PORTAL_TIMEZONE: 'UTC' }, '2026-08-01T10:00:00Z');
  const world = await buildWorld(portal);
  await takeOver(portal, world.appA1);
  assert.ok(count(portal, 'credential_usage') >= 3);
  assert.equal(count(portal, 'token_refusals'), 1);
  // 91 days on: one more request and refusal today, then the job.
  portal.clock.advance(91 * DAY);
  const fresh = secretFor(portal, world.appA1, 'Fresh');
  assert.equal((await tokenFrom(portal, '127.0.0.3', world.appA1, fresh.secret, 'curl/8.5.0')).status, 200);
  assert.equal((await tokenFrom(portal, '127.0.0.4', world.appA1, 'wrong', 'curl/8.5.0')).status, 401);
  portal.settle();
  await runDailyJob(portal.deps);
  const days = portal.deps.db.$client.prepare('select day from credential_usage').all() as Array<{ day: string }>;
  assert.deepEqual(days.map((d) => d.day), ['2026-11-09'], 'only today is left');
  assert.equal(count(portal, 'token_refusals'), 1);
  assert.equal(count(portal, 'credential_usage_hours'), 1);
});
