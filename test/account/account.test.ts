// The account page over real HTTP: password, authenticator app, recovery codes,
// sessions and activity; every change mailed to the user.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { eq } from 'drizzle-orm';
import { startPortal } from '../helpers/portal.ts';
import { createAdmin, nextCode, passwordStep, signIn, PASSWORD } from '../helpers/accounts.ts';
import { decodeHtml } from '../helpers/http.ts';
import { totpAt } from '../helpers/totp.ts';
import { startSmtp, header, readable } from '../helpers/smtp.ts';
import { auditEvents, users } from '../../db/schema.ts';

const NEW_PASSWORD = 'a different long passphrase';

function outboxSubjects(dir: string): string[] {
  const d = path.join(dir, 'outbox');
  return fs.existsSync(d) ? fs.readdirSync(d).map((f) => /^Subject: (.*)$/m.exec(fs.readFileSync(path.join(d, f), 'utf8').replace(/\r\n /g, ' '))?.[1] ?? '') : [];
}

test('a password change needs the current password and a fresh code, ends the other session, and the old password stops working', async (t) => {
  const portal = await startPortal(t);
  const account = await createAdmin(portal);
  const here = await signIn(portal, account);
  const elsewhere = await signIn(portal, account);
  assert.equal((await elsewhere.get('/account')).status, 200);
  const page = await here.get('/account');
  assert.equal(page.status, 200);
  assert.match(page.text, /Where you are signed in/);

  const cases: Array<[string, Record<string, string>, number, RegExp]> = [
    ['wrong current password', { current_password: 'not my password at all', code: nextCode(portal, account.key), password: NEW_PASSWORD, password_confirm: NEW_PASSWORD }, 401, /Your current password is not correct/],
    ['wrong code', { current_password: PASSWORD, code: '000000', password: NEW_PASSWORD, password_confirm: NEW_PASSWORD }, 401, /That code is not valid/],
    ['common password', { current_password: PASSWORD, code: nextCode(portal, account.key), password: 'password1234', password_confirm: 'password1234' }, 422, /common/i],
    ['not repeated', { current_password: PASSWORD, code: nextCode(portal, account.key), password: NEW_PASSWORD, password_confirm: NEW_PASSWORD + 'x' }, 422, /do not match/],
  ];
  for (const [label, form, status, message] of cases) {
    const r = await here.post('/account/password', form);
    assert.equal(r.status, status, `${label}: ${r.status}`);
    assert.match(decodeHtml(r.text), message, label);
  }
  const ok = await here.post('/account/password', { current_password: PASSWORD, code: nextCode(portal, account.key), password: NEW_PASSWORD, password_confirm: NEW_PASSWORD });
  assert.equal(ok.status, 303);
  assert.equal((await here.get('/account')).status, 200, 'this session goes on');
  assert.equal((await elsewhere.get('/account')).status, 303, 'the other session has ended');
  const old = portal.client();
  await old.get('/login');
  assert.equal((await old.post('/login', { email: account.email, password: PASSWORD })).status, 401, 'the old password no longer works');
  await signIn(portal, { ...account, password: NEW_PASSWORD });
  assert.ok(outboxSubjects(portal.dataDir).includes('Your password was changed'), 'the user is told by mail');
  const changed = portal.deps.db.select().from(auditEvents).where(eq(auditEvents.action, 'account.password_changed')).all();
  assert.equal(changed.length, 1);
});

// SECURITY.md 34: a missing current password is a wrong one, and a refused request uses up
// no code: the password is checked first, the code only once the password has verified.
test('a password change without the current password, or with a wrong one, is refused and uses up neither the recovery code nor the code sent with it', async (t) => {
  const portal = await startPortal(t);
  const account = await createAdmin(portal);
  const c = await signIn(portal, account);
  await c.get('/account');
  const [first, second] = account.recoveryCodes;
  const checksFailed = () => portal.deps.db.select().from(auditEvents).where(eq(auditEvents.action, 'account.password_check_failed')).all().length;

  const missing = await c.post('/account/password', { code: first!, password: NEW_PASSWORD, password_confirm: NEW_PASSWORD });
  assert.equal(missing.status, 401, 'no current_password field');
  assert.match(decodeHtml(missing.text), /Your current password is not correct/);
  assert.equal(checksFailed(), 1, 'audited as a failed password check');
  const wrong = await c.post('/account/password', { current_password: 'not my password at all', code: second!, password: NEW_PASSWORD, password_confirm: NEW_PASSWORD });
  assert.equal(wrong.status, 401, 'a wrong current password');
  assert.equal(checksFailed(), 2);
  const code = nextCode(portal, account.key);
  assert.equal((await c.post('/account/password', { current_password: '', code, password: NEW_PASSWORD, password_confirm: NEW_PASSWORD })).status, 401, 'an empty current password');

  // Nothing changed, and nothing was used up: the same TOTP step and both recovery codes still work.
  const old = portal.client();
  await old.get('/login');
  assert.equal((await old.post('/login', { email: account.email, password: PASSWORD })).status, 303, 'the password is unchanged');
  for (const recovery of [first!, second!]) {
    const s = portal.client();
    await passwordStep(s, account);
    assert.equal((await s.post('/login/verify', { code: recovery })).status, 303, `recovery code ${recovery} still works`);
  }
  const ok = await c.post('/account/password', { current_password: PASSWORD, code, password: NEW_PASSWORD, password_confirm: NEW_PASSWORD });
  assert.equal(ok.status, 303, 'the TOTP code sent with a refused request was not used up');
});

test('the current-password check on the account page counts against the per-address sign-in limit', async (t) => {
  const portal = await startPortal(t);
  const account = await createAdmin(portal);
  const c = await signIn(portal, account);
  await c.get('/account');
  let last = 0;
  for (let i = 0; i < 11; i++) last = (await c.post('/account/password', { code: '000000', password: NEW_PASSWORD, password_confirm: NEW_PASSWORD })).status;
  assert.equal(last, 429, 'the eleventh missing password in the window is throttled');
  const throttled = await c.post('/account/password', { current_password: PASSWORD, code: nextCode(portal, account.key), password: NEW_PASSWORD, password_confirm: NEW_PASSWORD });
  assert.equal(throttled.status, 429, 'even the right password waits');
  assert.match(decodeHtml(throttled.text), /Too many attempts from your network/);
});

test('a new set of recovery codes voids the old set at once; two or fewer left shows a warning', async (t) => {
  const portal = await startPortal(t);
  const account = await createAdmin(portal);
  const c = await signIn(portal, account);
  await c.get('/account');
  const r = await c.post('/account/recovery-codes', { code: nextCode(portal, account.key) });
  assert.equal(r.status, 200);
  assert.equal(r.headers.get('cache-control'), 'no-store');
  const fresh = [...decodeHtml(r.text).matchAll(/<li><code>([a-z0-9]{5}-[a-z0-9]{5})<\/code><\/li>/g)].map((m) => m[1]!);
  assert.equal(fresh.length, 10);
  const old = portal.client();
  await passwordStep(old, account);
  assert.equal((await old.post('/login/verify', { code: account.recoveryCodes[0]! })).status, 401, 'an old code no longer works');
  assert.equal((await old.post('/login/verify', { code: fresh[0]! })).status, 303, 'a new one does');
  const d = await signIn(portal, account);
  for (const code of fresh.slice(1, 8)) {
    const s = portal.client();
    await passwordStep(s, account);
    assert.equal((await s.post('/login/verify', { code })).status, 303);
  }
  const page = await d.get('/account');
  assert.match(page.text, /2 of 10 recovery codes left\. <strong>Make a new set soon<\/strong>/);
  assert.ok(outboxSubjects(portal.dataDir).includes('New recovery codes were made for your account'));
});

test('replacing the authenticator app: prove the current one, confirm the new one; the old seed stops working', async (t) => {
  const portal = await startPortal(t);
  const account = await createAdmin(portal);
  const c = await signIn(portal, account);
  await c.get('/account');
  assert.equal((await c.post('/account/authenticator', { code: '123456' })).status, 401, 'a wrong current code is refused');
  const step1 = await c.post('/account/authenticator', { code: nextCode(portal, account.key) });
  assert.equal(step1.status, 200);
  const newKey = /<code id="new-totp-key">([A-Z2-7 ]+)<\/code>/.exec(step1.text)![1]!.replace(/\s/g, '');
  assert.notEqual(newKey, account.key);
  assert.equal((await c.post('/account/authenticator/confirm', { new_code: '000000' })).status, 422);
  portal.clock.advance(30_000);
  assert.equal((await c.post('/account/authenticator/confirm', { new_code: totpAt(newKey, portal.clock.now()) })).status, 303);
  const withOld = portal.client();
  await passwordStep(withOld, account);
  assert.equal((await withOld.post('/login/verify', { code: nextCode(portal, account.key) })).status, 401, 'the old app no longer works');
  await signIn(portal, { ...account, key: newKey });
  assert.ok(outboxSubjects(portal.dataDir).includes('Your authenticator app was replaced'));
});

test('sessions: listed with address and browser, one ended, all others ended; activity lists sign-ins and failures', async (t) => {
  const portal = await startPortal(t);
  const account = await createAdmin(portal);
  const failed = portal.client();
  await failed.get('/login');
  await failed.post('/login', { email: account.email, password: 'wrong password entirely' });
  const c = await signIn(portal, account);
  const b = await signIn(portal, account);
  const a = await signIn(portal, account);
  const page = await c.get('/account');
  const handles = [...page.text.matchAll(/action="\/account\/sessions\/([A-Za-z0-9_-]{22})\/end"/g)].map((m) => m[1]!);
  assert.equal(handles.length, 3, 'the other sessions (setup, two sign-ins) can be ended; this one is marked');
  assert.match(page.text, /This session/);
  assert.match(page.text, /127\.0\.0\.1/);
  assert.doesNotMatch(page.text, new RegExp(c.sessionId()!.split('.')[0]!.replace(/^s%3A/, '')), 'never the session id itself');
  assert.match(page.text, /Failed sign-in: wrong password/);
  assert.match(page.text, /Signed in \(totp\)/);
  assert.equal((await c.post(`/account/sessions/${handles[0]}/end`)).status, 303);
  assert.equal((await c.post('/account/sessions/end-others')).status, 303);
  assert.equal((await a.get('/account')).status, 303);
  assert.equal((await b.get('/account')).status, 303);
  assert.equal((await c.get('/account')).status, 200);
});

// Ending the other sessions stays one click, but is audited and mailed like any other change.
test('"End all other sessions" is audited with the count and mailed to the user; with none left, nothing is recorded', async (t) => {
  const smtp = await startSmtp(t);
  const portal = await startPortal(t, { SMTP_URL: smtp.url });
  const account = await createAdmin(portal);
  const c = await signIn(portal, account);
  const other = await signIn(portal, account);
  await c.get('/account');
  const ended = await c.post('/account/sessions/end-others');
  assert.equal(ended.status, 303);
  assert.equal((await other.get('/account')).status, 303, 'the other session has ended');
  const rows = portal.deps.db.select().from(auditEvents).where(eq(auditEvents.action, 'account.sessions_ended')).all();
  assert.equal(rows.length, 1);
  assert.deepEqual(JSON.parse(rows[0]!.details), { endedSessions: 2 }, 'the setup session and the other sign-in');
  assert.equal(rows[0]!.actorUserId, portal.deps.db.select().from(users).where(eq(users.email, account.email)).get()!.id, 'recorded as the user');
  await portal.deps.mailer.idle(); // notices go out in the background
  const notices = smtp.messages.filter((m) => header(m.raw, 'Subject') === 'Your other sessions were ended');
  assert.equal(notices.length, 1, 'one notice mail');
  assert.deepEqual(notices[0]!.to, [account.email]);
  assert.match(readable(notices[0]!.raw), /Your other sessions were ended on the Credentials Portal: 2 sessions\./);
  assert.match(readable(notices[0]!.raw), /Not you\? Contact/);
  const page = await c.get('/account');
  assert.match(page.text, /All other sessions ended \(2\)/, 'shown in recent activity');

  assert.equal((await c.post('/account/sessions/end-others')).status, 303, 'still one click with nothing to end');
  assert.equal(portal.deps.db.select().from(auditEvents).where(eq(auditEvents.action, 'account.sessions_ended')).all().length, 1, 'nothing ended, nothing recorded');
  await portal.deps.mailer.idle(); // notices go out in the background
  assert.equal(smtp.messages.filter((m) => header(m.raw, 'Subject') === 'Your other sessions were ended').length, 1, 'and no second mail');
});
