import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import crypto from 'node:crypto';
import { eq } from 'drizzle-orm';
import Database from 'better-sqlite3';
import { drizzle } from 'drizzle-orm/better-sqlite3';
import * as schema from '../../db/schema.ts';
import { rollClientSecret } from '../../server/credentials/roll.ts';
import * as jose from 'jose';
import * as oidc from 'openid-client';
import { startPortal, type TestPortal } from '../helpers/portal.ts';
import { cliInProcess } from '../helpers/cli.ts';
import { makeApplication, makeOrganisation } from '../helpers/fixtures.ts';
import { applications, auditEvents, clientSecrets } from '../../db/schema.ts';
import { cliActor } from '../../server/audit/audit.ts';
import { createClientSecret, deleteClientSecret, hashClientSecret, hintOf } from '../../server/credentials/secrets.ts';
import { findApplicationByClientId } from '../../server/admin/applications.ts';
import { addDays, dateInZone, formatDate } from '../../server/lib/dates.ts';

const DM_PROD = 'https://api.example.org/dm';
const DM_SANDBOX = 'https://sandbox.api.example.org/dm';
const SMC_PROD = 'https://api.example.org/smc';
const SMC_SANDBOX = 'https://sandbox.api.example.org/smc';

function makeSecret(portal: TestPortal, clientId: string, days = 30, name = 'test secret'): { secret: string; id: string } {
  const app = findApplicationByClientId(portal.deps.db, clientId)!;
  const r = createClientSecret(portal.deps, cliActor, app, { name, expires: addDays(dateInZone(portal.clock.now(), portal.deps.config.timezone), days) });
  assert.ok(r.ok);
  return { secret: r.value.secret, id: r.value.row.id };
}

async function world(t: Parameters<typeof startPortal>[0], env: Record<string, string> = {}) {
  const portal = await startPortal(t, env);
  const org = makeOrganisation(portal, 'Hospital A');
  const clientId = makeApplication(portal, org, 'Partner-NL-HospitalA-DM', ['DM', 'SMC']);
  const sandboxClientId = makeApplication(portal, org, 'PartnerAlternative-NL-HospitalA-SMC', ['SMC'], true);
  const { secret, id } = makeSecret(portal, clientId);
  return { portal, org, clientId, sandboxClientId, secret, secretId: id };
}

const basic = (id: string, secret: string) =>
  'Basic ' + Buffer.from(`${encodeURIComponent(id).replace(/%20/g, '+')}:${encodeURIComponent(secret).replace(/%20/g, '+')}`).toString('base64');

interface Answer {
  status: number;
  headers: Headers;
  body: Record<string, unknown>;
  text: string;
}

async function call(portal: TestPortal, path: string, init: { method?: string; form?: Record<string, string | string[]>; headers?: Record<string, string>; body?: string } = {}): Promise<Answer> {
  let body = init.body;
  const headers: Record<string, string> = { ...init.headers };
  if (init.form) {
    const p = new URLSearchParams();
    for (const [k, v] of Object.entries(init.form)) for (const x of Array.isArray(v) ? v : [v]) p.append(k, x);
    body = p.toString();
    headers['Content-Type'] ??= 'application/x-www-form-urlencoded';
  }
  const res = await fetch(portal.baseUrl + path, { method: init.method ?? 'POST', headers, body });
  const text = await res.text();
  let parsed: Record<string, unknown> = {};
  try {
    parsed = JSON.parse(text);
  } catch {
    /* asserted by callers */
  }
  return { status: res.status, headers: res.headers, body: parsed, text };
}

const tokenWithBasic = (portal: TestPortal, id: string, secret: string, form: Record<string, string | string[]> = {}) =>
  call(portal, '/oauth/token', { form: { grant_type: 'client_credentials', ...form }, headers: { Authorization: basic(id, secret) } });

function assertNoStore(a: Answer, label: string) {
  assert.equal(a.headers.get('cache-control'), 'no-store', `${label}: Cache-Control`);
  assert.equal(a.headers.get('pragma'), 'no-cache', `${label}: Pragma`);
  assert.match(a.headers.get('content-type') ?? '', /^application\/json/, `${label}: JSON`);
}

test('success: an RFC 9068 JWT that verifies against the published JWKS, every claim checked', async (t) => {
  const { portal, clientId, secret, secretId } = await world(t);
  const r = await tokenWithBasic(portal, clientId, secret);
  assert.equal(r.status, 200, r.text);
  assertNoStore(r, 'success');
  assert.deepEqual(Object.keys(r.body).sort(), ['access_token', 'expires_in', 'scope', 'token_type']);
  assert.equal(r.body.token_type, 'Bearer');
  assert.equal(r.body.expires_in, 3600);
  assert.equal(r.body.scope, 'DM SMC');

  const jwks = jose.createRemoteJWKSet(new URL(`${portal.baseUrl}/.well-known/jwks.json`));
  const { payload, protectedHeader } = await jose.jwtVerify(String(r.body.access_token), jwks, {
    issuer: portal.baseUrl,
    audience: DM_PROD,
    typ: 'at+jwt',
    algorithms: ['ES256'],
    currentDate: new Date(portal.clock.now()),
  });
  assert.equal(protectedHeader.alg, 'ES256');
  assert.equal(protectedHeader.typ, 'at+jwt');
  assert.ok(protectedHeader.kid);
  assert.equal(payload.sub, clientId);
  assert.equal(payload.client_id, clientId);
  assert.deepEqual(payload.aud, [DM_PROD, SMC_PROD]);
  assert.equal(payload.scope, 'DM SMC');
  assert.equal(payload.iat, Math.floor(portal.clock.now() / 1000));
  assert.equal(payload.exp, payload.iat! + 3600);
  assert.match(String(payload.jti), /^[0-9a-f-]{36}$/);
  assert.equal(payload.secret_id, secretId);

  const post = await call(portal, '/oauth/token', { form: { grant_type: 'client_credentials', client_id: clientId, client_secret: secret } });
  assert.equal(post.status, 200, 'client_secret_post works too');
});

test('a standard OAuth2 client library gets a token using the metadata document', async (t) => {
  const { portal, clientId, secret } = await world(t, { TOKEN_LIFETIME_SECONDS: '600' });
  const meta = await call(portal, '/.well-known/oauth-authorization-server', { method: 'GET' });
  assert.equal(meta.status, 200);
  assert.equal(meta.body.issuer, portal.baseUrl);
  assert.equal(meta.body.token_endpoint, `${portal.baseUrl}/oauth/token`);
  assert.equal(meta.body.jwks_uri, `${portal.baseUrl}/.well-known/jwks.json`);
  assert.equal(meta.body.introspection_endpoint, `${portal.baseUrl}/oauth/introspect`);
  assert.deepEqual(meta.body.grant_types_supported, ['client_credentials']);
  assert.deepEqual(meta.body.token_endpoint_auth_methods_supported, ['client_secret_basic', 'client_secret_post', 'private_key_jwt']);
  assert.deepEqual(meta.body.scopes_supported, ['DM', 'SM', 'SMC']);

  const config = await oidc.discovery(new URL(portal.baseUrl), clientId, secret, oidc.ClientSecretBasic(), {
    algorithm: 'oauth2',
    execute: [oidc.allowInsecureRequests],
  });
  const tokens = await config.serverMetadata() && (await oidc.clientCredentialsGrant(config, { resource: DM_PROD }));
  assert.equal(tokens.token_type, 'bearer');
  assert.equal(tokens.expires_in, 600);
  const claims = jose.decodeJwt(tokens.access_token);
  assert.equal(claims.aud?.toString(), DM_PROD);
  const post = await oidc.discovery(new URL(portal.baseUrl), clientId, secret, oidc.ClientSecretPost(), { algorithm: 'oauth2', execute: [oidc.allowInsecureRequests] });
  assert.ok((await oidc.clientCredentialsGrant(post, { scope: 'SMC' })).access_token);
});

test('protocol errors: exact status, headers and body; never HTML', async (t) => {
  const { portal, clientId, secret } = await world(t);
  const auth = { Authorization: basic(clientId, secret) };
  const cases: Array<[string, Parameters<typeof call>[2], number, string, string]> = [
    ['GET', { method: 'GET', headers: auth }, 405, 'invalid_request', 'Use POST.'],
    ['wrong content type', { headers: { ...auth, 'Content-Type': 'application/json' }, body: '{"grant_type":"client_credentials"}' }, 400, 'invalid_request', 'The body must be application/x-www-form-urlencoded.'],
    ['no content type', { headers: auth, body: 'grant_type=client_credentials' }, 400, 'invalid_request', 'The body must be application/x-www-form-urlencoded.'],
    ['missing grant_type', { form: {}, headers: auth }, 400, 'invalid_request', 'grant_type is missing.'],
    ['password grant', { form: { grant_type: 'password', username: 'x', password: 'y' }, headers: auth }, 400, 'unsupported_grant_type', 'Only grant_type=client_credentials is supported.'],
    ['authorization_code grant', { form: { grant_type: 'authorization_code', code: 'x' }, headers: auth }, 400, 'unsupported_grant_type', 'Only grant_type=client_credentials is supported.'],
    ['grant_type twice', { form: { grant_type: ['client_credentials', 'client_credentials'] }, headers: auth }, 400, 'invalid_request', 'grant_type may be sent only once.'],
    ['Basic and body at once', { form: { grant_type: 'client_credentials', client_id: clientId, client_secret: secret }, headers: auth }, 400, 'invalid_request', 'Use one client authentication method: HTTP Basic or client_secret in the body, not both.'],
    ['unknown scope', { form: { grant_type: 'client_credentials', scope: 'SM' }, headers: auth }, 400, 'invalid_scope', 'The scope "SM" is not granted to this client.'],
    ['made-up scope', { form: { grant_type: 'client_credentials', scope: 'admin' }, headers: auth }, 400, 'invalid_scope', 'The scope "admin" is not granted to this client.'],
    ['resource not granted', { form: { grant_type: 'client_credentials', resource: 'https://api.example.org/sm' }, headers: auth }, 400, 'invalid_target', 'The resource "https://api.example.org/sm" is not granted to this client.'],
    ['unknown resource', { form: { grant_type: 'client_credentials', resource: 'https://evil.example/' }, headers: auth }, 400, 'invalid_target', 'The resource "https://evil.example/" is not granted to this client.'],
    ['no credentials', { form: { grant_type: 'client_credentials' } }, 401, 'invalid_client', 'Client authentication failed.'],
    ['malformed Basic', { form: { grant_type: 'client_credentials' }, headers: { Authorization: 'Basic %%%' } }, 401, 'invalid_client', 'Client authentication failed.'],
    ['Basic without colon', { form: { grant_type: 'client_credentials' }, headers: { Authorization: 'Basic ' + Buffer.from('nocolon').toString('base64') } }, 401, 'invalid_client', 'Client authentication failed.'],
    ['Bearer instead of Basic', { form: { grant_type: 'client_credentials' }, headers: { Authorization: 'Bearer abc' } }, 401, 'invalid_client', 'Client authentication failed.'],
  ];
  for (const [label, init, status, error, description] of cases) {
    const r = await call(portal, '/oauth/token', init);
    assert.equal(r.status, status, `${label}: ${r.text}`);
    assert.equal(r.body.error, error, label);
    assert.equal(r.body.error_description, description, label);
    assert.deepEqual(Object.keys(r.body).sort(), ['error', 'error_description'], label);
    assertNoStore(r, label);
  }
  const inQuery = await call(portal, `/oauth/token?client_id=${clientId}&client_secret=${secret}`, { form: { grant_type: 'client_credentials' } });
  assert.equal(inQuery.status, 400, 'credentials in the query string');
  assert.equal(inQuery.body.error, 'invalid_request');
  const huge = await call(portal, '/oauth/token', { form: { grant_type: 'client_credentials', junk: 'x'.repeat(100_000) }, headers: auth });
  assert.equal(huge.status, 413);
  assert.equal(huge.body.error, 'invalid_request');
});

test('a client authentication failure looks the same (unknown, wrong, another\'s, disabled) unless the caller proved it holds the secret: expired or deleted, it is named', async (t) => {
  // Throttling is tested on its own below; here every failure must reach the 401.
  const { portal, org, clientId, secret } = await world(t, { TOKEN_FAILURES_PER_MINUTE: '1000' });
  const other = makeApplication(portal, org, 'Partner-NL-HospitalA-SM', ['SM']);
  const otherSecret = makeSecret(portal, other, 1).secret;
  const deletedApp = makeApplication(portal, org, 'Deleted secret app', ['DM']);
  const deleted = makeSecret(portal, deletedApp);
  deleteClientSecret(portal.deps, cliActor, findApplicationByClientId(portal.deps.db, deletedApp)!, deleted.id);
  const disabledApp = makeApplication(portal, org, 'Disabled app', ['DM']);
  const disabledSecret = makeSecret(portal, disabledApp).secret;
  portal.deps.db.update(applications).set({ disabledAt: portal.clock.now() }).where(eq(applications.clientId, disabledApp)).run();
  // Expired: move the clock past the end of the 1-day secret's date (the 30-day one stays valid).
  portal.clock.advance(2 * 86_400_000);

  const attempts: Array<[string, string, string]> = [
    ['unknown client', crypto.randomUUID(), secret],
    ['wrong secret', clientId, secret.slice(0, -1) + (secret.endsWith('A') ? 'B' : 'A')],
    ['another application\'s secret', clientId, otherSecret],
    ['disabled application', disabledApp, disabledSecret],
    ['empty secret', clientId, ''],
  ];
  const bodies = new Set<string>();
  const named = async (id: string, s: string) => (await tokenWithBasic(portal, id, s)).body.error_description;
  const today = (ms: number) => formatDate(dateInZone(ms, portal.deps.config.timezone));
  assert.equal(await named(other, otherSecret), `Client authentication failed: this client secret expired on ${today(portal.clock.now() - 2 * 86_400_000 + 86_400_000)}.`, 'an expired secret of this client, named with its date');
  assert.equal(await named(deletedApp, deleted.secret), `Client authentication failed: this client secret was deleted on ${today(portal.clock.now() - 2 * 86_400_000)}.`, 'a deleted one, likewise');
  for (const [label, id, s] of attempts) {
    const viaBasic = await tokenWithBasic(portal, id, s);
    assert.equal(viaBasic.status, 401, label);
    assert.equal(viaBasic.body.error, 'invalid_client', label);
    assert.match(viaBasic.headers.get('www-authenticate') ?? '', /^Basic /, `${label}: WWW-Authenticate with Basic`);
    assertNoStore(viaBasic, label);
    bodies.add(viaBasic.text);
    if (s !== '') {
      const viaPost = await call(portal, '/oauth/token', { form: { grant_type: 'client_credentials', client_id: id, client_secret: s } });
      assert.equal(viaPost.status, 401, `${label} (post)`);
      assert.match(viaPost.headers.get('www-authenticate') ?? '', /^Basic /, `${label}: every 401 carries WWW-Authenticate (RFC 9110), client_secret_post too`);
      bodies.add(viaPost.text);
    }
  }
  assert.equal(bodies.size, 1, 'the same body for every failure');
  assert.equal((await tokenWithBasic(portal, clientId, secret)).status, 200, 'the valid secret still works');
});

test('a secret with characters that need form-encoding works through Basic and the body', async (t) => {
  const { portal, clientId } = await world(t);
  const odd = 'a:b/c=d?e%f+g h&i~';
  const app = findApplicationByClientId(portal.deps.db, clientId)!;
  portal.deps.db
    .insert(clientSecrets)
    .values({ id: crypto.randomUUID(), applicationId: app.id, name: 'odd', hint: hintOf(odd), secretHash: hashClientSecret(odd), createdAt: portal.clock.now(), expiresOn: '2999-01-01', expiresAt: Date.parse('2999-01-02') })
    .run();
  assert.equal((await tokenWithBasic(portal, clientId, odd)).status, 200, 'Basic, form-urlencoded before base64');
  assert.equal((await call(portal, '/oauth/token', { form: { grant_type: 'client_credentials', client_id: clientId, client_secret: odd } })).status, 200, 'client_secret_post');
  const raw = 'Basic ' + Buffer.from(`${clientId}:${odd}`).toString('base64');
  assert.equal((await call(portal, '/oauth/token', { form: { grant_type: 'client_credentials' }, headers: { Authorization: raw } })).status, 401, 'not form-encoded: % and + decode differently');
});

test('audience: resource and scope limited to grants; sandbox-only applications get sandbox identifiers only', async (t) => {
  const { portal, clientId, secret, sandboxClientId } = await world(t);
  const aud = async (id: string, s: string, form: Record<string, string | string[]>) => {
    const r = await tokenWithBasic(portal, id, s, form);
    assert.equal(r.status, 200, r.text);
    return { aud: jose.decodeJwt(String(r.body.access_token)).aud, scope: r.body.scope };
  };
  assert.deepEqual(await aud(clientId, secret, { resource: DM_PROD }), { aud: [DM_PROD], scope: 'DM' });
  assert.deepEqual(await aud(clientId, secret, { resource: [DM_PROD, SMC_SANDBOX] }), { aud: [DM_PROD, SMC_SANDBOX], scope: 'DM SMC' });
  assert.deepEqual(await aud(clientId, secret, { scope: 'SMC' }), { aud: [SMC_PROD], scope: 'SMC' });
  assert.deepEqual(await aud(clientId, secret, { scope: 'DM', resource: DM_SANDBOX }), { aud: [DM_SANDBOX], scope: 'DM' });
  const mismatch = await tokenWithBasic(portal, clientId, secret, { scope: 'SMC', resource: DM_PROD });
  assert.equal(mismatch.body.error, 'invalid_scope');

  const sandboxSecret = makeSecret(portal, sandboxClientId).secret;
  assert.deepEqual(await aud(sandboxClientId, sandboxSecret, {}), { aud: [SMC_SANDBOX], scope: 'SMC' });
  assert.deepEqual(await aud(sandboxClientId, sandboxSecret, { scope: 'SMC' }), { aud: [SMC_SANDBOX], scope: 'SMC' });
  const prod = await tokenWithBasic(portal, sandboxClientId, sandboxSecret, { resource: SMC_PROD });
  assert.equal(prod.status, 400);
  assert.equal(prod.body.error, 'invalid_target', 'a sandbox-only application cannot get a production audience');
});

test('introspection: active with claims; deleting the secret makes its tokens inactive at once', async (t) => {
  const { portal, org, clientId, secret, secretId } = await world(t);
  const api = makeApplication(portal, org, 'Resource server', ['DM']);
  const apiSecret = makeSecret(portal, api).secret;
  const introspect = (token: string, auth = basic(api, apiSecret)) => call(portal, '/oauth/introspect', { form: { token }, headers: { Authorization: auth } });

  const token = String((await tokenWithBasic(portal, clientId, secret)).body.access_token);
  const second = makeSecret(portal, clientId, 60, 'second');
  const fromSecond = String((await tokenWithBasic(portal, clientId, second.secret)).body.access_token);
  const active = await introspect(token);
  assert.equal(active.status, 200);
  assertNoStore(active, 'introspection');
  assert.equal(active.body.active, true);
  assert.equal(active.body.client_id, clientId);
  assert.deepEqual(active.body.aud, [DM_PROD, SMC_PROD]);

  assert.equal((await call(portal, '/oauth/introspect', { form: { token } })).status, 401, 'the caller must authenticate');

  deleteClientSecret(portal.deps, cliActor, findApplicationByClientId(portal.deps.db, clientId)!, secretId);
  const inactive = await introspect(token);
  assert.equal(inactive.text, '{"active":false}', 'exactly {"active": false}');
  assert.equal((await tokenWithBasic(portal, clientId, secret)).status, 401, 'the deleted secret gets no new token');
  assert.equal((await introspect(fromSecond)).body.active, true, 'the other secret and its tokens still work');
  assert.equal((await tokenWithBasic(portal, clientId, second.secret)).status, 200);

  portal.clock.advance(3601_000);
  assert.equal((await introspect(fromSecond)).text, '{"active":false}', 'an expired token is inactive');
});

test('introspection by a client of another organisation: {"active":false}, nothing else', async (t) => {
  const { portal, clientId, secret } = await world(t);
  const otherOrg = makeOrganisation(portal, 'Registry B', 'BE');
  const foreignApi = makeApplication(portal, otherOrg, 'Registry B resource server', ['DM']);
  const foreignSecret = makeSecret(portal, foreignApi).secret;
  const token = String((await tokenWithBasic(portal, clientId, secret)).body.access_token);
  const foreign = await call(portal, '/oauth/introspect', { form: { token }, headers: { Authorization: basic(foreignApi, foreignSecret) } });
  assert.equal(foreign.status, 200);
  assert.equal(foreign.text, '{"active":false}', 'no claims leak across organisations');
  const own = await call(portal, '/oauth/introspect', { form: { token }, headers: { Authorization: basic(clientId, secret) } });
  assert.equal(own.body.active, true, 'the same token is active for its own organisation');
});

test('introspection refuses forged tokens: alg none, HS256, tampered claims, foreign keys', async (t) => {
  const { portal, clientId, secret } = await world(t);
  const auth = { Authorization: basic(clientId, secret) };
  const real = String((await tokenWithBasic(portal, clientId, secret)).body.access_token);
  const [h, p] = real.split('.') as [string, string, string];
  const claims = JSON.parse(Buffer.from(p, 'base64url').toString());
  const enc = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const kid = JSON.parse(Buffer.from(h, 'base64url').toString()).kid;
  const hs256 = await new jose.SignJWT(claims).setProtectedHeader({ alg: 'HS256', typ: 'at+jwt', kid }).sign(new TextEncoder().encode('x'.repeat(32)));
  const { privateKey } = await jose.generateKeyPair('ES256');
  const foreign = await new jose.SignJWT(claims).setProtectedHeader({ alg: 'ES256', typ: 'at+jwt', kid }).sign(privateKey);
  const forged: Array<[string, string]> = [
    ['alg none', `${enc({ alg: 'none', typ: 'at+jwt', kid })}.${p}.`],
    ['HS256', hs256],
    ['signed by another key', foreign],
    ['tampered claims', `${h}.${enc({ ...claims, aud: ['https://api.example.org/sm'] })}.${real.split('.')[2]}`],
    ['wrong typ', `${enc({ alg: 'ES256', typ: 'JWT', kid })}.${p}.${real.split('.')[2]}`],
    ['garbage', 'not.a.token'],
  ];
  for (const [label, token] of forged) {
    const r = await call(portal, '/oauth/introspect', { form: { token }, headers: auth });
    assert.equal(r.status, 200, label);
    assert.equal(r.text, '{"active":false}', label);
  }
  assert.equal((await call(portal, '/oauth/introspect', { form: { token: real }, headers: auth })).body.active, true);
});

test('a secret stops working at the end of its expiry date in PORTAL_TIMEZONE, not a second later', async (t) => {
  const { portal, clientId } = await world(t, { PORTAL_TIMEZONE: 'America/New_York' });
  const { id, secret } = makeSecret(portal, clientId, 3, 'short');
  const row = portal.deps.db.select().from(clientSecrets).where(eq(clientSecrets.id, id)).get()!;
  portal.clock.set(row.expiresAt - 1000);
  assert.equal(dateInZone(portal.clock.now(), 'America/New_York'), row.expiresOn);
  assert.equal((await tokenWithBasic(portal, clientId, secret)).status, 200, 'the last second of the date');
  portal.clock.set(row.expiresAt);
  assert.equal((await tokenWithBasic(portal, clientId, secret)).status, 401, 'the first second after');
});

test('deleting a secret while tokens stream: only 200 before or 401 after, never a 500', async (t) => {
  const { portal, org, clientId, secret, secretId } = await world(t, { TOKEN_FAILURES_PER_MINUTE: '100000' });
  const api = makeApplication(portal, org, 'RS', ['DM']);
  const apiSecret = makeSecret(portal, api).secret;
  const statuses: number[] = [];
  const tokens: string[] = [];
  let stop = false;
  const worker = async () => {
    while (!stop) {
      const r = await tokenWithBasic(portal, clientId, secret);
      statuses.push(r.status);
      if (r.status === 200) tokens.push(String(r.body.access_token));
    }
  };
  const workers = Array.from({ length: 8 }, worker);
  await new Promise((r) => setTimeout(r, 150));
  const deleteIndex = statuses.length;
  deleteClientSecret(portal.deps, cliActor, findApplicationByClientId(portal.deps.db, clientId)!, secretId);
  const afterDelete = statuses.length;
  await new Promise((r) => setTimeout(r, 150));
  stop = true;
  await Promise.all(workers);
  assert.ok(statuses.every((s) => s === 200 || s === 401), `only 200 and 401: ${[...new Set(statuses)]}`);
  assert.ok(statuses.slice(0, deleteIndex).every((s) => s === 200), 'before the delete: 200');
  // Requests already answered when the delete committed may be 200; every later answer is 401.
  assert.ok(statuses.slice(afterDelete + 8).every((s) => s === 401), 'after the delete: 401');
  assert.ok(statuses.includes(401) && statuses.includes(200));
  for (const token of tokens.slice(-3)) {
    const r = await call(portal, '/oauth/introspect', { form: { token }, headers: { Authorization: basic(api, apiSecret) } });
    assert.equal(r.text, '{"active":false}', 'tokens of the deleted secret are inactive');
  }
});

test('a secret deleted by another process stops working within a second; the same process: from the next request', async (t) => {
  const { portal, clientId, secret, secretId } = await world(t);
  const second = makeSecret(portal, clientId, 30, 'second');
  assert.equal((await tokenWithBasic(portal, clientId, secret)).status, 200, 'cached now');
  assert.equal((await tokenWithBasic(portal, clientId, second.secret)).status, 200);
  // Another process: a plain connection of its own, which this process's write counter never sees.
  const other = new Database(`${portal.dataDir}/portal.sqlite`);
  t.after(() => other.close());
  other.prepare('update client_secrets set deleted_at = ? where id = ?').run(Date.now(), secretId);
  const started = performance.now();
  let status = 200;
  while (status === 200 && performance.now() - started < 2000) status = (await tokenWithBasic(portal, clientId, secret)).status;
  const took = performance.now() - started;
  assert.equal(status, 401);
  assert.ok(took < 1000, `refused ${Math.round(took)} ms after the other process committed`);
  // In this process (the pages' connection): refused from the very next request.
  deleteClientSecret(portal.deps, cliActor, findApplicationByClientId(portal.deps.db, clientId)!, second.id);
  assert.equal((await tokenWithBasic(portal, clientId, second.secret)).status, 401);
});

test('a secret rolled (or made) by another process gets a token from the very first request, not a quarter second later', async (t) => {
  const { portal, clientId, secret, secretId } = await world(t);
  // The roll itself (roll-secret's code) on a plain connection of its own: another process,
  // as far as this process's write counter knows (the drill's roll-secret ran in its own process).
  const other = new Database(`${portal.dataDir}/portal.sqlite`);
  t.after(() => other.close());
  const elsewhere = { ...portal.deps, db: drizzle(other, { schema }) as unknown as typeof portal.deps.db };
  const old = elsewhere.db.select().from(clientSecrets).where(eq(clientSecrets.id, secretId)).get()!;
  for (let i = 0; i < 3; i++) {
    // This request looks at SQLite's data_version (the pages' connection wrote since): the
    // cache is fresh, its next look is a quarter second away. The roll commits just after.
    portal.deps.db.$client.prepare('update client_secrets set last_used_at = last_used_at where id = ?').run(secretId);
    assert.equal((await tokenWithBasic(portal, clientId, secret)).status, 200, 'cached now');
    const rolled = rollClientSecret(elsewhere, cliActor, findApplicationByClientId(elsewhere.db, clientId)!, old, { graceDays: '7' });
    assert.ok(rolled.ok);
    const first = await tokenWithBasic(portal, clientId, rolled.value.secret);
    assert.equal(first.status, 200, `the first request with the rolled secret: ${first.text}`);
    // A wrong secret is still refused (the look at SQLite finds nothing new).
    assert.equal((await tokenWithBasic(portal, clientId, 'not the secret')).status, 401);
  }
});

test('the endpoints log one line per second with requests counted by path and status; no secret in it', async (t) => {
  const { portal, clientId, secret } = await world(t);
  for (let i = 0; i < 3; i++) assert.equal((await tokenWithBasic(portal, clientId, secret)).status, 200);
  assert.equal((await tokenWithBasic(portal, clientId, 'not the secret')).status, 401);
  assert.equal((await call(portal, '/.well-known/jwks.json', { method: 'GET' })).status, 200);
  portal.settle();
  type Signatures = { pooled: number; inline: number; rescued: number };
  const lines = portal.logs.map((l) => JSON.parse(l) as { msg: string; seconds?: number; requests?: Record<string, number>; signatures?: Signatures }).filter((l) => l.msg === 'oauth requests');
  const total: Record<string, number> = {};
  for (const l of lines) for (const [k, n] of Object.entries(l.requests!)) total[k] = (total[k] ?? 0) + n;
  assert.deepEqual(total, { '/oauth/token 200': 3, '/oauth/token 401': 1, '/.well-known/jwks.json 200': 1 });
  assert.ok(lines.length <= 2, 'one line per second, not one per request');
  const signed = lines.reduce((n, l) => n + l.signatures!.pooled + l.signatures!.inline + l.signatures!.rescued, 0);
  assert.equal(signed, 3, 'where the three tokens were signed is counted');
  assert.ok(!portal.logs.some((l) => l.includes(secret)), 'never the secret');
});

test('signing key rotation: new tokens use the new key; the old public key stays published while its tokens live', async (t) => {
  const { portal, clientId, secret } = await world(t);
  const first = String((await tokenWithBasic(portal, clientId, secret)).body.access_token);
  const oldKid = jose.decodeProtectedHeader(first).kid;
  // The command opens its own connection to the file, as a separate process would.
  const r = await cliInProcess(['rotate-signing-key'], { DATA_DIR: portal.dataDir, BASE_URL: portal.baseUrl });
  assert.equal(r.code, 0, r.stderr);
  const newKid = r.stdout;
  portal.clock.advance(6000);
  const second = String((await tokenWithBasic(portal, clientId, secret)).body.access_token);
  assert.equal(jose.decodeProtectedHeader(second).kid, newKid, 'the running server signs with the new key');
  const keys = (await call(portal, '/.well-known/jwks.json', { method: 'GET' })).body.keys as Array<{ kid: string; kty: string; crv: string; d?: string }>;
  assert.deepEqual(keys.map((k) => k.kid).sort(), [oldKid, newKid].sort());
  assert.ok(keys.every((k) => k.kty === 'EC' && k.crv === 'P-256' && k.d === undefined), 'public halves only');
  const jwks = jose.createRemoteJWKSet(new URL(`${portal.baseUrl}/.well-known/jwks.json`));
  await jose.jwtVerify(first, jwks, { currentDate: new Date(portal.clock.now()) });
  portal.clock.advance(3700_000);
  const later = (await call(portal, '/.well-known/jwks.json', { method: 'GET' })).body.keys as Array<{ kid: string }>;
  assert.deepEqual(later.map((k) => k.kid), [newKid], 'the old key is gone once its tokens have expired');
});

function postFrom(localAddress: string, url: string, body: string, headers: Record<string, string>): Promise<{ status: number; headers: http.IncomingHttpHeaders; text: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: 'POST', localAddress, headers: { 'Content-Type': 'application/x-www-form-urlencoded', ...headers } }, (res) => {
      let text = '';
      res.on('data', (d) => (text += d));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, text }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

test('guessing is throttled per (client id, address) and per address; the owner elsewhere is never locked out; audit is bounded', async (t) => {
  const { portal, org, clientId, secret } = await world(t);
  const other = makeApplication(portal, org, 'Other', ['DM']);
  const otherSecret = makeSecret(portal, other).secret;
  const url = `${portal.baseUrl}/oauth/token`;
  const attacker = '127.0.0.2';
  const statuses: number[] = [];
  let retryAfter: string | undefined;
  let throttledBody = '';
  for (let i = 0; i < 20; i++) {
    const r = await postFrom(attacker, url, 'grant_type=client_credentials', { Authorization: basic(clientId, `guess${i}`) });
    statuses.push(r.status);
    if (r.status === 429) [retryAfter, throttledBody] = [String(r.headers['retry-after']), r.text];
  }
  assert.equal((JSON.parse(throttledBody) as { error: string }).error, 'temporarily_unavailable', 'a registered error code (RFC 6749), not the device flow\'s slow_down');
  assert.deepEqual(statuses.slice(0, 10), Array(10).fill(401), 'ten wrong guesses: 401 each');
  assert.deepEqual(statuses.slice(10), Array(10).fill(429), 'then 429 for that client from that address');
  assert.ok(Number(retryAfter) > 0 && Number(retryAfter) <= 60, 'with Retry-After');
  const correctFromAttacker = await postFrom(attacker, url, 'grant_type=client_credentials', { Authorization: basic(clientId, secret) });
  assert.equal(correctFromAttacker.status, 429, 'the guessing address learns nothing more about that client');
  const owner = await postFrom('127.0.0.3', url, 'grant_type=client_credentials', { Authorization: basic(clientId, secret) });
  assert.equal(owner.status, 200, "the attacked client's correct secret from another address still works");
  const otherFromAttacker = await postFrom(attacker, url, 'grant_type=client_credentials', { Authorization: basic(other, otherSecret) });
  assert.equal(otherFromAttacker.status, 200, 'another client from the same address is not blocked by 10 failures');
  // Per address: 5 × the per-client limit of distinct failures, over any client ids.
  const sprayer = '127.0.0.5';
  const spray: number[] = [];
  for (let i = 0; i < 55; i++) spray.push((await postFrom(sprayer, url, 'grant_type=client_credentials', { Authorization: basic(`unknown-${i}`, 'x') })).status);
  assert.deepEqual(spray.slice(0, 50), Array(50).fill(401));
  assert.deepEqual(spray.slice(50), Array(5).fill(429), 'the spraying address is throttled for every client');
  assert.equal((await postFrom(sprayer, url, 'grant_type=client_credentials', { Authorization: basic(other, otherSecret) })).status, 429);
  portal.settle();
  const audited = portal.deps.db.select().from(auditEvents).where(eq(auditEvents.action, 'token.auth_failed')).all();
  const forClient = audited.filter((a) => a.target === clientId);
  assert.ok(forClient.length >= 1 && forClient.length <= 3, `failure audit events are rate-limited per client (${forClient.length})`);
  assert.equal(forClient[0]!.ip, attacker, 'the audit event names the address');
  portal.clock.advance(61_000);
  assert.equal((await postFrom(attacker, url, 'grant_type=client_credentials', { Authorization: basic(clientId, secret) })).status, 200, 'after a minute it works again');
});

test('a stale system hammering a deleted secret does not block its sibling secret, even from the same address', async (t) => {
  const { portal, clientId, secret: oldSecret, secretId: oldId } = await world(t);
  const sibling = makeSecret(portal, clientId, 60, 'sibling').secret;
  const app = findApplicationByClientId(portal.deps.db, clientId)!;
  assert.ok(deleteClientSecret(portal.deps, cliActor, app, oldId), "deleted");
  const url = `${portal.baseUrl}/oauth/token`;
  for (let i = 0; i < 40; i++) {
    const r = await postFrom('127.0.0.6', url, 'grant_type=client_credentials', { Authorization: basic(clientId, oldSecret) });
    assert.equal(r.status, 401, `the deleted secret is refused with 401, not 429 (request ${i + 1})`);
  }
  const fromSameHost = await postFrom('127.0.0.6', url, 'grant_type=client_credentials', { Authorization: basic(clientId, sibling) });
  assert.equal(fromSameHost.status, 200, 'the sibling secret from the same host works');
  const fromElsewhere = await postFrom('127.0.0.7', url, 'grant_type=client_credentials', { Authorization: basic(clientId, sibling) });
  assert.equal(fromElsewhere.status, 200);
});

test('TRUST_PROXY=loopback: the address comes from X-Forwarded-For, for limits and audit', async (t) => {
  const { portal, clientId, secret } = await world(t, { TRUST_PROXY: 'loopback' });
  const url = `${portal.baseUrl}/oauth/token`;
  for (let i = 0; i < 12; i++) {
    const r = await postFrom('127.0.0.1', url, 'grant_type=client_credentials', { Authorization: basic(clientId, `guess${i}`), 'X-Forwarded-For': '203.0.113.9' });
    assert.equal(r.status, i < 10 ? 401 : 429, `guess ${i + 1} from 203.0.113.9`);
  }
  const owner = await postFrom('127.0.0.1', url, 'grant_type=client_credentials', { Authorization: basic(clientId, secret), 'X-Forwarded-For': '198.51.100.4' });
  assert.equal(owner.status, 200, 'the same proxy, another client address: the owner gets a token');
  portal.settle();
  const audited = portal.deps.db.select().from(auditEvents).where(eq(auditEvents.action, 'token.auth_failed')).all();
  assert.ok(audited.length >= 1);
  assert.ok(audited.every((a) => a.ip === '203.0.113.9'), 'the audit log holds the forwarded address');
});

test('without TRUST_PROXY, X-Forwarded-For is ignored by the token endpoint', async (t) => {
  const { portal, clientId } = await world(t);
  const url = `${portal.baseUrl}/oauth/token`;
  const statuses: number[] = [];
  for (let i = 0; i < 12; i++) {
    statuses.push((await postFrom('127.0.0.8', url, 'grant_type=client_credentials', { Authorization: basic(clientId, `guess${i}`), 'X-Forwarded-For': `198.51.100.${i}` })).status);
  }
  assert.deepEqual(statuses.slice(10), [429, 429], 'a rotating X-Forwarded-For does not reset the limit');
  portal.settle();
  const audited = portal.deps.db.select().from(auditEvents).where(eq(auditEvents.action, 'token.auth_failed')).all();
  assert.ok(audited.every((a) => a.ip === '127.0.0.8'), 'the audit log holds the peer address, not the forged one');
});

test('last use is recorded at most once a minute and shown on the page', async (t) => {
  const { portal, clientId, secret, secretId } = await world(t);
  const lastUsed = () => portal.deps.db.select().from(clientSecrets).where(eq(clientSecrets.id, secretId)).get()!.lastUsedAt;
  assert.equal(lastUsed(), null);
  await tokenWithBasic(portal, clientId, secret);
  portal.settle();
  const first = lastUsed();
  assert.equal(first, portal.clock.now());
  portal.clock.advance(30_000);
  await tokenWithBasic(portal, clientId, secret);
  portal.settle();
  assert.equal(lastUsed(), first, 'not written again within a minute');
  portal.clock.advance(31_000);
  await tokenWithBasic(portal, clientId, secret);
  portal.settle();
  assert.equal(lastUsed(), portal.clock.now(), 'written again after a minute');
});
