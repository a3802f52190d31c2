// Issue 26, points 8 and 12: every snippet the page shows runs as pasted against a real
// portal (curl, Node with the dev dependencies, Python with Debian's python3-authlib and
// python3-requests), and in the sandbox portal each asks for the sandbox resource.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import * as jose from 'jose';
import { startPortal } from '../helpers/portal.ts';
import { makeApplication, makeOrganisation } from '../helpers/fixtures.ts';
import { createUser, signIn } from '../helpers/accounts.ts';
import { decodeHtml } from '../helpers/http.ts';
import { addDays } from '../../server/lib/dates.ts';

const ROOT = path.resolve(import.meta.dirname, '../..');
const DM_SANDBOX = 'https://sandbox.api.example.org/dm';

function run(file: string, args: string[], cwd: string): Promise<{ code: number; out: string; err: string }> {
  return new Promise((resolve) => {
    execFile(file, args, { cwd, timeout: 60_000 }, (e, stdout, stderr) => resolve({ code: e ? (typeof e.code === 'number' ? e.code : 1) : 0, out: stdout.trim(), err: stderr.trim() }));
  });
}

// The text of every <pre class="command"> block, as a person would select and copy it.
function commands(html: string): string[] {
  return [...html.matchAll(/<pre class="command"><code[^>]*>([\s\S]*?)<\/code><\/pre>/g)].map((m) => decodeHtml(m[1]!.replace(/<[^>]+>/g, '')));
}

async function audienceOf(baseUrl: string, accessToken: string): Promise<string> {
  const jwks = jose.createRemoteJWKSet(new URL(`${baseUrl}/.well-known/jwks.json`));
  const { payload } = await jose.jwtVerify(accessToken, jwks, { issuer: baseUrl, typ: 'at+jwt' });
  return [payload.aud].flat().join(' ');
}

test('the sandbox portal: the curl command after Create, "Test this secret", and the Node and Python key samples run as pasted and ask for the sandbox resource', async (t) => {
  const portal = await startPortal(t, { PORTAL_ENV: 'sandbox' });
  const org = makeOrganisation(portal, 'Hospital A');
  const clientId = makeApplication(portal, org, 'Partner-NL-HospitalA-DM', ['DM']);
  const manager = await createUser(portal, org, 'm@hospital-a.example', [clientId]);
  const c = await signIn(portal, manager);
  const base = `/manage-api-credentials/applications/${clientId}`;

  // A secret created on the page: its curl command, run by a shell as pasted.
  await c.get('/manage-api-credentials');
  const created = await c.post(`${base}/secrets`, { name: 'Sample secret', expires: addDays(new Date(portal.clock.now()).toISOString().slice(0, 10), 30) }, { 'HX-Request': 'true' });
  assert.equal(created.status, 201);
  const curl = commands(created.text)[0] ?? '';
  assert.ok(curl.startsWith('curl '), curl);
  assert.ok(curl.includes(`resource=${DM_SANDBOX}`), curl);
  assert.match(created.text, new RegExp(`data-test-secret[^>]*data-resource="${DM_SANDBOX}"`));
  const dir = fs.mkdtempSync(path.join(ROOT, 'test-output', 'samples-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const byCurl = await run('/bin/sh', ['-c', curl], dir);
  assert.equal(byCurl.code, 0, byCurl.err);
  assert.equal(await audienceOf(portal.baseUrl, JSON.parse(byCurl.out).access_token), DM_SANDBOX);

  // The key help: make the key pair with its OpenSSL command, upload the certificate, run
  // the Node and the Python sample as shown.
  const help = await c.get(`${base}/key-help`);
  assert.equal(help.status, 200);
  const [openssl = '', node = '', python = ''] = commands(help.text);
  assert.ok(openssl.startsWith('openssl req') && node.includes("import fs from 'node:fs'") && python.includes('OAuth2Session'), help.text);
  const keygen = await run('/bin/sh', ['-c', openssl], dir);
  assert.equal(keygen.code, 0, keygen.err);
  const upload = await c.post(`${base}/keys`, { name: 'Sample key', key: fs.readFileSync(path.join(dir, 'client.crt'), 'utf8') }, { 'HX-Request': 'true' });
  assert.ok(upload.status < 400, upload.text);

  fs.writeFileSync(path.join(dir, 'sample.mjs'), node);
  const byNode = await run(process.execPath, ['sample.mjs'], dir);
  assert.equal(byNode.code, 0, byNode.err);
  assert.equal(await audienceOf(portal.baseUrl, byNode.out), DM_SANDBOX);

  fs.writeFileSync(path.join(dir, 'sample.py'), python);
  const byPython = await run('/usr/bin/python3', ['sample.py'], dir);
  assert.equal(byPython.code, 0, byPython.err);
  assert.equal(await audienceOf(portal.baseUrl, byPython.out), DM_SANDBOX);
});
