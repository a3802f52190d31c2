// A real token request from a real source address on loopback (127.0.0.x) with a User-Agent.
import http from 'node:http';
import assert from 'node:assert/strict';
import type { TestPortal } from './portal.ts';
import { cliActor } from '../../server/audit/audit.ts';
import { createClientSecret } from '../../server/credentials/secrets.ts';
import { findApplicationByClientId } from '../../server/admin/applications.ts';
import { addDays, dateInZone } from '../../server/lib/dates.ts';

const DAY = 86_400_000;

const basic = (id: string, secret: string) => 'Basic ' + Buffer.from(`${id}:${secret}`).toString('base64');

export function tokenFrom(portal: Pick<TestPortal, 'baseUrl'>, from: string, clientId: string, secret: string, userAgent: string): Promise<{ status: number; body: Record<string, string> }> {
  return new Promise((resolve, reject) => {
    const headers = { 'Content-Type': 'application/x-www-form-urlencoded', Authorization: basic(clientId, secret), 'User-Agent': userAgent };
    const req = http.request(`${portal.baseUrl}/oauth/token`, { method: 'POST', localAddress: from, headers }, (res) => {
      let text = '';
      res.on('data', (d) => (text += d));
      res.on('end', () => resolve({ status: res.statusCode!, body: JSON.parse(text) }));
    });
    req.on('error', reject);
    req.end('grant_type=client_credentials');
  });
}

export function secretFor(portal: TestPortal, clientId: string, name: string, days = 90) {
  const app = findApplicationByClientId(portal.deps.db, clientId)!;
  const r = createClientSecret(portal.deps, cliActor, app, { name, expires: addDays(dateInZone(portal.clock.now(), 'UTC'), days) });
  assert.ok(r.ok);
  return { secret: r.value.secret, id: r.value.row.id };
}

// "Old" used on 10 Nov; "Secret by VM 2026" created on 12 Nov and used since, last on 19 Nov.
export async function takeOver(portal: TestPortal, clientId: string, oldDays = 90) {
  const old = secretFor(portal, clientId, 'Old', oldDays);
  for (let i = 0; i < 2; i++) assert.equal((await tokenFrom(portal, '127.0.0.2', clientId, old.secret, 'python-requests/2.31')).status, 200);
  portal.settle();
  portal.clock.advance(2 * DAY);
  const vm = secretFor(portal, clientId, 'Secret by VM 2026');
  assert.equal((await tokenFrom(portal, '127.0.0.3', clientId, vm.secret, 'curl/8.5.0')).status, 200);
  portal.settle();
  portal.clock.advance(7 * DAY);
  for (let i = 0; i < 3; i++) assert.equal((await tokenFrom(portal, '127.0.0.3', clientId, vm.secret, 'curl/8.5.0')).status, 200);
  for (let i = 0; i < 3; i++) assert.equal((await tokenFrom(portal, '127.0.0.4', clientId, 'not-a-secret', 'curl/8.5.0')).status, 401);
  portal.settle();
  return { old, vm };
}

