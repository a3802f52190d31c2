// Issue 26: the metadata and the token endpoint as Python's Authlib sees them, with its
// defaults and its own validators (Debian's python3-authlib 1.2 and python3-requests;
// .ci/run installs them). Nimbus (Java) is not here: no Maven repository is reachable.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import * as jose from 'jose';
import { startPortal } from '../helpers/portal.ts';
import { makeApplication, makeOrganisation } from '../helpers/fixtures.ts';
import { cliActor } from '../../server/audit/audit.ts';
import { createClientSecret } from '../../server/credentials/secrets.ts';
import { addPublicKey } from '../../server/credentials/public-keys.ts';
import { findApplicationByClientId } from '../../server/admin/applications.ts';
import { addDays, dateInZone } from '../../server/lib/dates.ts';

const SCRIPT = path.join(import.meta.dirname, 'python', 'authlib_client.py');

// Asynchronous: the portal answers from this very process.
function authlib(...args: string[]): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    execFile('/usr/bin/python3', [SCRIPT, ...args], { env: { ...process.env, AUTHLIB_INSECURE_TRANSPORT: '1' }, timeout: 60_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
      resolve({ code, out: (stdout + stderr).trim() });
    });
  });
}

test("Authlib's own validator accepts the RFC 8414 metadata, and refuses it without the members issue 26 added", async (t) => {
  const portal = await startPortal(t);
  const url = `${portal.baseUrl}/.well-known/oauth-authorization-server`;
  assert.equal((await authlib('validate-metadata', url)).out, 'valid');
  // The validator is not a rubber stamp: each member it requires is missing → refused.
  assert.match((await authlib('validate-metadata', url, 'response_types_supported')).out, /^invalid: "response_types_supported" is required/);
  assert.match((await authlib('validate-metadata', url, 'introspection_endpoint_auth_signing_alg_values_supported')).out, /^invalid: .*introspection_endpoint_auth_signing_alg_values_supported/);
  const meta = (await (await fetch(url)).json()) as Record<string, unknown>;
  assert.deepEqual(meta.response_types_supported, ['none']);
  assert.deepEqual(meta.introspection_endpoint_auth_signing_alg_values_supported, meta.token_endpoint_auth_signing_alg_values_supported);
  assert.equal(meta.authorization_endpoint, undefined);
});

test('/.well-known/openid-configuration is not served: a JSON 404 that names the RFC 8414 document (OpenID Connect Discovery would need members untrue of this server)', async (t) => {
  const portal = await startPortal(t);
  const res = await fetch(`${portal.baseUrl}/.well-known/openid-configuration`);
  assert.equal(res.status, 404);
  assert.match(res.headers.get('content-type') ?? '', /application\/json/);
  const body = (await res.json()) as { error: string; error_description: string };
  assert.equal(body.error, 'not_found');
  assert.ok(body.error_description.includes(`${portal.baseUrl}/.well-known/oauth-authorization-server`), body.error_description);
  // Why: Authlib's OpenID validator refuses what this server can truthfully say.
  const openid = await authlib('validate-openid', `${portal.baseUrl}/.well-known/oauth-authorization-server`);
  assert.match(openid.out, /^invalid: /);
});

test('Authlib with its defaults gets tokens with a client secret (client_secret_basic) and with private_key_jwt (RS256, exp an hour ahead)', async (t) => {
  const portal = await startPortal(t);
  const org = makeOrganisation(portal, 'Hospital A');
  const clientId = makeApplication(portal, org, 'Partner-NL-HospitalA-DM', ['DM']);
  const app = findApplicationByClientId(portal.deps.db, clientId)!;
  const expires = addDays(dateInZone(portal.clock.now(), portal.deps.config.timezone), 30);
  const secret = createClientSecret(portal.deps, cliActor, app, { name: 'python', expires });
  assert.ok(secret.ok);
  const tokenUrl = `${portal.baseUrl}/oauth/token`;

  const bySecret = await authlib('secret', tokenUrl, clientId, secret.value.secret);
  assert.equal(bySecret.code, 0, bySecret.out);
  assert.equal(JSON.parse(bySecret.out).token_type.toLowerCase(), 'bearer');
  const wrong = await authlib('secret', tokenUrl, clientId, secret.value.secret.slice(0, -2) + 'xx');
  assert.equal(wrong.code, 1);
  assert.match(wrong.out, /invalid_client/);

  const rsa = await jose.generateKeyPair('RS256', { modulusLength: 2048, extractable: true });
  const added = addPublicKey(portal.deps, cliActor, app, { name: 'python key', key: await jose.exportSPKI(rsa.publicKey), expires });
  assert.ok(added.ok, JSON.stringify(!added.ok && added.errors));
  const pem = path.join(portal.dataDir, 'python-key.pem');
  fs.writeFileSync(pem, await jose.exportPKCS8(rsa.privateKey), { mode: 0o600 });
  const byKey = await authlib('private-key-jwt', tokenUrl, clientId, pem);
  assert.equal(byKey.code, 0, byKey.out);
  const claims = jose.decodeJwt(JSON.parse(byKey.out).access_token);
  assert.equal(claims.sub, clientId);
});
