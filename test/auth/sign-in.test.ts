import { test } from 'node:test';
import assert from 'node:assert/strict';
import { eq } from 'drizzle-orm';
import { startPortal } from '../helpers/portal.ts';
import { createAdmin, completeSetup, keyFromSetupPage, nextCode, passwordStep, signIn, PASSWORD } from '../helpers/accounts.ts';
import { totpAt } from '../helpers/totp.ts';
import { inviteAdmin } from '../../server/admin/users.ts';
import { cliActor } from '../../server/audit/audit.ts';
import { auditEvents, invitations, recoveryCodes, sessions, users } from '../../db/schema.ts';

test('invite -> setup -> sign in with a code computed from the key shown on the page', async (t) => {
  const portal = await startPortal(t);
  const account = await createAdmin(portal);
  const user = portal.deps.db.select().from(users).where(eq(users.email, account.email)).get()!;
  assert.ok(user.passwordHash?.startsWith('scrypt$'), 'password stored as a scrypt hash');
  assert.ok(!user.totpSecret!.includes(account.key), 'TOTP seed encrypted at rest');
  const storedCodes = portal.deps.db.select().from(recoveryCodes).where(eq(recoveryCodes.userId, user.id)).all();
  assert.equal(storedCodes.length, 10);
  for (const code of account.recoveryCodes) assert.ok(!storedCodes.some((r) => r.codeHash.includes(code)), 'recovery codes stored hashed');

  const c = await signIn(portal, account);
  const home = await c.get('/');
  assert.equal(home.location, '/admin', 'an administrator lands on /admin');
  const admin = await c.get('/admin');
  assert.equal(admin.status, 200);
  assert.match(admin.text, /admin@example\.org|Ada Admin/);
  assert.match(admin.text, />Sign out</);
});

test('setup page: otpauth QR, key as text, password rules, single use, expiry', async (t) => {
  const portal = await startPortal(t);
  const invited = inviteAdmin(portal.deps.db, portal.clock, cliActor, { email: 'Setup@Example.org' });
  assert.ok(invited.ok);
  const path = `/setup/${invited.value.token}`;
  const c = portal.client();
  const page = await c.get(path);
  assert.equal(page.headers.get('cache-control'), 'no-store');
  const qr = /<img src="data:image\/svg\+xml;base64,([^"]+)"/.exec(page.text);
  assert.ok(qr, 'a QR code image inline (no request leaves the page)');
  assert.match(Buffer.from(qr[1]!, 'base64').toString(), /^<svg [^>]*viewBox="0 0 \d+ \d+"[\s\S]*<path [^>]*d="M/);
  const key = keyFromSetupPage(page.text);
  assert.equal(key.length, 32, '160-bit seed is 32 base32 characters');

  const cases: Array<[string, Record<string, string>, RegExp]> = [
    ['too short', { password: 'short pass', password_confirm: 'short pass' }, /at least 12 characters/],
    ['common password', { password: 'password1234', password_confirm: 'password1234' }, /too common/],
    ['listed password', { password: 'qwertyuiop12', password_confirm: 'qwertyuiop12' }, /too common/],
    ['mismatch', { password: PASSWORD, password_confirm: PASSWORD + 'x' }, /do not match/],
  ];
  for (const [name, form, message] of cases) {
    const r = await c.post(path, { ...form, code: nextCode(portal, key) });
    assert.equal(r.status, 422, name);
    assert.match(r.text, message, name);
    assert.equal(keyFromSetupPage(r.text), key, `${name}: the same key stays on the page`);
  }
  const badCode = await c.post(path, { password: PASSWORD, password_confirm: PASSWORD, code: '000000' });
  assert.equal(badCode.status, 422);
  assert.match(badCode.text, /code is not valid/);

  await completeSetupWith(c, path, key);
  const again = await portal.client().get(path);
  assert.equal(again.status, 410);
  assert.match(again.text, /already been used/);

  const unknown = await portal.client().get('/setup/not-a-real-token-at-all-xxxxxxxxxxxx');
  assert.equal(unknown.status, 410);
  assert.match(unknown.text, /not valid/);

  const later = inviteAdmin(portal.deps.db, portal.clock, cliActor, { email: 'late@example.org' });
  assert.ok(later.ok);
  portal.clock.advance(72 * 3600 * 1000 + 1);
  const expired = await portal.client().get(`/setup/${later.value.token}`);
  assert.equal(expired.status, 410);
  assert.match(expired.text, /expired/);
  const stored = portal.deps.db.select().from(invitations).all();
  assert.ok(stored.every((i) => !i.tokenHash.includes(later.value.token)), 'invitation tokens stored hashed');

  async function completeSetupWith(client: typeof c, p: string, k: string) {
    const r = await client.post(p, { password: PASSWORD, password_confirm: PASSWORD, code: nextCode(portal, k) });
    assert.equal(r.status, 200);
    assert.equal(r.headers.get('cache-control'), 'no-store');
    assert.match(r.text, /shown only this once/);
  }
});

test('unknown email and wrong password get the same answer in similar time', async (t) => {
  const portal = await startPortal(t);
  const account = await createAdmin(portal);
  const timed = async (email: string) => {
    const c = portal.client();
    await c.get('/login');
    const started = performance.now();
    const r = await c.post('/login', { email, password: 'wrong password here' });
    return { r, ms: performance.now() - started };
  };
  const wrong: number[] = [];
  const unknown: number[] = [];
  let lastWrong, lastUnknown;
  for (let i = 0; i < 3; i++) {
    const a = await timed(account.email);
    const b = await timed('nobody@example.org');
    wrong.push(a.ms);
    unknown.push(b.ms);
    lastWrong = a.r;
    lastUnknown = b.r;
  }
  assert.equal(lastWrong!.status, 401);
  assert.equal(lastUnknown!.status, 401);
  const strip = (s: string) => s.replace(/value="[^"]*"/g, '').replace(/X-CSRF-Token&quot;:&quot;[^&]+/g, '');
  assert.equal(strip(lastWrong!.text).replace(account.email, 'E'), strip(lastUnknown!.text).replace('nobody@example.org', 'E'));
  const median = (xs: number[]) => xs.sort((x, y) => x - y)[1]!;
  const ratio = median(wrong) / median(unknown);
  assert.ok(ratio > 0.33 && ratio < 3, `both pay for a password hash (wrong ${median(wrong).toFixed(1)} ms, unknown ${median(unknown).toFixed(1)} ms)`);
});

test('TOTP: wrong, malformed, replayed and two-steps-old codes are refused; the previous step is accepted', async (t) => {
  const portal = await startPortal(t);
  const account = await createAdmin(portal);
  const c = portal.client();
  await passwordStep(c, account);

  for (const bad of ['12345x', '1234567', ' 12 34 ', '', 'abcdef']) {
    const r = await c.post('/login/verify', { code: bad });
    assert.equal(r.status, 401, `"${bad}" is refused`);
    assert.match(r.text, /code is not valid/);
    // Keep the five-failure lock (tested below) out of this table.
    portal.deps.db.update(users).set({ failedTotpCount: 0 }).run();
  }
  const arrayCode = await c.post('/login/verify', { 'code[]': '123456' });
  assert.equal(arrayCode.status, 401, 'code[]= is a plain invalid code');
  portal.deps.db.update(users).set({ failedTotpCount: 0 }).run();

  portal.clock.advance(120_000);
  const twoStepsOld = totpAt(account.key, portal.clock.now() - 60_000);
  assert.equal((await c.post('/login/verify', { code: twoStepsOld })).status, 401, 'a code two steps old is refused');
  const previous = totpAt(account.key, portal.clock.now() - 30_000);
  const ok = await c.post('/login/verify', { code: previous });
  assert.equal(ok.status, 303, 'the step before the current one is accepted');

  // Replay: sign in again with the same code (same step), then with an older one.
  const c2 = portal.client();
  await passwordStep(c2, account);
  assert.equal((await c2.post('/login/verify', { code: previous })).status, 401, 'the same code twice is refused');
  assert.equal((await c2.post('/login/verify', { code: totpAt(account.key, portal.clock.now() - 60_000) })).status, 401, 'an older code is refused');
  assert.equal((await c2.post('/login/verify', { code: totpAt(account.key, portal.clock.now()) })).status, 303, 'the current step still works once');
});

test('five wrong codes lock the second step for 15 minutes, across sessions', async (t) => {
  const portal = await startPortal(t);
  const account = await createAdmin(portal);
  const c = portal.client();
  await passwordStep(c, account);
  for (let i = 0; i < 4; i++) assert.equal((await c.post('/login/verify', { code: '000000' })).status, 401);
  const fifth = await c.post('/login/verify', { code: '000000' });
  assert.equal(fifth.status, 429);
  assert.match(fifth.text, /locked/);

  const fresh = portal.client();
  await passwordStep(fresh, account);
  const locked = await fresh.post('/login/verify', { code: nextCode(portal, account.key) });
  assert.equal(locked.status, 429, 'a new session does not reset the lock, and a right code does not pass');
  assert.ok(portal.logs.some((l) => l.includes('second step locked')), 'the lock is logged');
  const events = portal.deps.db.select().from(auditEvents).where(eq(auditEvents.action, 'login.mfa_failed')).all();
  assert.equal(events.length, 5);

  portal.clock.advance(15 * 60 * 1000);
  await passwordStep(fresh, account);
  assert.equal((await fresh.post('/login/verify', { code: nextCode(portal, account.key) })).status, 303, 'after 15 minutes the right code works');
});

test('a recovery code works exactly once, even when used twice at the same moment', async (t) => {
  const portal = await startPortal(t);
  const account = await createAdmin(portal);
  const [a, b] = [portal.client(), portal.client()];
  for (const c of [a, b]) {
    await passwordStep(c, account);
  }
  const code = account.recoveryCodes[0]!;
  const results = await Promise.all([a.post('/login/verify', { code }), b.post('/login/verify', { code: code.toUpperCase() })]);
  assert.deepEqual(results.map((r) => r.status).sort(), [303, 401]);
  const c = portal.client();
  await passwordStep(c, account);
  assert.equal((await c.post('/login/verify', { code })).status, 401, 'a used recovery code is refused');
  assert.equal((await c.post('/login/verify', { code: account.recoveryCodes[1]! })).status, 303, 'another recovery code works');
});

test('sessions: new id at both steps, second step enforced, logout ends it on the server, timeouts', async (t) => {
  const portal = await startPortal(t);
  const account = await createAdmin(portal);
  const c = portal.client();
  const rows = () => portal.deps.db.select().from(sessions).all().length;
  const before = rows();
  await c.get('/login');
  await c.get('/login');
  assert.equal(c.sessionId(), undefined, 'an anonymous visit to the sign-in page sets no session cookie');
  assert.equal(rows(), before, 'and writes no session row');
  const anonymous = 's%3Aplanted-by-an-attacker.x';
  c.cookies.set('portal.sid', anonymous);
  const cookie = (await c.post('/login', { email: account.email, password: account.password })).headers.get('set-cookie')!;
  assert.match(cookie, /HttpOnly/);
  assert.match(cookie, /SameSite=Lax/);
  const afterPassword = c.sessionId();
  assert.notEqual(afterPassword, anonymous, 'new session id after the password');

  const early = await c.get('/admin');
  assert.equal(early.status, 303);
  assert.equal(early.location, '/login/verify', 'a protected page before the second step goes back to it');
  assert.equal((await c.get('/manage-api-credentials')).location, '/login/verify');

  await c.get('/login/verify');
  await c.post('/login/verify', { code: nextCode(portal, account.key) });
  const afterCode = c.sessionId();
  assert.notEqual(afterCode, afterPassword, 'new session id after the second step');
  assert.equal((await c.get('/admin')).status, 200);

  // An old session id is dead.
  const stale = portal.client();
  stale.cookies.set('portal.sid', afterPassword!);
  assert.equal((await stale.get('/admin')).location, '/login');

  // Logout, with a slow request of the same session in flight.
  const copy = portal.client();
  copy.cookies.set('portal.sid', afterCode!);
  await c.get('/admin');
  const inflight = copy.get('/admin');
  const out = await c.post('/logout');
  assert.equal(out.status, 303);
  await inflight;
  assert.equal((await copy.get('/admin')).location, '/login', 'the old cookie stays dead after logout');
  const row = portal.deps.db.select().from(sessions).all().find((s) => afterCode!.includes(s.sid));
  assert.ok(row?.revokedAt, 'the session is revoked on the server');

  // Idle timeout (30 minutes) and absolute timeout (12 hours).
  const d = await signIn(portal, account);
  portal.clock.advance(31 * 60 * 1000);
  assert.equal((await d.get('/admin')).location, '/login', 'idle for 31 minutes: signed out');
  // Page views extend the idle timeout, writing the row at most once a minute.
  const f = await signIn(portal, account);
  const expiryOf = () => portal.deps.db.select().from(sessions).all().find((s) => f.sessionId()!.includes(s.sid))!.expiresAt;
  await f.get('/admin');
  const extended = expiryOf();
  portal.clock.advance(20_000);
  await f.get('/admin');
  assert.equal(expiryOf(), extended, 'twenty seconds later: not written again');
  portal.clock.advance(50_000);
  await f.get('/admin');
  assert.equal(expiryOf(), portal.clock.now() + 30 * 60 * 1000, 'seventy seconds later: extended to 30 minutes from now');
  const e = await signIn(portal, account);
  for (let i = 0; i < 25; i++) {
    portal.clock.advance(29 * 60 * 1000);
    const r = await e.get('/admin');
    if (r.status !== 200) {
      assert.ok(i >= 23, `absolute limit reached after ${i} half hours`);
      assert.match(r.location ?? '', /^\/login/);
      return;
    }
  }
  assert.fail('the session outlived 12 hours');
});

test('CSRF and Origin: missing, wrong or foreign tokens and cross-site origins get 403', async (t) => {
  const portal = await startPortal(t);
  const account = await createAdmin(portal);
  const c = await signIn(portal, account);
  await c.get('/admin');
  const missing = await c.request('POST', '/logout', { form: {} });
  assert.equal(missing.status, 403);
  assert.equal((await c.post('/logout', { _csrf: 'x'.repeat(43) })).status, 403, 'wrong token');
  const other = portal.client();
  await other.get('/login');
  assert.equal((await c.post('/logout', { _csrf: other.csrf })).status, 403, "another session's token");
  assert.equal((await c.post('/logout', {}, { Origin: 'null' })).status, 403, 'Origin: null');
  assert.equal((await c.post('/logout', {}, { Origin: 'https://evil.example' })).status, 403, 'foreign Origin');
  assert.equal((await c.post('/logout', {}, { 'Sec-Fetch-Site': 'cross-site' })).status, 403, 'cross-site fetch');
  assert.equal((await c.get('/admin')).status, 200, 'still signed in: nothing changed');
  const viaHeader = await c.request('POST', '/logout', { form: {}, headers: { 'X-CSRF-Token': c.csrf, 'HX-Request': 'true' } });
  assert.equal(viaHeader.status, 303, 'the header htmx sends is accepted');
});

test('password attempts are limited per address, with a clear message, and logged', async (t) => {
  const portal = await startPortal(t);
  const c = portal.client();
  await c.get('/login');
  let last;
  for (let i = 0; i < 11; i++) last = await c.post('/login', { email: `victim${i}@example.org`, password: 'Spring2026!!' });
  assert.equal(last!.status, 429);
  assert.match(last!.text, /Too many sign-in attempts/);
  assert.ok(last!.headers.get('retry-after'));
  const failed = portal.deps.db.select().from(auditEvents).where(eq(auditEvents.action, 'login.failed')).all();
  assert.equal(failed.length, 10, 'every failed attempt is an audit event');
  assert.ok(portal.logs.some((l) => l.includes('password attempts throttled')));
});

test('pages carry security headers, and logs never hold passwords or codes', async (t) => {
  const portal = await startPortal(t);
  const account = await createAdmin(portal);
  await signIn(portal, account);
  const r = await portal.client().get('/login');
  const csp = r.headers.get('content-security-policy')!;
  assert.match(csp, /script-src 'self'(;|$)/);
  assert.doesNotMatch(csp, /unsafe-inline/);
  assert.equal(r.headers.get('x-content-type-options'), 'nosniff');
  assert.doesNotMatch(r.text, /<script>(?!<\/script>)|<script(?![^>]*\bsrc=)/, 'no inline script');
  const logs = portal.logs.join('\n');
  assert.ok(!logs.includes(PASSWORD), 'no password in logs');
  for (const code of account.recoveryCodes) assert.ok(!logs.includes(code));
  assert.doesNotMatch(logs, /\/setup\/[A-Za-z0-9_-]{20,}/, 'setup tokens are masked in logs');
  assert.ok(portal.logs.some((l) => /"method":"POST","path":"\/login\/verify","status":303/.test(l)), 'one line per request');

  const notFound = await portal.client().get('/no/such/page');
  assert.equal(notFound.status, 404);
  assert.match(notFound.text, /Page not found/);
  const json = await portal.client().get('/no/such/page', { Accept: 'application/json' });
  assert.equal(json.headers.get('content-type'), 'application/json; charset=utf-8');
  assert.equal(JSON.parse(json.text).error, 'not_found');
  const big = await portal.client().request('POST', '/login', { form: { email: 'a', password: 'x'.repeat(1024 * 1024) } });
  assert.equal(big.status, 413);
  assert.doesNotMatch(big.text, /at \w+ \(/, 'no stack trace');
});

test('setup of a user who is mid-way does not let an old invitation survive a new one', async (t) => {
  const portal = await startPortal(t);
  const first = inviteAdmin(portal.deps.db, portal.clock, cliActor, { email: 'two@example.org' });
  assert.ok(first.ok);
  const { createInvitation } = await import('../../server/auth/invitations.ts');
  const second = createInvitation(portal.deps.db, portal.clock, first.value.userId);
  assert.equal((await portal.client().get(`/setup/${first.value.token}`)).status, 410, 'the older link is dead');
  await completeSetup(portal, `/setup/${second}`, 'two@example.org');
});

// POST /login from a chosen local address, optionally with X-Forwarded-For.
async function loginFrom(portal: Awaited<ReturnType<typeof startPortal>>, localAddress: string, form: Record<string, string>, xff?: string) {
  const http = await import('node:http');
  const page = await new Promise<{ cookie: string; csrf: string }>((resolve, reject) => {
    http.get(`${portal.baseUrl}/login`, { localAddress }, (res) => {
      let text = '';
      res.on('data', (d) => (text += d));
      res.on('end', () => resolve({ cookie: (res.headers['set-cookie'] ?? []).map((c) => c.split(';')[0]).join('; '), csrf: /name="_csrf" value="([^"]+)"/.exec(text)?.[1] ?? '' }));
    }).on('error', reject);
  });
  return new Promise<number>((resolve, reject) => {
    const headers: Record<string, string> = { Cookie: page.cookie, 'Content-Type': 'application/x-www-form-urlencoded' };
    if (xff) headers['X-Forwarded-For'] = xff;
    const req = http.request(`${portal.baseUrl}/login`, { method: 'POST', localAddress, headers }, (res) => {
      res.resume();
      resolve(res.statusCode!);
    });
    req.on('error', reject);
    req.end(new URLSearchParams({ _csrf: page.csrf, ...form }).toString());
  });
}

test('without TRUST_PROXY, a rotating X-Forwarded-For neither bypasses the sign-in limit nor reaches the audit log', async (t) => {
  const portal = await startPortal(t);
  const statuses: number[] = [];
  for (let i = 0; i < 12; i++) statuses.push(await loginFrom(portal, '127.0.0.9', { email: `v${i}@example.org`, password: 'wrong password here' }, `203.0.113.${i}`));
  assert.deepEqual(statuses.slice(0, 10), Array(10).fill(401));
  assert.deepEqual(statuses.slice(10), [429, 429], 'the forged addresses do not reset the count');
  const failed = portal.deps.db.select().from(auditEvents).where(eq(auditEvents.action, 'login.failed')).all();
  assert.ok(failed.length === 10 && failed.every((e) => e.ip === '127.0.0.9'), 'the audit log holds the real peer address');
  assert.equal(await loginFrom(portal, '127.0.0.10', { email: 'v@example.org', password: 'wrong password here' }), 401, 'another address is not limited');
});

test('with TRUST_PROXY=loopback, X-Forwarded-For is the address: limited per client behind the proxy, and audited as such', async (t) => {
  const portal = await startPortal(t, { TRUST_PROXY: 'loopback' });
  for (let i = 0; i < 10; i++) assert.equal(await loginFrom(portal, '127.0.0.1', { email: `v${i}@example.org`, password: 'wrong password here' }, '203.0.113.7'), 401);
  assert.equal(await loginFrom(portal, '127.0.0.1', { email: 'v@example.org', password: 'wrong password here' }, '203.0.113.7'), 429);
  assert.equal(await loginFrom(portal, '127.0.0.1', { email: 'v@example.org', password: 'wrong password here' }, '198.51.100.2'), 401, 'another client behind the same proxy is not limited');
  const failed = portal.deps.db.select().from(auditEvents).where(eq(auditEvents.action, 'login.failed')).all();
  assert.equal(failed[0]!.ip, '203.0.113.7');
});

test('successful sign-ins are not counted: an office behind one address keeps signing in', async (t) => {
  const portal = await startPortal(t);
  const account = await createAdmin(portal);
  for (let i = 0; i < 15; i++) {
    assert.equal(await loginFrom(portal, '127.0.0.11', { email: account.email, password: account.password }), 303, `sign-in ${i + 1}`);
  }
  for (let i = 0; i < 9; i++) assert.equal(await loginFrom(portal, '127.0.0.11', { email: account.email, password: 'mistyped password!' }), 401);
  assert.equal(await loginFrom(portal, '127.0.0.11', { email: account.email, password: account.password }), 303, 'nine mistakes and fifteen successes: still under the limit');
});

test('after setup the user is signed in and lands on their page; the code the app shows next still signs in later', async (t) => {
  const portal = await startPortal(t);
  const r = inviteAdmin(portal.deps.db, portal.clock, cliActor, { email: 'new@example.org', name: 'New Admin' });
  assert.ok(r.ok);
  const c = portal.client();
  const page = await c.get(`/setup/${r.value.token}`);
  const key = keyFromSetupPage(page.text);
  const done = await c.post(`/setup/${r.value.token}`, { password: PASSWORD, password_confirm: PASSWORD, code: nextCode(portal, key) });
  assert.equal(done.status, 200);
  assert.match(done.text, /you are signed in/);
  const home = await c.get('/admin');
  assert.equal(home.status, 200, 'on their page, signed in');
  assert.match(home.text, /Administration/);
  const events = portal.deps.db.select().from(auditEvents).where(eq(auditEvents.action, 'login.success')).all();
  assert.equal(events.length, 1);
  // Signing in again later with the next code works (setup consumed only its own step).
  await signIn(portal, { email: 'new@example.org', password: PASSWORD, key, recoveryCodes: [] });
});

test('a setup link replaced by a resend says so, not "already used"', async (t) => {
  const portal = await startPortal(t);
  const first = inviteAdmin(portal.deps.db, portal.clock, cliActor, { email: 'three@example.org' });
  assert.ok(first.ok);
  const { createInvitation } = await import('../../server/auth/invitations.ts');
  createInvitation(portal.deps.db, portal.clock, first.value.userId);
  const old = await portal.client().get(`/setup/${first.value.token}`);
  assert.equal(old.status, 410);
  assert.match(old.text, /replaced by a newer invitation/);
  assert.doesNotMatch(old.text, /already been used/);
});
