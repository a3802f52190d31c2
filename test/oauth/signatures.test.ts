// Signatures on a thread of their own, with the main thread as the fallback: the rules of
// server/oauth/signatures/offload.ts with a thread we answer by hand, the signature thread
// itself (keys sent once, a lost thread, one per portal), then the token endpoint while
// libuv's pool is held by other work and after its signature thread was lost.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { tempDir } from '../helpers/temp.ts';
import { createOffload } from '../../server/oauth/signatures/offload.ts';
import { createSignatureThread } from '../../server/oauth/signatures/thread.ts';
import { createSignatures, signaturesMode } from '../../server/oauth/signatures/signatures.ts';
import { startPortal } from '../helpers/portal.ts';
import { makeApplication, makeOrganisation } from '../helpers/fixtures.ts';
import { createClientSecret } from '../../server/credentials/secrets.ts';
import { addPublicKey } from '../../server/credentials/public-keys.ts';
import { findApplicationByClientId } from '../../server/admin/applications.ts';
import { cliActor } from '../../server/audit/audit.ts';
import { addDays, dateInZone } from '../../server/lib/dates.ts';
import { gaugeSizes } from '../../server/lib/gauges.ts';

type Done = (err: Error | null, value: string) => void;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test('offload: on the thread while fewer than maxOnThread wait, inline when full, done inline when the thread does not answer or fails', async () => {
  const offload = createOffload({ maxOnThread: 2, rescueAfterMs: 15, inlineForMs: 60 });
  const held: Done[] = [];
  const hold = (done: Done) => held.push(done);

  // On the thread: a promise, answered by the thread's callback.
  const first = offload.run(hold, () => 'inline');
  assert.ok(first instanceof Promise);
  held.shift()!(null, 'on the thread');
  assert.equal(await first, 'on the thread');

  // Two waiting fill the thread's share (maxOnThread 2): the third runs inline, at once.
  const a = offload.run(hold, () => 'inline a');
  const b = offload.run(hold, () => 'inline b');
  assert.equal(offload.run(hold, () => 'inline c'), 'inline c');
  held.splice(0).forEach((done, i) => done(null, `pooled ${i}`));
  assert.deepEqual(await Promise.all([a, b]), ['pooled 0', 'pooled 1']);

  // The thread does not answer within 15 ms: done inline, the late answer dropped.
  const started = Date.now();
  const stuck = offload.run(hold, () => 'rescued');
  assert.equal(await stuck, 'rescued');
  assert.ok(Date.now() - started < 200, 'rescued within about 15 ms');
  assert.equal(offload.counts.rescued, 1);
  held.shift()!(null, 'late');
  assert.equal(await stuck, 'rescued', 'the late answer changes nothing');
  // For the next 60 ms everything runs inline; then the thread is tried again.
  assert.equal(offload.run(hold, () => 'inline after a rescue'), 'inline after a rescue');
  await sleep(80);
  const retried = offload.run(hold, () => 'inline');
  assert.ok(retried instanceof Promise);
  held.shift()!(null, 'pooled again');
  assert.equal(await retried, 'pooled again');

  // SIGNATURES=inline: every signature on the main thread; the thread's offload beside it
  // still hands them over.
  const inlineOffload = createOffload({ mode: 'inline' });
  assert.equal(inlineOffload.run(hold, () => 'inline by setting'), 'inline by setting');
  const pooledAgain = offload.run(hold, () => 'inline');
  assert.ok(pooledAgain instanceof Promise);
  held.shift()!(null, 'pooled');
  await pooledAgain;

  // A failure on the thread is done inline: the inline work's own value, or its own error
  // (a bad key fails the same way twice). One thrown while handing over likewise, and
  // either way its place is freed.
  const rescuedBefore = offload.counts.rescued;
  const failed = offload.run<string>((done) => done(new Error('thread exited'), ''), () => 'inline after a failure');
  assert.equal(await failed, 'inline after a failure');
  const badKey = offload.run<string>((done) => done(new Error('bad key'), ''), () => {
    throw new Error('bad key, inline');
  });
  await assert.rejects(badKey as Promise<string>, /bad key, inline/);
  const thrown = offload.run<string>(() => {
    throw new Error('thrown');
  }, () => 'inline after a throw');
  assert.equal(await thrown, 'inline after a throw');
  assert.equal(offload.counts.rescued, rescuedBefore + 3);
  const x = offload.run(hold, () => 'inline x');
  const y = offload.run(hold, () => 'inline y');
  assert.ok(x instanceof Promise && y instanceof Promise, 'the two places are free again');
  held.splice(0).forEach((done) => done(null, 'ok'));
  await Promise.all([x, y]);
});

test('offload: a verification the thread is slow with is never redone on the main thread; it is refused after giveUpAfterMs', async () => {
  const offload = createOffload({ maxOnThread: 4, rescueAfterMs: 10, inlineForMs: 200, giveUpAfterMs: 60 });
  const held: Done[] = [];
  const hold = (done: Done) => held.push(done);
  let inlineRuns = 0;
  const inline = () => {
    inlineRuns++;
    return 'verified inline';
  };
  // A signature beside it is rescued at 10 ms and starts an inline spell...
  const signature = offload.run(hold, () => 'signed inline');
  const started = Date.now();
  const verification = offload.run(hold, inline, () => 'refused');
  assert.ok(verification instanceof Promise);
  assert.equal(await signature, 'signed inline');
  // ...which verifications ignore: the next one still goes to the thread.
  const during = offload.run(hold, inline, () => 'refused');
  assert.ok(during instanceof Promise, 'a verification waits for the thread even during the inline spell');
  assert.equal(await verification, 'refused');
  assert.ok(Date.now() - started >= 55, 'given up on only after giveUpAfterMs');
  assert.equal(await during, 'refused');
  assert.equal(inlineRuns, 0, 'never done on the main thread');
  assert.equal(offload.counts.givenUp, 2);
  // Answered in time, the thread's answer counts.
  const answered = offload.run(hold, inline, () => 'refused');
  held.at(-1)!(null, 'verified on the thread');
  assert.equal(await answered, 'verified on the thread');
  // Failed by the thread, or thrown while handing over: refused, not redone inline.
  assert.equal(await offload.run<string>((done) => done(new Error('thread exited'), ''), inline, () => 'refused'), 'refused');
  assert.equal(await offload.run<string>(() => { throw new Error('thrown'); }, inline, () => 'refused'), 'refused');
  assert.equal(inlineRuns, 0);
});

test('offload: a flood of verifications is refused once maxOnThread wait, and waits for a thread that is not up yet, never inline', async () => {
  let up = false;
  const offload = createOffload({ maxOnThread: 3, rescueAfterMs: 10, giveUpAfterMs: 5000, ready: () => up });
  const held: Done[] = [];
  const hold = (done: Done) => held.push(done);
  let inlineRuns = 0;
  const inline = () => (inlineRuns++, 'verified inline');
  // Not up yet: a signature runs inline, a verification is handed to the thread anyway.
  assert.equal(offload.run(hold, () => 'signed inline'), 'signed inline');
  const waiting = [offload.run(hold, inline, () => 'refused'), offload.run(hold, inline, () => 'refused'), offload.run(hold, inline, () => 'refused')];
  assert.ok(waiting.every((w) => w instanceof Promise), 'handed over before the thread is up');
  up = true;
  // Three wait (maxOnThread): the fourth is refused at once, without work.
  assert.equal(offload.run(hold, inline, () => 'refused'), 'refused');
  held.splice(0).forEach((done) => done(null, 'verified on the thread'));
  assert.deepEqual(await Promise.all(waiting), ['verified on the thread', 'verified on the thread', 'verified on the thread']);
  assert.equal(inlineRuns, 0);
  // SIGNATURES=inline: the configured mode is the one place verifications run inline.
  const inlineMode = createOffload({ mode: 'inline' });
  assert.equal(inlineMode.run(hold, inline, () => 'refused'), 'verified inline');
});

const call = <T>(start: (done: (err: Error | null, value: T) => void) => void) => new Promise<T>((resolve, reject) => start((err, value) => (err ? reject(err) : resolve(value))));

test('signature thread: signs and checks as node:crypto does, a batch answered by id, a lost thread answers what it held with an error', async () => {
  const thread = createSignatureThread({ restartAfterMs: 0 });
  const ec = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const ed = crypto.generateKeyPairSync('ed25519');
  const rsa = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
  const p1363 = { dsaEncoding: 'ieee-p1363' } as const;
  const pss = { padding: crypto.constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 };
  const input = 'eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJDbMOpIn0';

  // ES256 signed on the thread checks here, and one signed here checks there.
  const signature = await call<string>((done) => thread.sign('sha256', input, ec.privateKey, p1363, done));
  assert.equal(Buffer.from(signature, 'base64url').length, 64);
  assert.ok(crypto.verify('sha256', Buffer.from(input), { key: ec.publicKey, ...p1363 }, Buffer.from(signature, 'base64url')));
  const here = crypto.sign('sha256', Buffer.from(input), { key: ec.privateKey, ...p1363 }).toString('base64url');
  assert.equal(await call<boolean>((done) => thread.verify('sha256', input, ec.publicKey, p1363, here, done)), true);

  // Thirty at once (one batch), three key types with their options, half of them tampered:
  // each answer reaches its own caller.
  const keys = [
    { hash: 'sha256', pair: ec, options: p1363 },
    { hash: null, pair: ed, options: {} },
    { hash: 'sha256', pair: rsa, options: pss },
  ];
  const checks = Array.from({ length: 30 }, (_, i) => {
    const { hash, pair, options } = keys[i % 3]!;
    const data = `${input}.${i}`;
    const sig = crypto.sign(hash, Buffer.from(data), { key: pair.privateKey, ...options }).toString('base64url');
    return call<boolean>((done) => thread.verify(hash, i % 2 ? `${data}!` : data, pair.publicKey, options, sig, done));
  });
  assert.deepEqual(await Promise.all(checks), Array.from({ length: 30 }, (_, i) => i % 2 === 0));

  // node:crypto's own error comes back as an error (a public key cannot sign).
  await assert.rejects(call((done) => thread.sign('sha256', input, ec.publicKey, p1363, done)), /key/i);

  // A batch that cannot be sent (a function in the options cannot be cloned) answers each of
  // its jobs with the error, and the process goes on; the key, new in that batch, is sent
  // again with the next one.
  const ed2 = crypto.generateKeyPairSync('ed25519');
  const unsendable = { dsaEncoding: 'ieee-p1363', toString: () => 'x' };
  const sameBatch = [
    call((done) => thread.sign(null, input, ed2.privateKey, unsendable, done)),
    call((done) => thread.sign(null, input, ed2.privateKey, {}, done)),
  ];
  for (const job of sameBatch) await assert.rejects(job, /clone/i);
  const afterwards = await call<string>((done) => thread.sign(null, input, ed2.privateKey, {}, done));
  assert.ok(crypto.verify(null, Buffer.from(input), ed2.publicKey, Buffer.from(afterwards, 'base64url')));

  // The thread ends with jobs in hand (two hundred RSA signatures, a few hundred ms of work):
  // each is answered, either with its signature or with an error (the offload then does it
  // inline), and the next job starts a new thread, to which the key is sent again.
  const inHand = Array.from({ length: 200 }, (_, i) =>
    call<string>((done) => thread.sign('sha256', `${input}.${i}`, rsa.privateKey, {}, done)).then(
      (sig) => crypto.verify('sha256', Buffer.from(`${input}.${i}`), rsa.publicKey, Buffer.from(sig, 'base64url')),
      (err: Error) => err.message,
    ),
  );
  await sleep(20);
  await thread.stop();
  const outcomes = await Promise.all(inHand);
  assert.ok(outcomes.every((o) => o === true || o === 'signature thread exited with 1'), String(outcomes.find((o) => o !== true)));
  assert.ok(outcomes.includes('signature thread exited with 1'), 'some were in hand when it ended');
  assert.equal(thread.lost, 1);
  const again = await call<string>((done) => thread.sign('sha256', input, ec.privateKey, p1363, done));
  assert.ok(crypto.verify('sha256', Buffer.from(input), { key: ec.publicKey, ...p1363 }, Buffer.from(again, 'base64url')));
  await thread.stop();
});

test('signature thread: reports the keys it holds and its heap, which kill -USR2 logs with the other sizes', async () => {
  const thread = createSignatureThread({ restartAfterMs: 0 });
  assert.equal(thread.memory, null, 'not started: nothing reported');
  const ec = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const p1363 = { dsaEncoding: 'ieee-p1363' } as const;
  await call<string>((done) => thread.sign('sha256', 'a.b', ec.privateKey, p1363, done));
  assert.equal(thread.held, 2, 'the key and its options object, sent once');
  await call<string>((done) => thread.sign('sha256', 'a.c', ec.privateKey, p1363, done));
  assert.equal(thread.held, 2);
  // Its first report comes once it listens; the heap is its own (a few MiB), not the process's.
  const deadline = Date.now() + 10_000;
  while (!thread.memory && Date.now() < deadline) await sleep(5);
  assert.ok(thread.memory, 'a report within 10 s');
  const { heapUsed, heapTotal } = thread.memory;
  assert.ok(heapUsed > 0 && heapUsed <= heapTotal && heapTotal < 256 * 2 ** 20, JSON.stringify(thread.memory));
  const sizes = gaugeSizes();
  assert.ok(sizes['signature thread: keys and options held']! >= 2);
  assert.ok(sizes.signatureThreadHeapTotalMiB! > 0);
  await thread.close();
});

test('signatures: a thread of their own for each set (the endpoints make one per portal); closing one ends its thread and no other', async () => {
  assert.deepEqual([signaturesMode('auto', 1), signaturesMode('auto', 2), signaturesMode('thread', 1), signaturesMode('inline', 8)], ['inline', 'thread', 'thread', 'inline']);
  const ec = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const p1363 = { dsaEncoding: 'ieee-p1363' } as const;
  const portals = [createSignatures('thread'), createSignatures('thread')];
  // The first signature starts each portal's thread (signed inline meanwhile).
  for (const s of portals) assert.equal(typeof s.sign('sha256', 'a.b', ec.privateKey, p1363), 'string');
  for (let i = 0; i < 700 && !portals.every((s) => s.thread.ready); i++) await sleep(10);
  assert.ok(portals.every((s) => s.thread.ready), 'both threads are up');
  const [a, b] = portals as [ReturnType<typeof createSignatures>, ReturnType<typeof createSignatures>];
  await a.close();
  const onB = b.sign('sha256', 'a.b', ec.privateKey, p1363);
  assert.ok(onB instanceof Promise, 'the other portal still signs on its thread');
  assert.ok(crypto.verify('sha256', Buffer.from('a.b'), { key: ec.publicKey, ...p1363 }, Buffer.from(await onB, 'base64url')));
  assert.equal(typeof a.sign('sha256', 'a.b', ec.privateKey, p1363), 'string', 'the closed one signs inline');
  assert.deepEqual([a.thread.lost, b.thread.lost, a.counts.thread, b.counts.thread], [0, 0, 0, 1], 'a close is no loss');
  await b.close();
});

async function portalWithSecret(t: TestContext) {
  const portal = await startPortal(t, { SIGNATURES: 'pool' }); // the thread's former name, whatever the machine's cores
  const org = makeOrganisation(portal, 'Hospital A');
  const clientId = makeApplication(portal, org, 'Partner-NL-HospitalA-DM', ['DM']);
  const made = createClientSecret(portal.deps, cliActor, findApplicationByClientId(portal.deps.db, clientId)!, { name: 'thread', expires: addDays(dateInZone(portal.clock.now(), 'UTC'), 30) });
  assert.ok(made.ok);
  const secret = made.value.secret;
  async function token() {
    const started = performance.now();
    const res = await fetch(`${portal.baseUrl}/oauth/token`, {
      method: 'POST',
      headers: { Authorization: 'Basic ' + Buffer.from(`${clientId}:${secret}`).toString('base64'), 'Content-Type': 'application/x-www-form-urlencoded' },
      body: 'grant_type=client_credentials',
    });
    const body = (await res.json()) as { access_token?: string };
    return { status: res.status, ms: performance.now() - started, token: body.access_token };
  }
  return { token, portal, signatures: portal.signatures, clientId };
}

type Portal = Awaited<ReturnType<typeof portalWithSecret>>;

// A first token, which starts the signature thread if it is not running (signed inline
// meanwhile; after a lost thread, a new one starts at most five seconds after the last).
async function warmed({ token, signatures }: Portal) {
  assert.equal((await token()).status, 200, 'warm');
  for (let i = 0; i < 700 && !signatures.thread.ready; i++) await sleep(10);
  assert.ok(signatures.thread.ready, 'the thread is up');
}

test('token endpoint: libuv\'s pool held by other work does not hold up a token', async (t) => {
  const portal = await portalWithSecret(t);
  const { token, signatures } = portal;
  await warmed(portal);

  // Every thread of libuv's pool (4) held, without using the CPU: each waits to open a named
  // pipe for reading until we open it for writing, a second later.
  const fifos = Array.from({ length: 4 }, (_, i) => path.join(tempDir(t), `hold-${i}`));
  execFileSync('mkfifo', fifos);
  const onThreadBefore = signatures.counts.thread;
  const rescuedBefore = signatures.counts.rescued;
  const holdStarted = performance.now();
  const holding = fifos.map((f) => fs.promises.open(f, 'r'));
  const holdTimer = setTimeout(() => fifos.forEach((f) => fs.closeSync(fs.openSync(f, 'w'))), 1000);
  t.after(() => clearTimeout(holdTimer));
  await sleep(50);
  const during = await token();
  const released = await Promise.all(holding).then(async (handles) => {
    await Promise.all(handles.map((h) => h.close()));
    return performance.now() - holdStarted;
  });
  assert.equal(during.status, 200);
  assert.match(during.token ?? '', /^[\w-]+\.[\w-]+\.[\w-]+$/);
  assert.ok(released > 900, `the pool was held (${released.toFixed(0)} ms)`);
  assert.ok(during.ms < 300, `answered in ${during.ms.toFixed(0)} ms while the pool was held for ${released.toFixed(0)} ms`);
  assert.equal(signatures.counts.thread, onThreadBefore + 1, 'signed on the signature thread');
  assert.equal(signatures.counts.rescued, rescuedBefore, 'nothing waited for the pool');
});

test('token endpoint: the signature thread lost costs no token, and the request log warns of it', async (t) => {
  const portal = await portalWithSecret(t);
  const { token, signatures } = portal;
  await warmed(portal);
  const lostBefore = signatures.thread.lost;
  await signatures.thread.stop();
  assert.equal(signatures.thread.lost, lostBefore + 1);
  for (let i = 0; i < 3; i++) {
    const after = await token();
    assert.equal(after.status, 200);
    assert.match(after.token ?? '', /^[\w-]+\.[\w-]+\.[\w-]+$/);
  }
  portal.portal.settle();
  const warnings = portal.portal.logs.map((l) => JSON.parse(l) as { level: string; msg: string; times?: number; why?: string }).filter((l) => l.msg === 'signature thread lost');
  assert.deepEqual(warnings.map((w) => [w.level, w.times, w.why]), [['warn', 1, 'exited with 1']]);
});

// A client assertion the thread cannot check (it was lost; a new one may start only five
// seconds after the last) is 503 temporarily_unavailable: not a bad credential, not counted
// against the client, not remembered as failed; once the thread is back it gets its token.
test('token endpoint: an assertion the lost thread cannot check is 503, not a failure of the client\'s', async (t) => {
  const portal = await portalWithSecret(t);
  await warmed(portal);
  const { clientId } = portal;
  const app = findApplicationByClientId(portal.portal.deps.db, clientId)!;
  const pair = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
  assert.ok(addPublicKey(portal.portal.deps, cliActor, app, { name: 'k', key: JSON.stringify(pair.publicKey.export({ format: 'jwk' })), expires: addDays(dateInZone(portal.portal.clock.now(), 'UTC'), 30) }).ok);
  const b64 = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const now = Math.floor(portal.portal.clock.now() / 1000);
  const input = `${b64({ alg: 'ES256' })}.${b64({ iss: clientId, sub: clientId, aud: portal.portal.baseUrl, iat: now, exp: now + 60, jti: crypto.randomUUID() })}`;
  const assertion = `${input}.${crypto.sign('sha256', Buffer.from(input), { key: pair.privateKey, dsaEncoding: 'ieee-p1363' }).toString('base64url')}`;
  const send = () => fetch(`${portal.portal.baseUrl}/oauth/token`, { method: 'POST', headers: { 'Content-Type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ grant_type: 'client_credentials', client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer', client_assertion: assertion }).toString() });
  await portal.signatures.thread.stop();
  const refused = await send();
  assert.equal(refused.status, 503);
  assert.equal(((await refused.json()) as { error: string }).error, 'temporarily_unavailable');
  portal.portal.settle();
  const failedRows = portal.portal.deps.db.$client.prepare("select count(*) as n from audit_events where action like 'token.auth_failed%'").get() as { n: number };
  assert.equal(failedRows.n, 0, 'not audited as a failed authentication');
  // The thread is made again (five seconds after the last start): the same assertion then gets its token.
  let status = 0;
  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline && (status = (await send()).status) !== 200) await sleep(250);
  assert.equal(status, 200, 'not remembered as failed: it works once the thread is back');
});

test('offload: a signature handed over after a verification is still rescued at its own 15 ms, not at the verification\'s deadline', async () => {
  const offload = createOffload({ rescueAfterMs: 15, giveUpAfterMs: 5000 });
  const held: Done[] = [];
  const hold = (done: Done) => held.push(done);
  const verification = offload.run(hold, () => 'verified inline', () => 'refused');
  const started = Date.now();
  assert.equal(await offload.run(hold, () => 'signed inline'), 'signed inline');
  assert.ok(Date.now() - started < 1000, `rescued in ${Date.now() - started} ms`);
  held[0]!(null, 'verified on the thread');
  assert.equal(await verification, 'verified on the thread');
});
