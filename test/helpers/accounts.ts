// Walks the real invitation and sign-in pages, as a person would.
import assert from 'node:assert/strict';
import { inviteAdmin, inviteUser } from '../../server/admin/users.ts';
import { cliActor } from '../../server/audit/audit.ts';
import { decodeHtml, type Client } from './http.ts';
import { totpAt } from './totp.ts';
import type { TestPortal } from './portal.ts';

export const PASSWORD = 'correct horse battery staple';

export interface Account {
  email: string;
  password: string;
  key: string;
  recoveryCodes: string[];
}

// A fresh code: the clock moves to the next 30-second step first, so codes never repeat.
export function nextCode(portal: TestPortal, key: string): string {
  portal.clock.advance(30_000);
  return totpAt(key, portal.clock.now());
}

export function keyFromSetupPage(html: string): string {
  const m = /<code id="totp-key"[^>]*>([A-Z2-7 ]+)<\/code>/.exec(html);
  assert.ok(m, 'the setup page shows the key as text');
  return m[1]!.replace(/\s/g, '');
}

export async function completeSetup(portal: TestPortal, setupPath: string, email: string): Promise<Account> {
  const c = portal.client();
  const page = await c.get(setupPath);
  assert.equal(page.status, 200, 'setup page opens');
  const key = keyFromSetupPage(page.text);
  const done = await c.post(setupPath, { password: PASSWORD, password_confirm: PASSWORD, code: nextCode(portal, key) });
  assert.equal(done.status, 200, `setup completes: ${done.text.slice(0, 300)}`);
  const recoveryCodes = [...decodeHtml(done.text).matchAll(/<li><code>([a-z0-9]{5}-[a-z0-9]{5})<\/code><\/li>/g)].map((m) => m[1]!);
  assert.equal(recoveryCodes.length, 10);
  // Setup signs the user in: the Continue link opens their own page, not the sign-in page.
  const next = /href="([^"]+)">Continue</.exec(done.text)?.[1];
  assert.ok(next === '/admin' || next === '/manage-api-credentials', `continue to the user's page (${next})`);
  const landed = await c.get(next);
  assert.notEqual(landed.status, 303, 'signed in after setup');
  return { email, password: PASSWORD, key, recoveryCodes };
}

export async function createAdmin(portal: TestPortal, email = 'admin@example.org'): Promise<Account> {
  const r = inviteAdmin(portal.deps.db, portal.clock, cliActor, { email, name: 'Ada Admin' });
  assert.ok(r.ok);
  return completeSetup(portal, `/setup/${r.value.token}`, email);
}

export async function createUser(portal: TestPortal, organisationId: number, email: string, managerOf: string[] = []): Promise<Account> {
  const r = inviteUser(portal.deps.db, portal.clock, cliActor, { organisationId, email, name: email.split('@')[0], managerOf });
  assert.ok(r.ok, r.ok ? '' : r.message);
  return completeSetup(portal, `/setup/${r.value.token}`, email);
}

// The password step, then the second-step page (as a browser follows the redirect).
export async function passwordStep(client: Client, account: Account): Promise<void> {
  await client.get('/login');
  const first = await client.post('/login', { email: account.email, password: account.password });
  assert.equal(first.status, 303, `password step: ${first.text.slice(0, 200)}`);
  assert.equal(first.location, '/login/verify');
  assert.equal((await client.get('/login/verify')).status, 200);
}

export async function signIn(portal: TestPortal, account: Account, client: Client = portal.client()): Promise<Client> {
  await passwordStep(client, account);
  const second = await client.post('/login/verify', { code: nextCode(portal, account.key) });
  assert.equal(second.status, 303, `second step: ${second.text.slice(0, 400)}`);
  return client;
}
