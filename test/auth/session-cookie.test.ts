// The session layer (server/auth/session.ts) in place of express-session: the same cookie,
// so sessions survive the change; rolling renewal; forged cookies; helmet's headers.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { eq } from 'drizzle-orm';
import { startPortal } from '../helpers/portal.ts';
import { createAdmin, signIn } from '../helpers/accounts.ts';
import express from 'express';
import { sessions } from '../../db/schema.ts';
import { sessions as sessionLayer } from '../../server/auth/session.ts';
import { SqliteSessionStore } from '../../server/auth/session-store.ts';
import { memoryLogger } from '../../server/lib/log.ts';
import { serveOnLoopback } from '../helpers/loopback.ts';

// The cookie as express-session (cookie-signature) wrote it: `s:` + id + `.` + the HMAC-SHA256
// of the id in base64 without padding, URL-encoded.
function expressSessionCookie(masterKey: Buffer, sid: string): string {
  const secret = crypto.createHmac('sha256', masterKey).update('session-cookie').digest('base64');
  return encodeURIComponent(`s:${sid}.${crypto.createHmac('sha256', secret).update(sid).digest('base64').replace(/=+$/, '')}`);
}

test('a session stored by express-session stays signed in, and each answer renews its cookie for 30 minutes (Max-Age)', async (t) => {
  const portal = await startPortal(t);
  const account = await createAdmin(portal);
  const c = await signIn(portal, account);
  const value = c.sessionId()!;
  const sid = decodeURIComponent(value).slice(2, decodeURIComponent(value).lastIndexOf('.'));
  assert.equal(value, expressSessionCookie(portal.deps.masterKey, sid), 'the cookie is signed as express-session signed it');

  assert.equal((await c.get('/admin')).status, 200); // a first page stores its CSRF token
  // The row as express-session stored it, with its cookie's settings in the data.
  const row = portal.deps.db.select().from(sessions).where(eq(sessions.sid, sid)).get()!;
  const data = JSON.parse(row.data) as Record<string, unknown>;
  assert.equal(data.cookie, undefined, 'the session layer stores only the data');
  const old = JSON.stringify({ cookie: { originalMaxAge: 1_800_000, expires: new Date(portal.clock.now() + 1_800_000).toISOString(), secure: false, httpOnly: true, path: '/', sameSite: 'lax' }, ...data });
  portal.deps.db.update(sessions).set({ data: old }).where(eq(sessions.sid, sid)).run();

  portal.clock.advance(5 * 60 * 1000);
  const page = await c.get('/admin');
  assert.equal(page.status, 200, 'still signed in');
  const renewed = page.headers.getSetCookie().find((h) => h.startsWith('portal.sid='));
  assert.ok(renewed, 'the answer renews the cookie (rolling)');
  const [pair, ...attributes] = renewed.split('; ');
  assert.equal(pair, `portal.sid=${value}`, 'the same session, the same cookie');
  // Max-Age: counted on the browser's clock (this portal's test clock is not the browser's).
  assert.deepEqual(attributes.sort(), ['HttpOnly', 'Max-Age=1800', 'Path=/', 'SameSite=Lax'], '30 minutes from this answer');
  assert.equal(portal.deps.db.select().from(sessions).where(eq(sessions.sid, sid)).get()!.data, old, 'an unchanged session is not written again');
});

test('a cookie with a wrong signature, or none, is anonymous: no user, no row, no cookie', async (t) => {
  const portal = await startPortal(t);
  const account = await createAdmin(portal);
  const c = await signIn(portal, account);
  const value = decodeURIComponent(c.sessionId()!);
  const sid = value.slice(2, value.lastIndexOf('.'));
  const rows = () => portal.deps.db.select().from(sessions).all().map((s) => `${s.sid} ${s.data} ${s.expiresAt} ${s.revokedAt}`).sort().join('\n');
  const before = rows();
  for (const forged of [
    encodeURIComponent(`s:${sid}.${'A'.repeat(43)}`), // the live id, another signature
    encodeURIComponent(`s:${sid}.`), // no signature
    sid, // unsigned
    encodeURIComponent(`s:${sid}`), // no dot
    '%E0%A4%A', // not URL-encoding
  ]) {
    const other = portal.client();
    other.cookies.set('portal.sid', forged);
    const r = await other.get('/admin');
    assert.equal(r.location, '/login', `${forged}: not signed in`);
    assert.equal(r.headers.getSetCookie().some((h) => h.startsWith('portal.sid=')), false, `${forged}: no session cookie`);
  }
  assert.equal(rows(), before, 'nothing written');
  assert.equal((await c.get('/admin')).status, 200, 'the real cookie still works');
});

test('every answer carries the security headers helmet chose, HSTS only with an https BASE_URL', async (t) => {
  const portal = await startPortal(t);
  const r = await portal.client().get('/login');
  const expected: Record<string, string> = {
    'cross-origin-opener-policy': 'same-origin',
    'cross-origin-resource-policy': 'same-origin',
    'origin-agent-cluster': '?1',
    'referrer-policy': 'same-origin',
    'x-content-type-options': 'nosniff',
    'x-dns-prefetch-control': 'off',
    'x-download-options': 'noopen',
    'x-frame-options': 'SAMEORIGIN',
    'x-permitted-cross-domain-policies': 'none',
    'x-xss-protection': '0',
  };
  for (const [name, value] of Object.entries(expected)) assert.equal(r.headers.get(name), value, name);
  assert.match(r.headers.get('content-security-policy')!, /^default-src 'self';.*frame-ancestors 'none'$/);
  assert.equal(r.headers.get('strict-transport-security'), null, 'no HSTS over plain http');
  assert.equal(r.headers.get('x-powered-by'), null);
  const missing = await portal.client().get('/no/such/page');
  assert.equal(missing.headers.get('x-frame-options'), 'SAMEORIGIN', 'error pages too');
});

test('an anonymous sign-out writes nothing; a session kept across regenerate() saves under its own, revoked id, never the new one', async (t) => {
  const portal = await startPortal(t);
  const rows = () => portal.deps.db.select().from(sessions).all().length;
  const before = rows();
  const anonymous = portal.client();
  await anonymous.get('/login'); // the pre-session cookie and its form token
  const out = await anonymous.post('/logout');
  assert.equal(out.status, 303);
  assert.equal(rows(), before, 'no session row for a visitor who never had one');

  // The session layer on its own, with a route that keeps the old session object.
  const store = new SqliteSessionStore(portal.deps.db, portal.deps.clock);
  const app = express();
  app.use(sessionLayer({ store, secret: 'test', secure: false, logger: memoryLogger(), userOf: () => null }));
  app.get('/in', (req, res) => {
    req.session.pendingUserId = 7;
    res.send('in');
  });
  app.get('/regenerate', (req, res) => {
    const old = req.session;
    old.regenerate(() => {
      (req.session as { note?: string }).note = 'new';
      old.save(() => res.send(req.sessionID));
    });
  });
  const base = await serveOnLoopback(t, app);
  const first = await fetch(`${base}/in`);
  const cookie = first.headers.getSetCookie()[0]!.split(';')[0]!;
  const oldId = decodeURIComponent(cookie.slice('portal.sid='.length)).slice(2).split('.')[0]!;
  const second = await fetch(`${base}/regenerate`, { headers: { Cookie: cookie } });
  const newId = await second.text();
  assert.notEqual(newId, oldId);
  const byId = (sid: string) => portal.deps.db.select().from(sessions).where(eq(sessions.sid, sid)).get();
  assert.deepEqual(JSON.parse(byId(newId)!.data), { note: 'new' }, 'the new id holds only the new session');
  assert.equal(byId(newId)!.revokedAt, null);
  assert.ok(byId(oldId)!.revokedAt, 'the old id is revoked and stays so');
  assert.ok(second.headers.getSetCookie()[0]!.startsWith(`portal.sid=${encodeURIComponent('s:' + newId)}.`), 'the cookie names the new id');
});
