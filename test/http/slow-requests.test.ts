// SECURITY.md 39: headers or a body that do not arrive within REQUEST_TIMEOUT_SECONDS →
// 408 and the connection closed; a client that went away is not an error and logs no
// stack trace. Real sockets against a real portal (the production server's options,
// serve.ts httpServerOptions, with a 1-second deadline).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { startPortal, type TestPortal } from '../helpers/portal.ts';
import { makeApplication, makeOrganisation } from '../helpers/fixtures.ts';
import { findApplicationByClientId } from '../../server/admin/applications.ts';
import { createClientSecret } from '../../server/credentials/secrets.ts';
import { cliActor } from '../../server/audit/audit.ts';
import { addDays, dateInZone } from '../../server/lib/dates.ts';
import { CONNECTIONS_CHECKING_INTERVAL_MS } from '../../server/serve.ts';
import { MAX_PIPELINED } from '../../server/handler.ts';

const DEADLINE_S = 1;

async function world(t: Parameters<typeof startPortal>[0]) {
  const portal = await startPortal(t, { REQUEST_TIMEOUT_SECONDS: String(DEADLINE_S) });
  const org = makeOrganisation(portal, 'Hospital A');
  const clientId = makeApplication(portal, org, 'Partner-NL-HospitalA-DM');
  const app = findApplicationByClientId(portal.deps.db, clientId)!;
  const made = createClientSecret(portal.deps, cliActor, app, { name: 'prod', expires: addDays(dateInZone(portal.clock.now(), 'UTC'), 30) });
  assert.ok(made.ok);
  return { portal, clientId, secret: made.value.secret };
}

interface Slow {
  label: string;
  socket: net.Socket;
  received: () => string;
  // When the server closed it, ms after the connection was made.
  closed: Promise<number>;
}

// Connects and sends `head`, and then never another byte.
function slowRequest(portal: TestPortal, label: string, head: string): Promise<Slow> {
  const { port } = new URL(portal.baseUrl);
  return new Promise((resolve, reject) => {
    let received = '';
    let started = 0;
    const socket = net.connect(Number(port), '127.0.0.1');
    const closed = new Promise<number>((done) => socket.on('close', () => done(performance.now() - started)));
    socket.on('data', (d) => (received += d));
    socket.on('error', () => {}); // a reset after the 408 is fine
    socket.once('connect', () => {
      started = performance.now();
      socket.write(head, () => resolve({ label, socket, received: () => received, closed }));
    });
    socket.once('error', reject);
  });
}

// Headers announcing 100 bytes, and 10 of them.
const tenOfHundred = (path: string, extra = '') =>
  `POST ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n${extra}\r\ngrant_type`;

function tokenRequest(portal: TestPortal, clientId: string, secret: string) {
  return fetch(`${portal.baseUrl}/oauth/token`, {
    method: 'POST',
    headers: { Authorization: 'Basic ' + Buffer.from(`${clientId}:${secret}`).toString('base64'), 'Content-Type': 'application/x-www-form-urlencoded' },
    body: 'grant_type=client_credentials',
  });
}

function assertNoStackNo500(portal: TestPortal) {
  for (const line of portal.logs) {
    assert.doesNotMatch(line, /"stack"|\\n\s+at /, `no stack trace logged: ${line.slice(0, 300)}`);
    assert.doesNotMatch(line, /"status":500|unhandled error|oauth endpoint failed|" 500"/, `no 500: ${line.slice(0, 300)}`);
  }
}

async function until(what: string, condition: () => boolean, ms = 5000) {
  const deadline = performance.now() + ms;
  while (!condition()) {
    assert.ok(performance.now() < deadline, `waited ${ms} ms for: ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

test('bodies and headers that never arrive: 408 and the connection closed within the deadline, while /healthz and /oauth/token keep answering', async (t) => {
  const { portal, clientId, secret } = await world(t);
  const slow: Slow[] = [];
  for (let i = 0; i < 10; i++) {
    slow.push(await slowRequest(portal, `POST /login, 10 of 100 bytes (${i})`, tenOfHundred('/login')));
    slow.push(await slowRequest(portal, `POST /oauth/token, 10 of 100 bytes (${i})`, tenOfHundred('/oauth/token')));
  }
  slow.push(await slowRequest(portal, 'headers never finished', 'POST /login HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100\r\n'));
  t.after(() => slow.forEach((s) => s.socket.destroy()));

  // Meanwhile, everyone else is served.
  const health = await fetch(`${portal.baseUrl}/healthz`);
  assert.equal(health.status, 200);
  assert.equal(await health.text(), 'ok');
  const token = await tokenRequest(portal, clientId, secret);
  assert.equal(token.status, 200, await token.text());

  // The deadline counts from the request's first byte; the server looks every second.
  const limit = DEADLINE_S * 1000 + CONNECTIONS_CHECKING_INTERVAL_MS + 1500;
  for (const s of slow) {
    const ms = await Promise.race([s.closed, new Promise<number>((r) => setTimeout(() => r(Infinity), limit).unref())]);
    assert.match(s.received(), /^HTTP\/1\.1 408 /, `${s.label}: 408 (got ${JSON.stringify(s.received().slice(0, 80))})`);
    assert.ok(ms >= DEADLINE_S * 1000 - 50, `${s.label}: not before the deadline (${ms.toFixed(0)} ms)`);
    assert.ok(ms < limit, `${s.label}: closed after ${ms.toFixed(0)} ms, within ${limit}`);
  }
  // The token endpoint answers its own 408 when its body deadline comes first: JSON, closed.
  for (const s of slow.filter((x) => x.label.includes('/oauth/token') && x.received().includes('{'))) {
    assert.match(s.received(), /Connection: close/i);
    assert.match(s.received(), /"error":"invalid_request"/);
  }

  // Still serving afterwards; the request log counts the 408s; no stack, no 500.
  assert.equal((await tokenRequest(portal, clientId, secret)).status, 200);
  portal.settle();
  const tally = portal.logs.filter((l) => l.includes('"oauth requests"')).join('\n');
  assert.match(tally, /"\/oauth\/token 408":\d+/, 'the request log counts the token requests as 408');
  await until('the ten /login requests in the request log as 408', () => portal.logs.filter((l) => /"msg":"request".*"path":"\/login".*"status":408/.test(l)).length === 10);
  assertNoStackNo500(portal);
});

// Sends the headers with `Expect: 100-continue`: Node answers `100 Continue` as it hands
// the request to the portal, so the portal is reading the body when the client leaves.
async function leaveMidBody(portal: TestPortal, path: string) {
  const s = await slowRequest(portal, path, tenOfHundred(path, 'Expect: 100-continue\r\n').replace(/grant_type$/, ''));
  await until(`${path}: 100 Continue`, () => s.received().startsWith('HTTP/1.1 100 Continue'));
  await new Promise<void>((resolve) => s.socket.write('grant_type', () => resolve()));
  s.socket.destroy();
  await s.closed;
}

test('a client that disconnects in the middle of its body: no stack trace, no 500, one request-log line with 499', async (t) => {
  const { portal, clientId, secret } = await world(t);
  await leaveMidBody(portal, '/login');
  await until('POST /login logged as 499', () => portal.logs.some((l) => /"msg":"request".*"path":"\/login".*"status":499/.test(l)));

  await leaveMidBody(portal, '/oauth/token');
  await until('POST /oauth/token counted in the request log', () => {
    portal.settle();
    return portal.logs.some((l) => l.includes('"/oauth/token '));
  });
  assert.ok(portal.logs.some((l) => l.includes('"requests":{"/oauth/token 499":1}')), portal.logs.filter((l) => l.includes('oauth')).join('\n'));

  assertNoStackNo500(portal);
  assert.equal(portal.logs.filter((l) => l.includes('"level":"error"')).length, 0, 'nothing logged as an error');
  assert.equal((await tokenRequest(portal, clientId, secret)).status, 200, 'the endpoint carries on');
  assert.equal((await fetch(`${portal.baseUrl}/healthz`)).status, 200);
});

// A client that pipelines many requests in one packet (and may never read the answers):
// past MAX_PIPELINED queued behind the first, the connection is closed (the answers would
// otherwise pile up in memory); a client that pipelines a few gets every answer.
test('deep pipelining is cut off; a few pipelined requests are all answered', async (t) => {
  const { portal } = await world(t);
  const { port } = new URL(portal.baseUrl);
  const pipelined = (n: number) =>
    new Promise<number>((resolve) => {
      const socket = net.connect(Number(port), '127.0.0.1');
      let text = '';
      socket.on('data', (d) => (text += d.toString('latin1')));
      socket.on('close', () => resolve((text.match(/HTTP\/1\.1 \d{3} /g) ?? []).length));
      socket.on('error', () => {});
      const get = (close: boolean) => `GET /healthz HTTP/1.1\r\nHost: x\r\n${close ? 'Connection: close\r\n' : ''}\r\n`;
      socket.write(Array.from({ length: n }, (_, i) => get(i === n - 1)).join(''));
    });
  assert.equal(await pipelined(MAX_PIPELINED), MAX_PIPELINED, 'every one of a few pipelined requests answered');
  // Two in flight at a time, forty in all, on one connection: never more than one waiting.
  const steady = await new Promise<number>((resolve, reject) => {
    const socket = net.connect(Number(port), '127.0.0.1');
    let text = '';
    let sent = 0;
    const pair = () => {
      sent += 2;
      socket.write('GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n'.repeat(2));
    };
    socket.on('data', (d) => {
      text += d.toString('latin1');
      const got = (text.match(/HTTP\/1\.1 \d{3} /g) ?? []).length;
      if (got === sent && sent < 40) pair();
      else if (got === 40) {
        socket.end();
        resolve(got);
      }
    });
    socket.on('close', () => resolve((text.match(/HTTP\/1\.1 \d{3} /g) ?? []).length));
    socket.on('error', reject);
    socket.on('connect', pair);
  });
  assert.equal(steady, 40, 'a client that keeps two in flight is never cut off');
  const answered = await pipelined(1000);
  assert.ok(answered <= MAX_PIPELINED + 1, `the connection was closed after at most ${MAX_PIPELINED + 1} answers, not 1000 (${answered})`);
  assert.equal((await fetch(`${portal.baseUrl}/healthz`)).status, 200, 'and the portal keeps serving');
});
