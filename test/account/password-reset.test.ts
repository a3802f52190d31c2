// "Forgot your password?" end to end against a real SMTP server on loopback: the link is
// read out of the mail received; the second factor comes before the new password; other
// sessions end and a notice is mailed; the same answer for every address; links used
// once, for 30 minutes, throttled; the token never stored or logged as such.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { eq } from 'drizzle-orm';
import { startPortal, type TestPortal } from '../helpers/portal.ts';
import { startSmtp, header, readable } from '../helpers/smtp.ts';
import { makeApplication, makeOrganisation } from '../helpers/fixtures.ts';
import { createUser, nextCode, passwordStep, signIn, type Account } from '../helpers/accounts.ts';
import { decodeHtml, type Client } from '../helpers/http.ts';
import { cliActor } from '../../server/audit/audit.ts';
import { inviteUser } from '../../server/admin/users.ts';
import { sha256Hex } from '../../server/lib/crypto.ts';
import { auditEvents, passkeys, passwordResets, recoveryCodes, users } from '../../db/schema.ts';
import { softAuthenticator, type ChallengeOptions } from './soft-authenticator.ts';
import { MAX_LINKS_PER_HOUR, RESET_LIFETIME_MS } from '../../server/account/password-reset.ts';
import { RESET_REQUESTS_PER_IP } from '../../server/account/reset-routes.ts';

const NEW_PASSWORD = 'a brand new harbour lantern';

async function world(t: Parameters<typeof startPortal>[0]) {
  const smtp = await startSmtp(t);
  const portal = await startPortal(t, { SMTP_URL: smtp.url, PORTAL_ENV: 'production', SUPPORT_EMAIL: 'help@association.example' });
  const org = makeOrganisation(portal, 'Hospital A');
  const clientId = makeApplication(portal, org, 'Partner-NL-HospitalA-DM');
  const account = await createUser(portal, org, 'vera@hospital-a.example', [clientId]);
  return { smtp, portal, org, account };
}

async function askForLink(c: Client, email: string) {
  await c.get('/password/forgot');
  return c.post('/password/forgot', { email });
}

const asked = new WeakMap<TestPortal, number>();

// The link in the newest mail to `to` with this subject, as a person would click it.
async function linkFromMail(portal: TestPortal, smtp: Awaited<ReturnType<typeof startSmtp>>, to: string): Promise<string> {
  // The request is answered first and its work done just after: wait for that work's mail.
  const count = () => portal.deps.db.$client.prepare('select count(*) as n from audit_events where action = ?').get('password.reset_requested') as { n: number };
  const before = asked.get(portal) ?? 0;
  for (let i = 0; i < 200 && count().n <= before; i++) await new Promise((r) => setImmediate(r));
  asked.set(portal, count().n);
  await portal.deps.mailer.idle();
  const mail = smtp.messages.filter((m) => m.to.includes(to) && header(m.raw, 'Subject') === 'Choose a new password for the Credentials Portal').at(-1);
  assert.ok(mail, 'the reset mail arrived');
  const m = new RegExp(`${portal.baseUrl}(/password/reset/[A-Za-z0-9_-]+)`).exec(readable(mail.raw));
  assert.ok(m, 'the mail carries the link');
  return m[1]!;
}

test('the whole flow: link by mail, a code before the new password, other sessions ended, a notice mailed, audited', async (t) => {
  const { smtp, portal, account } = await world(t);
  const elsewhere = await signIn(portal, account);
  assert.equal((await elsewhere.get('/manage-api-credentials')).status, 200);

  const c = portal.client();
  const login = await c.get('/login');
  assert.match(login.text, /<a href="\/password\/forgot">Forgot your password\?<\/a>/);
  const asked = await askForLink(c, 'Vera@Hospital-A.example ');
  assert.equal(asked.status, 200);
  assert.match(decodeHtml(asked.text), /If an account uses <strong>vera@hospital-a.example<\/strong>, we have mailed it a link to choose a new password\. The link works once, for 30 minutes\./);
  const path = await linkFromMail(portal, smtp, account.email);
  const token = path.split('/').pop()!;
  const row = portal.deps.db.select().from(passwordResets).get()!;
  assert.equal(row.tokenHash, sha256Hex(token), 'stored as a hash');
  assert.ok(!JSON.stringify(portal.deps.db.$client.prepare('select * from password_resets').all()).includes(token), 'never as itself');

  const shown = await c.get(path);
  assert.equal(shown.status, 200, 'a GET changes nothing: a page with Continue');
  assert.equal(shown.headers.get('referrer-policy'), 'same-origin', 'the token never leaves in a Referer for another site');
  assert.match(decodeHtml(shown.text), /For <strong>vera@hospital-a\.example<\/strong>\./);
  const opened = await c.post(path);
  assert.equal(opened.status, 303);
  assert.equal(opened.location, '/password/reset', 'the token leaves the address bar at once');
  let page = await c.get('/password/reset');
  assert.equal(page.status, 200);
  assert.equal(page.headers.get('cache-control'), 'no-store');
  assert.match(page.text, /First prove it is you/);
  assert.doesNotMatch(page.text, /name="password"/, 'no password field before the second factor');

  const early = await c.post('/password/reset', { password: NEW_PASSWORD, password_confirm: NEW_PASSWORD });
  assert.equal(early.status, 403, 'a link alone changes nothing');
  const wrong = await c.post('/password/reset/verify', { code: '000000' });
  assert.equal(wrong.status, 401);
  assert.match(decodeHtml(wrong.text), /That code is not valid\..* 4 tries left before verification is locked for 15 minutes\./);
  const proven = await c.post('/password/reset/verify', { code: nextCode(portal, account.key) });
  assert.equal(proven.status, 303);
  page = await c.get('/password/reset');
  assert.match(page.text, /Your second factor was accepted/);

  for (const [password, confirm, message] of [
    ['short', 'short', 'Use at least 12 characters.'],
    ['password1234!', 'password1234!', 'This password is too common.'],
    [NEW_PASSWORD, 'something else entirely', 'The two passwords do not match.'],
  ] as const) {
    const refused = await c.post('/password/reset', { password, password_confirm: confirm });
    assert.equal(refused.status, 422, message);
    assert.match(refused.text, new RegExp(`<p class="field-error" id="password-error">${message.replace(/[.?]/g, '\\$&')}`));
  }
  const done = await c.post('/password/reset', { password: NEW_PASSWORD, password_confirm: NEW_PASSWORD });
  assert.equal(done.status, 303);
  assert.equal(done.location, '/login?reset=1');
  assert.match((await c.get('/login?reset=1')).text, /Your password was changed and every session of your account was ended/);

  assert.equal((await elsewhere.get('/manage-api-credentials')).status, 303, 'the other session has ended');
  await portal.deps.mailer.idle();
  const notice = smtp.messages.find((m) => header(m.raw, 'Subject') === 'Your password was reset');
  assert.ok(notice, 'the notice was mailed');
  assert.deepEqual(notice.to, [account.email]);
  assert.match(readable(notice.raw), /every session of your account was ended/);

  const oldClient = portal.client();
  await oldClient.get('/login');
  const old = await oldClient.post('/login', { email: account.email, password: account.password });
  assert.equal(old.status, 401, 'the old password no longer works');
  await signIn(portal, { ...account, password: NEW_PASSWORD });
  assert.equal((await portal.client().get(path)).status, 410, 'the link worked once');

  const actions = portal.deps.db.select({ action: auditEvents.action }).from(auditEvents).all().map((a) => a.action);
  for (const a of ['password.reset_requested', 'login.mfa_failed', 'password.reset']) assert.ok(actions.includes(a), `audited: ${a}`);
  assert.ok(!portal.logs.some((l) => l.includes(token)), 'the token is in no log line');
  assert.ok(portal.logs.some((l) => l.includes('/password/reset/[token]')), 'the request log masks it');
});

test('the same answer for an unknown address, a pending invitation and a disabled account; none of them is mailed', async (t) => {
  const { smtp, portal, org, account } = await world(t);
  assert.ok(inviteUser(portal.deps.db, portal.clock, cliActor, { organisationId: org, email: 'pending@hospital-a.example', managerOf: [] }).ok);
  const gone = await createUser(portal, org, 'gone@hospital-a.example');
  portal.deps.db.update(users).set({ disabledAt: portal.clock.now() }).where(eq(users.email, gone.email)).run();
  const answers = [];
  for (const email of [account.email, 'nobody@hospital-a.example', 'pending@hospital-a.example', gone.email]) {
    const r = await askForLink(portal.client(), email);
    answers.push({ status: r.status, text: decodeHtml(r.text).replace(/name="_csrf" value="[^"]+"/, '').replace(/"X-CSRF-Token":"[^"]+"/, '').replace(email, 'E') });
  }
  for (const a of answers.slice(1)) assert.deepEqual(a, answers[0], 'indistinguishable');
  await portal.deps.mailer.idle();
  assert.deepEqual(smtp.messages.map((m) => m.to), [[account.email]], 'only the real, set-up, enabled account is mailed');
  const bad = await askForLink(portal.client(), 'not an address');
  assert.equal(bad.status, 422);
  assert.match(bad.text, /id="email-error">Enter a valid email address/);
});

test('links last 30 minutes, a newer one does not void the older (a stranger asking cannot kill the owner\'s link), a reset with one ends them all, at most three an hour per account, and an address is throttled', async (t) => {
  const { smtp, portal, account } = await world(t);
  const c = portal.client();
  await askForLink(c, account.email);
  const first = await linkFromMail(portal, smtp, account.email);
  portal.clock.advance(RESET_LIFETIME_MS + 1000);
  const late = await c.get(first);
  assert.equal(late.status, 410);
  assert.match(late.text, /This link has expired \(links work for 30 minutes\)/);

  await askForLink(c, account.email);
  const second = await linkFromMail(portal, smtp, account.email);
  await askForLink(c, account.email);
  const third = await linkFromMail(portal, smtp, account.email);
  assert.notEqual(second, third);
  assert.equal((await c.get(second)).status, 200, 'the older link still works');
  assert.equal((await c.post(third)).status, 303);
  await askForLink(c, account.email);
  await portal.deps.mailer.idle();
  assert.equal(smtp.messages.length, MAX_LINKS_PER_HOUR, `no more than ${MAX_LINKS_PER_HOUR} links an hour`);

  const other = portal.client();
  // Three requests in this 15-minute window so far (the clock moved past the first one's).
  for (let i = 3; i < RESET_REQUESTS_PER_IP; i++) assert.equal((await askForLink(other, 'someone@example.org')).status, 200);
  const throttled = await askForLink(other, 'someone@example.org');
  assert.equal(throttled.status, 429, 'five requests per address and 15 minutes');
  assert.match(throttled.text, /Too many requests from your network/);
  assert.ok(throttled.headers.get('retry-after'));
});

async function openLink(portal: TestPortal, smtp: Awaited<ReturnType<typeof startSmtp>>, account: Account) {
  const c = portal.client();
  await askForLink(c, account.email);
  const link = await linkFromMail(portal, smtp, account.email);
  assert.equal((await c.get(link)).status, 200);
  assert.equal((await c.post(link)).status, 303);
  return c;
}

test('a recovery code proves it too; with no recovery code or passkey left the page names SUPPORT_EMAIL', async (t) => {
  const { smtp, portal, account } = await world(t);
  const c = await openLink(portal, smtp, account);
  assert.match((await c.get('/password/reset')).text, /Lost your authenticator app, recovery codes and passkeys\? Contact <a href="mailto:help@association.example">/);
  assert.equal((await c.post('/password/reset/verify', { code: account.recoveryCodes[0]! })).status, 303, 'a recovery code is accepted');
  assert.match((await c.get('/password/reset')).text, /Your second factor was accepted/);

  const user = portal.deps.db.select().from(users).where(eq(users.email, account.email)).get()!;
  portal.deps.db.update(recoveryCodes).set({ usedAt: portal.clock.now() }).where(eq(recoveryCodes.userId, user.id)).run();
  const d = await openLink(portal, smtp, account);
  assert.match(decodeHtml((await d.get('/password/reset')).text), /You have no recovery codes or passkeys left\. If you no longer have your authenticator app either, there is no second factor left to prove it is you: contact <a href="mailto:help@association.example">/);
  // No factor at all (the authenticator gone too): no form, only whom to contact.
  portal.deps.db.update(users).set({ totpSecret: null }).where(eq(users.id, user.id)).run();
  const none = await d.get('/password/reset');
  assert.match(none.text, /has no second factor left .*Contact <a href="mailto:help@association.example">/);
  assert.doesNotMatch(none.text, /action="\/password\/reset\/verify"/);
});

test('a wrong code on sign-in says how many tries are left before the lock-out', async (t) => {
  const { portal, account } = await world(t);
  const c = portal.client();
  await passwordStep(c, account);
  for (const left of ['4 tries', '3 tries', '2 tries', '1 try']) {
    const r = await c.post('/login/verify', { code: '000000' });
    assert.equal(r.status, 401);
    assert.match(decodeHtml(r.text), new RegExp(`${left} left before verification is locked for 15 minutes`));
  }
  const locked = await c.post('/login/verify', { code: '000000' });
  assert.equal(locked.status, 429);
  assert.match(locked.text, /Too many wrong codes/);
});

test('a passkey proves it instead of a code (over the JSON endpoints public/passkeys.js uses); a passkey of another account does not', async (t) => {
  const smtp = await startSmtp(t);
  const portal = await startPortal(t, { SMTP_URL: smtp.url, PORTAL_ENV: 'production' }, Date.now(), { hostname: 'localhost' });
  const org = makeOrganisation(portal, 'Hospital A');
  const account = await createUser(portal, org, 'vera@hospital-a.example', [makeApplication(portal, org, 'Partner-NL-HospitalA-DM')]);
  const other = await createUser(portal, org, 'max@hospital-a.example');
  const idOf = (email: string) => portal.deps.db.select({ id: users.id }).from(users).where(eq(users.email, email)).get()!.id;
  const mine = softAuthenticator();
  const theirs = softAuthenticator();
  for (const [key, email] of [[mine, account.email], [theirs, other.email]] as const) {
    portal.deps.db.insert(passkeys).values({ id: key.id, userId: idOf(email), name: 'Laptop', publicKey: key.publicKeyCose, counter: 0, transports: '["internal"]', createdAt: portal.clock.now() }).run();
  }
  const c = await openLink(portal, smtp, account);
  const page = await c.get('/password/reset');
  assert.match(page.text, /data-passkey-sign-in="\/password\/reset\/passkey">Use a passkey/);
  const post = (path: string, body: unknown) => c.request('POST', path, { body: JSON.stringify(body), headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': c.csrf } });

  let options = JSON.parse((await post('/password/reset/passkey/options', {})).text) as ChallengeOptions;
  const refused = await post('/password/reset/passkey', { response: theirs.authenticate(options, portal.baseUrl) });
  assert.equal(refused.status, 401, 'another account\'s passkey');
  assert.doesNotMatch((await c.get('/password/reset')).text, /second factor was accepted/);

  options = JSON.parse((await post('/password/reset/passkey/options', {})).text) as ChallengeOptions;
  const accepted = await post('/password/reset/passkey', { response: mine.authenticate(options, portal.baseUrl) });
  assert.equal(accepted.status, 200, accepted.text);
  assert.deepEqual(JSON.parse(accepted.text), { ok: true, redirect: '/password/reset' });
  assert.match((await c.get('/password/reset')).text, /Your second factor was accepted/);
  assert.equal((await c.post('/password/reset', { password: NEW_PASSWORD, password_confirm: NEW_PASSWORD })).status, 303);
  await signIn(portal, { ...account, password: NEW_PASSWORD });
});

test('in production without SMTP_URL the page says a link cannot reach you and names SUPPORT_EMAIL, instead of pretending to mail one', async (t) => {
  const portal = await startPortal(t, { PORTAL_ENV: 'production', SUPPORT_EMAIL: 'help@association.example' });
  const org = makeOrganisation(portal, 'Hospital A');
  const account = await createUser(portal, org, 'vera@hospital-a.example');
  const c = portal.client();
  const page = await c.get('/password/forgot');
  assert.match(page.text, /This portal cannot send mail at the moment, so a link to choose a new password would not reach you\. Contact <a href="mailto:help@association.example">/);
  assert.doesNotMatch(page.text, /action="\/password\/forgot"/);
  await c.get('/login'); // a CSRF token, as a form posted from elsewhere on the site would carry
  const posted = await c.post('/password/forgot', { email: account.email });
  assert.equal(posted.status, 503);
  assert.doesNotMatch(posted.text, /we have mailed it a link/);
  assert.equal(portal.deps.db.select().from(passwordResets).all().length, 0, 'no link made');
});
