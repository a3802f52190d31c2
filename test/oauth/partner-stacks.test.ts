// Issue 26: every partner's stack, unmodified and with its defaults, against a real portal.
// Node: openid-client and oauth4webapi (discovery with their default algorithm, i.e.
// /.well-known/openid-configuration). Python (Debian's python3-authlib, python3-requests and
// python3-jwt; .ci/run installs them): Authlib's two metadata validators, a client secret and
// private_key_jwt on Authlib's defaults, PyJWT's PyJWKClient verifying the token. The README's
// compatibility table names these. Nimbus (Java) is not here: no Maven repository is reachable.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import * as jose from 'jose';
import * as oidc from 'openid-client';
import * as oauth from 'oauth4webapi';
import { startPortal } from '../helpers/portal.ts';
import { makeApplication, makeOrganisation } from '../helpers/fixtures.ts';
import { cliActor } from '../../server/audit/audit.ts';
import { createClientSecret } from '../../server/credentials/secrets.ts';
import { addPublicKey } from '../../server/credentials/public-keys.ts';
import { findApplicationByClientId } from '../../server/admin/applications.ts';
import { addDays, dateInZone } from '../../server/lib/dates.ts';

const SCRIPT = path.join(import.meta.dirname, 'python', 'authlib_client.py');
const DM = 'https://api.example.org/dm';

// Asynchronous: the portal answers from this very process.
function python(...args: string[]): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    execFile('/usr/bin/python3', [SCRIPT, ...args], { env: { ...process.env, AUTHLIB_INSECURE_TRANSPORT: '1' }, timeout: 60_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
      resolve({ code, out: (stdout + stderr).trim() });
    });
  });
}

// A portal with one application, a client secret, an RS256 key and an ES256 key.
async function world(t: Parameters<typeof startPortal>[0]) {
  const portal = await startPortal(t);
  const org = makeOrganisation(portal, 'Hospital A');
  const clientId = makeApplication(portal, org, 'Partner-NL-HospitalA-DM', ['DM']);
  const app = findApplicationByClientId(portal.deps.db, clientId)!;
  const expires = addDays(dateInZone(portal.clock.now(), portal.deps.config.timezone), 30);
  const created = createClientSecret(portal.deps, cliActor, app, { name: 'partner', expires });
  assert.ok(created.ok);
  const rsa = await jose.generateKeyPair('RS256', { modulusLength: 2048, extractable: true });
  const ec = await jose.generateKeyPair('ES256', { extractable: true });
  for (const [name, pair] of [['RSA key', rsa], ['EC key', ec]] as const) {
    const added = addPublicKey(portal.deps, cliActor, app, { name, key: await jose.exportSPKI(pair.publicKey), expires });
    assert.ok(added.ok, JSON.stringify(!added.ok && added.errors));
  }
  return { portal, clientId, secret: created.value.secret, rsa, ec };
}

async function verifiedAudience(baseUrl: string, accessToken: string): Promise<unknown> {
  const jwks = jose.createRemoteJWKSet(new URL(`${baseUrl}/.well-known/jwks.json`));
  const { payload } = await jose.jwtVerify(accessToken, jwks, { issuer: baseUrl, typ: 'at+jwt' });
  return [payload.aud].flat().join(" ");
}

test("Authlib's two validators accept both metadata documents, and refuse them without the members they require", async (t) => {
  const portal = await startPortal(t);
  const rfc8414 = `${portal.baseUrl}/.well-known/oauth-authorization-server`;
  const openid = `${portal.baseUrl}/.well-known/openid-configuration`;
  assert.equal((await python('validate-metadata', rfc8414)).out, 'valid');
  assert.equal((await python('validate-openid', openid)).out, 'valid');
  // The validators are not rubber stamps: what issue 26 added, left out, is refused.
  assert.match((await python('validate-metadata', rfc8414, 'response_types_supported')).out, /^invalid: "response_types_supported" is required/);
  assert.match((await python('validate-metadata', rfc8414, 'introspection_endpoint_auth_signing_alg_values_supported')).out, /^invalid: .*introspection_endpoint_auth_signing_alg_values_supported/);
  assert.match((await python('validate-openid', rfc8414)).out, /^invalid: "subject_types_supported" is required/);
  assert.match((await python('validate-openid', openid, 'id_token_signing_alg_values_supported')).out, /^invalid: "id_token_signing_alg_values_supported" is required/);

  const meta = (await (await fetch(rfc8414)).json()) as Record<string, unknown>;
  const oidcMeta = (await (await fetch(openid)).json()) as Record<string, unknown>;
  assert.deepEqual(meta.response_types_supported, ['none']);
  assert.deepEqual(meta.introspection_endpoint_auth_signing_alg_values_supported, meta.token_endpoint_auth_signing_alg_values_supported);
  assert.equal(meta.authorization_endpoint, undefined);
  assert.deepEqual(oidcMeta, { ...meta, subject_types_supported: ['public'], id_token_signing_alg_values_supported: ['RS256'] });
});

test('openid-client 6, discovery with its default algorithm: client_secret_basic, client_secret_post, private_key_jwt ES256 and RS256', async (t) => {
  const { portal, clientId, secret, rsa, ec } = await world(t);
  const server = new URL(portal.baseUrl);
  const options = { execute: [oidc.allowInsecureRequests] };
  const auths = [oidc.ClientSecretBasic(), oidc.ClientSecretPost(), oidc.PrivateKeyJwt(ec.privateKey), oidc.PrivateKeyJwt(rsa.privateKey)];
  for (const [i, auth] of auths.entries()) {
    const config = await oidc.discovery(server, clientId, i < 2 ? secret : {}, auth, options);
    const tokens = await oidc.clientCredentialsGrant(config, { resource: DM });
    assert.equal(await verifiedAudience(portal.baseUrl, tokens.access_token), DM, `method ${i}`);
  }
});

test('oauth4webapi 3, discovery with its default algorithm: client_secret_basic, client_secret_post, private_key_jwt ES256 and RS256', async (t) => {
  const { portal, clientId, secret, rsa, ec } = await world(t);
  const issuer = new URL(portal.baseUrl);
  const insecure = { [oauth.allowInsecureRequests]: true };
  const as = await oauth.processDiscoveryResponse(issuer, await oauth.discoveryRequest(issuer, insecure));
  const client = { client_id: clientId };
  const auths = [oauth.ClientSecretBasic(secret), oauth.ClientSecretPost(secret), oauth.PrivateKeyJwt(ec.privateKey), oauth.PrivateKeyJwt(rsa.privateKey)];
  for (const [i, auth] of auths.entries()) {
    const response = await oauth.clientCredentialsGrantRequest(as, client, auth, new URLSearchParams({ resource: DM }), insecure);
    const tokens = await oauth.processClientCredentialsResponse(as, client, response);
    assert.equal(await verifiedAudience(portal.baseUrl, tokens.access_token), DM, `method ${i}`);
  }
});

test("Authlib with its defaults: a client secret (client_secret_basic) and private_key_jwt (RS256, exp an hour ahead); PyJWT's PyJWKClient verifies the token", async (t) => {
  const { portal, clientId, secret, rsa } = await world(t);
  const tokenUrl = `${portal.baseUrl}/oauth/token`;
  const bySecret = await python('secret', tokenUrl, clientId, secret);
  assert.equal(bySecret.code, 0, bySecret.out);
  assert.equal(JSON.parse(bySecret.out).token_type.toLowerCase(), 'bearer');
  const wrong = await python('secret', tokenUrl, clientId, secret.slice(0, -2) + 'xx');
  assert.equal(wrong.code, 1);
  assert.match(wrong.out, /invalid_client/);

  const pem = path.join(portal.dataDir, 'python-key.pem');
  fs.writeFileSync(pem, await jose.exportPKCS8(rsa.privateKey), { mode: 0o600 });
  const byKey = await python('private-key-jwt', tokenUrl, clientId, pem);
  assert.equal(byKey.code, 0, byKey.out);
  const accessToken = JSON.parse(byKey.out).access_token as string;

  const verified = await python('pyjwt-verify', `${portal.baseUrl}/.well-known/jwks.json`, accessToken, portal.baseUrl, DM);
  assert.equal(verified.code, 0, verified.out);
  assert.equal(JSON.parse(verified.out).sub, clientId);
  const forged = accessToken.slice(0, -4) + (accessToken.endsWith('AAAA') ? 'BBBB' : 'AAAA');
  assert.notEqual((await python('pyjwt-verify', `${portal.baseUrl}/.well-known/jwks.json`, forged, portal.baseUrl, DM)).code, 0);
});
