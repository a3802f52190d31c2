// A used jti is committed before the token is answered (group commit), so kill -9 right
// after an answer cannot make the assertion usable again (issue 30's drill found the
// 50 ms write-behind window). A commit that meets a write lock answers 503, never a token.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import path from 'node:path';
import Database from 'better-sqlite3';
import * as jose from 'jose';
import { startPortal, type TestPortal } from '../helpers/portal.ts';
import { makeApplication, makeOrganisation } from '../helpers/fixtures.ts';
import { cliActor } from '../../server/audit/audit.ts';
import { addPublicKey } from '../../server/credentials/public-keys.ts';
import { findApplicationByClientId } from '../../server/admin/applications.ts';
import { ASSERTION_TYPE } from '../../server/oauth/client-assertion.ts';
import { createUsedAssertions } from '../../server/oauth/used-assertions.ts';

async function world(t: Parameters<typeof startPortal>[0]) {
  const portal = await startPortal(t);
  const org = makeOrganisation(portal, 'Hospital A');
  const clientId = makeApplication(portal, org, 'Partner-NL-HospitalA-DM', ['DM']);
  const app = findApplicationByClientId(portal.deps.db, clientId)!;
  const pair = await jose.generateKeyPair('ES256', { extractable: true });
  const added = addPublicKey(portal.deps, cliActor, app, { name: 'k', key: await jose.exportSPKI(pair.publicKey), expires: new Date(portal.clock.now() + 30 * 86_400_000).toISOString().slice(0, 10) });
  assert.ok(added.ok);
  const sign = () => {
    const now = Math.floor(portal.clock.now() / 1000);
    return new jose.SignJWT({ iss: clientId, sub: clientId, aud: portal.baseUrl, iat: now, exp: now + 300, jti: crypto.randomUUID() }).setProtectedHeader({ alg: 'ES256' }).sign(pair.privateKey);
  };
  return { portal, sign };
}

const token = async (portal: TestPortal, assertion: string) => {
  const res = await fetch(`${portal.baseUrl}/oauth/token`, { method: 'POST', headers: { 'Content-Type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ grant_type: 'client_credentials', client_assertion_type: ASSERTION_TYPE, client_assertion: assertion }).toString() });
  return { status: res.status, body: (await res.json()) as Record<string, string>, retryAfter: res.headers.get('retry-after') };
};

test('the used jti is in the database file when the token is answered (another connection reads it at once)', async (t) => {
  const { portal, sign } = await world(t);
  const reader = new Database(path.join(portal.dataDir, 'portal.sqlite'), { readonly: true });
  t.after(() => reader.close());
  const count = () => (reader.prepare('select count(*) as n from used_assertions').get() as { n: number }).n;
  const before = count();
  const answers = await Promise.all([sign(), sign(), sign()].map(async (a) => token(portal, await a)));
  assert.deepEqual(answers.map((a) => a.status), [200, 200, 200]);
  assert.equal(count(), before + 3, 'committed before the answers, not after a timer');
});

test('a write lock held elsewhere: the assertion is answered 503 temporarily_unavailable (no token), and is still single-use after the lock', async (t) => {
  const { portal, sign } = await world(t);
  const locker = new Database(path.join(portal.dataDir, 'portal.sqlite'));
  t.after(() => locker.close());
  const assertion = await sign();
  locker.exec('begin immediate');
  const during = await token(portal, assertion);
  locker.exec('commit');
  assert.equal(during.status, 503, JSON.stringify(during.body));
  assert.equal(during.body.error, 'temporarily_unavailable');
  assert.equal(during.body.access_token, undefined);
  assert.equal(during.retryAfter, '1');
  const again = await token(portal, assertion);
  assert.equal(again.status, 401, 'the jti was claimed: a replay, even of an answer that gave no token');
  // Once the lock is gone (and the connection's fail-fast second is over) assertions work.
  let ok = 0;
  for (let i = 0; i < 100 && ok === 0; i++) {
    if ((await token(portal, await sign())).status === 200) ok++;
    else await new Promise((r) => setTimeout(r, 50));
  }
  assert.equal(ok, 1);
});

test('a flush (shutdown, settle) before the group commit\'s turn commits the claims, and the turn that follows finds nothing to do', async (t) => {
  const portal = await startPortal(t);
  const sqlite = portal.deps.db.$client;
  const used = createUsedAssertions(sqlite, { warn: () => {} }, () => portal.clock.now());
  assert.equal(used.claim('client-x jti-1', portal.clock.now() + 60_000), true);
  used.flush();
  await used.committed();
  await new Promise((r) => setImmediate(r)); // the scheduled commit runs here: it must not throw
  assert.equal((sqlite.prepare('select count(*) as n from used_assertions where key = ?').get('client-x jti-1') as { n: number }).n, 1);
});
