import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import { eq } from 'drizzle-orm';
import { startPortal, type TestPortal } from '../helpers/portal.ts';
import { startSmtp, startSilentServer, readable, header } from '../helpers/smtp.ts';
import { makeApplication, makeOrganisation, withoutNotices } from '../helpers/fixtures.ts';
import { createAdmin, signIn } from '../helpers/accounts.ts';
import { fixedClock } from '../../server/lib/clock.ts';
import { cliActor } from '../../server/audit/audit.ts';
import { createClientSecret, deleteClientSecret } from '../../server/credentials/secrets.ts';
import { findApplicationByClientId } from '../../server/admin/applications.ts';
import { sendExpiryReminders } from '../../server/reminders/run.ts';
import { createMailer } from '../../server/mail/mailer.ts';
import { inviteUser } from '../../server/admin/users.ts';
import { addDays, startOfDateInZone } from '../../server/lib/dates.ts';
import { applications, remindersSent, users } from '../../db/schema.ts';

const TZ = 'Pacific/Auckland';
const EXPIRES = '2027-06-30';

// A portal in a non-UTC zone whose "today" is well before EXPIRES, an organisation,
// an application with two managers, a manager of another application, a user
// without the role, and one secret expiring on EXPIRES.
async function world(t: Parameters<typeof startPortal>[0], env: Record<string, string> = {}, timeouts?: { connectionTimeout: number; greetingTimeout: number; socketTimeout: number }) {
  const portal = await startPortal(t, { PORTAL_TIMEZONE: TZ, ...env }, '2027-01-10T12:00:00Z', { mailTimeouts: timeouts });
  const org = makeOrganisation(portal, 'Hospital A');
  const clientId = makeApplication(portal, org, 'Partner-NL-HospitalA-DM');
  const otherClientId = makeApplication(portal, org, 'Partner-NL-HospitalA-SMC', ['SMC']);
  const invite = (email: string, managerOf: string[]) => {
    const r = inviteUser(portal.deps.db, portal.clock, cliActor, { organisationId: org, email, name: email.split('@')[0], managerOf });
    assert.ok(r.ok);
    // As if they had finished setup: security notices go only to people who have.
    portal.deps.db.update(users).set({ passwordHash: 'set up', totpSecret: 'set up' }).where(eq(users.id, r.value.userId)).run();
    return r.value.userId;
  };
  invite('m1@hospital-a.example', [clientId]);
  invite('m2@hospital-a.example', [clientId]);
  const disabled = invite('gone@hospital-a.example', [clientId]);
  portal.deps.db.update(users).set({ disabledAt: portal.clock.now() }).where(eq(users.id, disabled)).run();
  invite('other@hospital-a.example', [otherClientId]);
  invite('plain@hospital-a.example', []);
  const app = findApplicationByClientId(portal.deps.db, clientId)!;
  const created = createClientSecret(withoutNotices(portal.deps), cliActor, app, { name: 'Secret by VM', expires: EXPIRES });
  assert.ok(created.ok);
  return { portal, org, clientId, otherClientId, app, secretId: created.value.row.id };
}

// The instant a local calendar date and time happens in TZ.
const at = (date: string, hh = 0, mm = 0) => startOfDateInZone(date, TZ) + (hh * 60 + mm) * 60_000;

function run(portal: TestPortal, when: number) {
  return sendExpiryReminders({ ...portal.deps, clock: fixedClock(when) });
}

test('thresholds fire at their exact local-day boundaries in a non-UTC zone, each once, then once after expiry', async (t) => {
  const smtp = await startSmtp(t);
  const { portal, clientId } = await world(t, { SMTP_URL: smtp.url });
  const expectations: Array<[number, number, string]> = [
    [at(addDays(EXPIRES, -31), 23, 59), 0, '31 days left: nothing yet'],
    [at(addDays(EXPIRES, -30), 0, 0), 1, 'the first minute of the day with 30 days left'],
    [at(addDays(EXPIRES, -30), 7, 0), 1, 'the same day again: nothing new'],
    [at(addDays(EXPIRES, -15), 7, 0), 1, '15 days: nothing'],
    [at(addDays(EXPIRES, -14), 0, 0), 2, '14 days'],
    [at(addDays(EXPIRES, -8), 23, 59), 2, '8 days'],
    [at(addDays(EXPIRES, -7), 0, 0), 3, '7 days'],
    [at(addDays(EXPIRES, -1), 7, 0), 4, '1 day'],
    [at(EXPIRES, 23, 59), 4, 'the last minute of the expiry date: no "expired" yet'],
    [at(addDays(EXPIRES, 1), 0, 0), 5, 'the day after expiry'],
    [at(addDays(EXPIRES, 2), 7, 0), 5, 'never again'],
  ];
  for (const [when, total, label] of expectations) {
    await run(portal, when);
    assert.equal(smtp.messages.length, total, label);
  }
  const subjects = smtp.messages.map((m) => header(m.raw, 'Subject'));
  assert.deepEqual(subjects, [
    'Client secret of Partner-NL-HospitalA-DM expires in 30 days',
    'Client secret of Partner-NL-HospitalA-DM expires in 14 days',
    'Client secret of Partner-NL-HospitalA-DM expires in 7 days',
    'Client secret of Partner-NL-HospitalA-DM expires in 1 day',
    'Client secret of Partner-NL-HospitalA-DM has expired',
  ]);
  const first = smtp.messages[0]!;
  assert.deepEqual(first.to.sort(), ['m1@hospital-a.example', 'm2@hospital-a.example'], 'only the active managers of that application');
  const body = readable(first.raw);
  for (const part of ['Partner-NL-HospitalA-DM', clientId, 'Secret by VM', '30 days left', '30 Jun 2027', `${portal.baseUrl}/manage-api-credentials`, 'Confirm that they connect', 'Content-Type: text/html', 'Content-Type: text/plain']) {
    assert.ok(body.includes(part), `the mail contains ${part}`);
  }
  assert.doesNotMatch(body, /already has a newer secret/);
});

test('no duplicates across repeated runs and across concurrent processes', async (t) => {
  const smtp = await startSmtp(t);
  const { portal } = await world(t, { SMTP_URL: smtp.url });
  const when = new Date(at(addDays(EXPIRES, -7), 7)).toISOString();
  const cli = () =>
    new Promise<{ code: number | null; out: string }>((resolve) => {
      const child = spawn(process.execPath, ['--import', 'tsx', 'server/cli/cli.ts', 'send-expiry-reminders', '--now', when], {
        env: { ...process.env, DATA_DIR: portal.dataDir, BASE_URL: portal.baseUrl, PORTAL_ENV: 'production', SMTP_URL: smtp.url, PORTAL_TIMEZONE: TZ },
      });
      let out = '';
      child.stdout.on('data', (d) => (out += d));
      child.on('exit', (code) => resolve({ code, out: out.trim() }));
    });
  const results = await Promise.all([cli(), run(portal, Date.parse(when)), run(portal, Date.parse(when)), run(portal, Date.parse(when))]);
  const cliResults = results.slice(0, 1) as Array<{ code: number | null; out: string }>;
  for (const r of cliResults) {
    assert.equal(r.code, 0);
    // The daily job's line goes on with the safe-to-delete count.
    assert.match(r.out, /^considered \d+ secrets?, sent [01] mails?, 0 failures, 0 left for the next run\b/);
  }
  assert.equal(smtp.messages.length, 1, 'one mail, however many runs at once');
  await run(portal, Date.parse(when) + 3600_000);
  assert.equal(smtp.messages.length, 1, 'and none on a later run');
  const rows = portal.deps.db.select().from(remindersSent).all();
  assert.equal(rows.length, 1);
  assert.equal(rows[0]!.threshold, 7);
  assert.ok(rows[0]!.sentAt);
});

test('SMTP refusing: nothing marked sent, the next run retries', async (t) => {
  const smtp = await startSmtp(t);
  const { portal } = await world(t, { SMTP_URL: smtp.url });
  smtp.setMode('refuse');
  const failed = await run(portal, at(addDays(EXPIRES, -14), 7));
  assert.deepEqual(failed, { considered: 1, sent: 0, failed: 1, left: 0 });
  assert.equal(portal.deps.db.select().from(remindersSent).all().length, 0, 'the claim was released');
  assert.ok(portal.logs.some((l) => l.includes('expiry reminder failed')));
  smtp.setMode('accept');
  const retried = await run(portal, at(addDays(EXPIRES, -14), 8));
  assert.deepEqual(retried, { considered: 1, sent: 1, failed: 0, left: 0 });
  assert.equal(smtp.messages.length, 1);
});

test('SMTP hanging: the job ends in bounded time, nothing is marked sent, and the web server keeps answering', async (t) => {
  const silent = await startSilentServer(t);
  const { portal } = await world(t, { SMTP_URL: silent.url }, { connectionTimeout: 400, greetingTimeout: 400, socketTimeout: 800 });
  const started = Date.now();
  const job = run(portal, at(addDays(EXPIRES, -7), 7));
  const health = await fetch(`${portal.baseUrl}/healthz`);
  assert.equal(health.status, 200, 'web requests are answered while SMTP hangs');
  const login = await fetch(`${portal.baseUrl}/login`);
  assert.equal(login.status, 200);
  const summary = await job;
  assert.ok(Date.now() - started < 5000, 'bounded by the SMTP timeouts');
  assert.deepEqual(summary, { considered: 1, sent: 0, failed: 1, left: 0 });
  assert.equal(portal.deps.db.select().from(remindersSent).all().length, 0);
  assert.ok(silent.connections() >= 1, 'the mailer did try');
});

test('a reminder run has an overall deadline: against SMTP that never answers it stops in time, marks nothing sent, and the next run sends', async (t) => {
  const silent = await startSilentServer(t);
  const smtp = await startSmtp(t);
  // Default SMTP timeouts (10 s greeting): only the run's own deadline can stop it early.
  const { portal, app } = await world(t, { SMTP_URL: silent.url, REMINDER_DEADLINE_SECONDS: '2' });
  for (const name of ['second', 'third']) assert.ok(createClientSecret(withoutNotices(portal.deps), cliActor, app, { name, expires: EXPIRES }).ok);
  const when = at(addDays(EXPIRES, -7), 7);
  const started = Date.now();
  const summary = await run(portal, when);
  const took = Date.now() - started;
  assert.ok(took >= 1900 && took < 3500, `ended by its 2 s deadline (${took} ms)`);
  assert.deepEqual(summary, { considered: 3, sent: 0, failed: 0, left: 3 });
  assert.equal(portal.deps.db.select().from(remindersSent).all().length, 0, 'nothing is marked sent or left claimed');
  assert.ok(portal.logs.some((l) => l.includes('deadline reached')));
  const working = createMailer({ ...portal.deps.config, smtpUrl: smtp.url }, portal.deps.logger);
  t.after(() => working.close());
  const next = await sendExpiryReminders({ ...portal.deps, mailer: working, clock: fixedClock(when + 3600_000) });
  assert.deepEqual(next, { considered: 3, sent: 3, failed: 0, left: 0 }, 'the next run sends all three');
  assert.equal(smtp.messages.length, 3);
});

test('deleted secrets get no reminder; a crossed-over period gives one mail, for the nearest threshold', async (t) => {
  const smtp = await startSmtp(t);
  const { portal, app, secretId } = await world(t, { SMTP_URL: smtp.url });
  const second = createClientSecret(withoutNotices(portal.deps), cliActor, app, { name: 'Second', expires: EXPIRES });
  assert.ok(second.ok);
  deleteClientSecret(withoutNotices(portal.deps), cliActor, app, second.value.row.id);
  // Down since long before the 30-day mark; back 5 days before expiry: only the 7-day mail.
  const summary = await run(portal, at(addDays(EXPIRES, -5), 9));
  assert.equal(summary.sent, 1);
  assert.equal(smtp.messages.length, 1, 'one mail per secret, not one per missed threshold');
  assert.match(header(smtp.messages[0]!.raw, 'Subject')!, /expires in 5 days/);
  const rows = portal.deps.db.select().from(remindersSent).all();
  assert.deepEqual(rows.map((r) => [r.secretId, r.threshold]), [[secretId, 7]]);
  await run(portal, at(addDays(EXPIRES, -4), 9));
  assert.equal(smtp.messages.length, 1);
});

test('a newer active secret adds the line suggesting the old one be deleted', async (t) => {
  const smtp = await startSmtp(t);
  const { portal, app } = await world(t, { SMTP_URL: smtp.url });
  portal.clock.advance(60_000);
  const newer = createClientSecret(withoutNotices(portal.deps), cliActor, app, { name: 'Rotated by VM', expires: addDays(EXPIRES, 60) });
  assert.ok(newer.ok);
  await run(portal, at(addDays(EXPIRES, -14), 7));
  assert.equal(smtp.messages.length, 1, 'the newer secret is not due yet');
  const body = readable(smtp.messages[0]!.raw);
  assert.match(body, /already has a newer secret \(“Rotated by VM”/);
  assert.match(body, /delete the old secret/);
});

test('names with CR/LF cannot inject headers into mail', async (t) => {
  const smtp = await startSmtp(t);
  const { portal, clientId } = await world(t, { SMTP_URL: smtp.url });
  portal.deps.db.update(applications).set({ name: 'Evil\r\nBcc: attacker@evil.example\r\nX-Injected: yes' }).where(eq(applications.clientId, clientId)).run();
  portal.deps.db.update(users).set({ displayName: 'M1\r\nBcc: attacker@evil.example' }).where(eq(users.email, 'm1@hospital-a.example')).run();
  await run(portal, at(addDays(EXPIRES, -7), 7));
  assert.equal(smtp.messages.length, 1);
  const m = smtp.messages[0]!;
  assert.deepEqual(m.to.sort(), ['m1@hospital-a.example', 'm2@hospital-a.example'], 'no extra recipient');
  const head = m.raw.split(/\r?\n\r?\n/)[0]!;
  assert.doesNotMatch(head, /^Bcc:/im);
  assert.doesNotMatch(head, /^X-Injected:/im);
  assert.ok(!JSON.stringify(m.to).includes('evil'));
});

test('without SMTP_URL, mail is written to DATA_DIR/outbox and a sandbox administrator can read it', async (t) => {
  const { portal } = await world(t, { PORTAL_ENV: 'sandbox' });
  const summary = await run(portal, at(addDays(EXPIRES, -7), 7));
  assert.equal(summary.sent, 1);
  const files = fs.readdirSync(`${portal.dataDir}/outbox`);
  assert.equal(files.length, 1);
  assert.match(fs.readFileSync(`${portal.dataDir}/outbox/${files[0]}`, 'utf8').replace(/\r\n /g, ' '), /Subject: \[Sandbox\] Client secret of Partner-NL-HospitalA-DM expires in 7 days/);
  const admin = await createAdmin(portal);
  const c = await signIn(portal, admin);
  const list = await c.get('/admin/outbox');
  assert.equal(list.status, 200);
  assert.match(list.text, /expires in 7 days/);
  const message = await c.get(`/admin/outbox/${files[0]}`);
  assert.equal(message.status, 200);
  assert.match(message.text, /Secret by VM/);
  assert.match(message.text, /m1@hospital-a\.example&gt;, .*m2@hospital-a\.example/, 'every recipient');
  assert.match(message.text, /<iframe class="mail-html" title="HTML part of the message" sandbox srcdoc="[^"]*&lt;table/, 'the HTML part, sandboxed and escaped');
  assert.match(message.text, /secret-expiry\.ics/, 'the attachment is listed');
  assert.equal((await c.get('/admin/outbox/..%2Fportal.sqlite')).status, 404);
});

test('keys and certificates get expiry reminders too, once per threshold, with their own wording', async (t) => {
  const smtp = await startSmtp(t);
  const { portal, app } = await world(t, { SMTP_URL: smtp.url });
  const { generateKeyPairSync } = await import('node:crypto');
  const { addPublicKey } = await import('../../server/credentials/public-keys.ts');
  const key = generateKeyPairSync('ed25519').publicKey.export({ format: 'pem', type: 'spki' }).toString();
  const added = addPublicKey(portal.deps, cliActor, app, { name: 'Signing key', key, expires: addDays(EXPIRES, -60) });
  assert.ok(added.ok);
  // Move the key's expiry to EXPIRES, like the secret's (the domain caps new keys at a year from today).
  portal.deps.db.$client.prepare('update client_keys set expires_on = ?, expires_at = ? where id = ?').run(EXPIRES, startOfDateInZone(addDays(EXPIRES, 1), TZ), added.value.row.id);
  await portal.deps.mailer.idle();
  const notice = smtp.messages.find((m) => header(m.raw, 'Subject') === 'Certificate or public key added for Partner-NL-HospitalA-DM');
  assert.ok(notice, 'the managers are told when a key is added');
  assert.match(readable(notice.raw), /^Key: +Signing key \(/m);
  const first = await run(portal, at(addDays(EXPIRES, -7), 7));
  assert.deepEqual(first, { considered: 2, sent: 2, failed: 0, left: 0 });
  const subjects = smtp.messages.map((m) => header(m.raw, 'Subject'));
  assert.ok(subjects.includes('Public key of Partner-NL-HospitalA-DM expires in 7 days'), subjects.join(' | '));
  const text = readable(smtp.messages.find((m) => header(m.raw, 'Subject')!.startsWith('Public key'))!.raw);
  assert.match(text, /To rotate the public key:/);
  assert.match(text, new RegExp(`Public key:\\s+Signing key \\(${added.value.row.thumbprint.slice(0, 8)}`));
  const again = await run(portal, at(addDays(EXPIRES, -7), 9));
  assert.equal(again.sent, 0, 'no duplicate');
});
