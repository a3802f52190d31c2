// Signatures on libuv's thread pool, with the main thread as the fallback: the rules of
// server/thread-pool.ts with a pool we answer by hand, then the token endpoint while the
// real pool is held by other work.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { createOffload, threadPool } from '../server/thread-pool.ts';
import { startPortal } from './helpers/portal.ts';
import { makeApplication, makeOrganisation } from './helpers/fixtures.ts';
import { createClientSecret } from '../server/credentials/secrets.ts';
import { findApplicationByClientId } from '../server/admin/applications.ts';
import { cliActor } from '../server/audit/audit.ts';
import { addDays, dateInZone } from '../server/dates.ts';

type Done = (err: Error | null, value: string) => void;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test('offload: pooled while the pool is free, inline when it is full or slow work runs, rescued inline when the pool does not answer', async () => {
  const offload = createOffload({ maxInPool: 2, rescueAfterMs: 15, inlineForMs: 60 });
  const held: Done[] = [];
  const hold = (done: Done) => held.push(done);

  // Pooled: a promise, answered by the pool's callback.
  const first = offload.run(hold, () => 'inline');
  assert.ok(first instanceof Promise);
  held.shift()!(null, 'pooled');
  assert.equal(await first, 'pooled');

  // Two waiting fill the pool (maxInPool 2): the third runs inline, at once.
  const a = offload.run(hold, () => 'inline a');
  const b = offload.run(hold, () => 'inline b');
  assert.equal(offload.run(hold, () => 'inline c'), 'inline c');
  held.splice(0).forEach((done, i) => done(null, `pooled ${i}`));
  assert.deepEqual(await Promise.all([a, b]), ['pooled 0', 'pooled 1']);

  // While slow work (a password hash) is in flight, signatures run inline.
  let finishSlow!: () => void;
  const slow = offload.slow(new Promise<void>((r) => (finishSlow = r)));
  assert.equal(offload.run(hold, () => 'inline during scrypt'), 'inline during scrypt');
  finishSlow();
  await slow;
  const afterSlow = offload.run(hold, () => 'inline');
  assert.ok(afterSlow instanceof Promise, 'pooled again once the slow work settled');
  held.shift()!(null, 'pooled');
  await afterSlow;

  // The pool does not answer within 15 ms: done inline, the late answer dropped.
  const started = Date.now();
  const stuck = offload.run(hold, () => 'rescued');
  assert.equal(await stuck, 'rescued');
  assert.ok(Date.now() - started < 200, 'rescued within about 15 ms');
  assert.equal(offload.counts.rescued, 1);
  held.shift()!(null, 'late');
  assert.equal(await stuck, 'rescued', 'the late answer changes nothing');
  // For the next 60 ms everything runs inline; then the pool is tried again.
  assert.equal(offload.run(hold, () => 'inline after a rescue'), 'inline after a rescue');
  await sleep(80);
  const retried = offload.run(hold, () => 'inline');
  assert.ok(retried instanceof Promise);
  held.shift()!(null, 'pooled again');
  assert.equal(await retried, 'pooled again');

  // SIGNATURES=inline: every signature on the main thread, until the mode is pool again.
  offload.setMode('inline');
  assert.equal(offload.run(hold, () => 'inline by setting'), 'inline by setting');
  offload.setMode('pool');
  const pooledAgain = offload.run(hold, () => 'inline');
  assert.ok(pooledAgain instanceof Promise);
  held.shift()!(null, 'pooled');
  await pooledAgain;

  // A failure in the pool rejects; one thrown while handing over rejects and frees its place.
  const failed = offload.run<string>((done) => done(new Error('bad key'), ''), () => 'inline');
  await assert.rejects(failed as Promise<string>, /bad key/);
  const thrown = offload.run<string>(() => {
    throw new Error('thrown');
  }, () => 'inline');
  await assert.rejects(thrown as Promise<string>, /thrown/);
  const x = offload.run(hold, () => 'inline x');
  const y = offload.run(hold, () => 'inline y');
  assert.ok(x instanceof Promise && y instanceof Promise, 'the two places are free again');
  held.splice(0).forEach((done) => done(null, 'ok'));
  await Promise.all([x, y]);
});

test('token endpoint: a token while the thread pool is held by other work comes within the rescue time, not after it', async (t) => {
  const portal = await startPortal(t, { SIGNATURES: 'pool' }); // whatever the machine's cores
  const org = makeOrganisation(portal, 'Hospital A');
  const clientId = makeApplication(portal, org, 'Partner-NL-HospitalA-DM', ['DM']);
  const made = createClientSecret(portal.deps, cliActor, findApplicationByClientId(portal.deps.db, clientId)!, { name: 'pool', expires: addDays(dateInZone(portal.clock.now(), 'UTC'), 30) });
  assert.ok(made.ok);
  const token = async () => {
    const started = performance.now();
    const res = await fetch(`${portal.baseUrl}/oauth/token`, {
      method: 'POST',
      headers: { Authorization: 'Basic ' + Buffer.from(`${clientId}:${made.value.secret}`).toString('base64'), 'Content-Type': 'application/x-www-form-urlencoded' },
      body: 'grant_type=client_credentials',
    });
    const body = (await res.json()) as { access_token?: string };
    return { status: res.status, ms: performance.now() - started, token: body.access_token };
  };
  assert.equal((await token()).status, 200, 'warm');

  // Every thread of the pool (4) held for about a second by key derivation.
  const pooledBefore = threadPool.counts.pooled;
  const rescuedBefore = threadPool.counts.rescued;
  const holdStarted = performance.now();
  const holding = Array.from({ length: 4 }, () => new Promise((resolve) => crypto.pbkdf2('p', 's', 1_500_000, 32, 'sha256', resolve)));
  const during = await token();
  const released = await Promise.all(holding).then(() => performance.now() - holdStarted);
  assert.equal(during.status, 200);
  assert.match(during.token ?? '', /^[\w-]+\.[\w-]+\.[\w-]+$/);
  assert.ok(released > 300, `the pool was held (${released.toFixed(0)} ms)`);
  assert.ok(during.ms < released / 2, `answered in ${during.ms.toFixed(0)} ms while the pool was held for ${released.toFixed(0)} ms`);
  assert.equal(threadPool.counts.rescued, rescuedBefore + 1, 'signed inline after the pool did not answer');
  assert.ok(threadPool.counts.pooled > pooledBefore, 'it had tried the pool first');
});
