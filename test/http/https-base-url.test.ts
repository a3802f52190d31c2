// SECURITY.md 38: an https BASE_URL without TRUST_PROXY → the server refuses to start,
// naming TRUST_PROXY; behind a trusted proxy that says https, sign-in works.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { tempDir } from '../helpers/temp.ts';
import { cliInProcess } from '../helpers/cli.ts';
import { startPortal, type TestPortal } from '../helpers/portal.ts';
import { Client } from '../helpers/http.ts';
import { createUser, nextCode } from '../helpers/accounts.ts';
import { makeApplication, makeOrganisation } from '../helpers/fixtures.ts';

const BASE_URL = 'https://portal.example.org';

test('the server refuses an https BASE_URL without TRUST_PROXY: one line naming TRUST_PROXY, exit code 2, nothing written; CLI commands still run', async (t) => {
  const dataDir = path.join(tempDir(t), 'data');
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'server/main.ts'], {
    env: { ...process.env, DATA_DIR: dataDir, BASE_URL, PORT: '0', TRUST_PROXY: '' },
    encoding: 'utf8',
    timeout: 20_000,
  });
  assert.equal(r.status, 2, r.stderr);
  assert.match(r.stderr, /^configuration error: BASE_URL is https:\/\/ but TRUST_PROXY is not set: [^\n]*TRUST_PROXY=loopback[^\n]*\n$/);
  assert.equal(r.stdout, '');
  assert.equal(fs.existsSync(dataDir), false, 'refused before the data folder or the database was touched');

  // A command reads the same configuration and never serves: not refused.
  const cli = await cliInProcess(['list-apis'], { DATA_DIR: dataDir, BASE_URL });
  assert.equal(cli.code, 0, cli.stderr);
});

// A browser behind a TLS-terminating proxy on this host: the proxy connects from
// loopback and says `X-Forwarded-Proto: https`.
class BehindProxy extends Client {
  override request(method: string, p: string, init: Parameters<Client['request']>[2] = {}) {
    return super.request(method, p, { ...init, headers: { 'X-Forwarded-Proto': 'https', ...init.headers } });
  }
}

test('behind a trusted proxy that says https, sign-in keeps its Secure cookie; a form posted as plain http is named in the log, once', async (t) => {
  const portal = await startPortal(t, { BASE_URL, TRUST_PROXY: 'loopback' });
  const proxied: TestPortal = { ...portal, client: () => new BehindProxy(portal.baseUrl) };
  const org = makeOrganisation(portal, 'Hospital A');
  const account = await createUser(proxied, org, 'tech@hospital-a.example', [makeApplication(portal, org, 'Partner-NL-A-DM')]);

  const c = proxied.client();
  const form = await c.get('/login');
  assert.equal(form.headers.get('strict-transport-security'), 'max-age=31536000; includeSubDomains', 'HSTS with an https BASE_URL');
  assert.match(form.headers.get('content-security-policy')!, /;upgrade-insecure-requests$/);
  const first = await c.post('/login', { email: account.email, password: account.password });
  assert.equal(first.status, 303);
  const cookie = first.headers.getSetCookie().find((h) => h.startsWith('portal.sid='));
  assert.ok(cookie, 'the password step sets the session cookie');
  assert.match(cookie, /; Secure/i);
  assert.equal((await c.get('/login/verify')).status, 200, 'the second step, in the same session');
  const second = await c.post('/login/verify', { code: nextCode(portal, account.key) });
  assert.equal(second.status, 303, second.text.slice(0, 300));
  assert.equal((await c.get('/manage-api-credentials')).status, 200, 'signed in');
  assert.ok(!portal.logs.some((l) => l.includes('posted over plain http')), 'no warning while the proxy says https');

  // The same portal reached without the proxy's word: the failure this guards against
  // (303 and no cookie), now named in the log, once.
  for (let i = 0; i < 2; i++) {
    const plain = portal.client();
    await plain.get('/login');
    const r = await plain.post('/login', { email: account.email, password: account.password });
    assert.equal(r.status, 303);
    assert.equal(r.headers.getSetCookie().some((h) => h.startsWith('portal.sid=')), false, 'the session layer withholds the Secure cookie');
  }
  const warnings = portal.logs.filter((l) => l.includes('posted over plain http although BASE_URL is https'));
  assert.equal(warnings.length, 1, 'logged once');
  assert.match(warnings[0]!, /TRUST_PROXY/);
  assert.match(warnings[0]!, /X-Forwarded-Proto/);
});
