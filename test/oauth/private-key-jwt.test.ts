// private_key_jwt (RFC 7523): keys and certificates registered with the CLI and the
// domain function, openid-client's PrivateKeyJwt getting tokens, jose verifying them,
// and every bad assertion refused with 401 invalid_client.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import * as jose from 'jose';
import * as oidc from 'openid-client';
import { startPortal, type TestPortal } from '../helpers/portal.ts';
import { tempDir } from '../helpers/temp.ts';
import { makeApplication, makeOrganisation } from '../helpers/fixtures.ts';
import { cliActor } from '../../server/audit/audit.ts';
import { findApplicationByClientId, setApplicationDisabled } from '../../server/admin/applications.ts';
import { addPublicKey, deletePublicKey, jwkThumbprint, parsePublicKeyUpload } from '../../server/credentials/public-keys.ts';
import { runCli } from '../../server/cli/cli.ts';
import { bootstrap } from '../../server/bootstrap.ts';
import { memoryLogger } from '../../server/lib/log.ts';

const ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';

async function world(t: Parameters<typeof startPortal>[0], env: Record<string, string> = {}) {
  const portal = await startPortal(t, env);
  const org = makeOrganisation(portal, 'Hospital A');
  const clientId = makeApplication(portal, org, 'Partner-NL-HospitalA-DM', ['DM']);
  const otherId = makeApplication(portal, org, 'Partner-NL-HospitalA-SMC', ['SMC']);
  return { portal, clientId, otherId };
}

// A self-signed EC P-256 certificate and its private key, made by openssl.
function makeCertificate(dir: string, days = 200) {
  const key = path.join(dir, 'client.key');
  const cert = path.join(dir, 'client.crt');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', key, '-out', cert, '-days', String(days), '-subj', '/CN=partner'], { stdio: 'ignore' });
  return { keyPem: fs.readFileSync(key, 'utf8'), certPem: fs.readFileSync(cert, 'utf8'), certFile: cert, keyFile: key };
}

async function tokenWith(portal: TestPortal, form: Record<string, string>) {
  const res = await fetch(`${portal.baseUrl}/oauth/token`, { method: 'POST', headers: { 'Content-Type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ grant_type: 'client_credentials', ...form }).toString() });
  return { status: res.status, headers: res.headers, body: (await res.json()) as Record<string, unknown> };
}

test('openid-client PrivateKeyJwt gets tokens with an RS256 key and with an ES256 certificate; jose verifies them against the JWKS', async (t) => {
  const { portal, clientId } = await world(t);
  const app = findApplicationByClientId(portal.deps.db, clientId)!;
  const rsa = await jose.generateKeyPair('RS256', { modulusLength: 2048, extractable: true });
  const added = addPublicKey(portal.deps, cliActor, app, { name: 'RSA key', key: await jose.exportSPKI(rsa.publicKey), expires: new Date(portal.clock.now() + 30 * 86_400_000).toISOString().slice(0, 10) });
  assert.ok(added.ok, JSON.stringify(!added.ok && added.errors));
  assert.equal(added.value.row.keyType, 'RSA 2048');

  const meta = (await (await fetch(`${portal.baseUrl}/.well-known/oauth-authorization-server`)).json()) as Record<string, unknown>;
  assert.deepEqual(meta.token_endpoint_auth_methods_supported, ['client_secret_basic', 'client_secret_post', 'private_key_jwt']);
  assert.deepEqual(meta.token_endpoint_auth_signing_alg_values_supported, ['RS256', 'PS256', 'ES256', 'ES384', 'ES512', 'EdDSA']);

  const config = await oidc.discovery(new URL(portal.baseUrl), clientId, {}, oidc.PrivateKeyJwt(rsa.privateKey), { algorithm: 'oauth2', execute: [oidc.allowInsecureRequests] });
  const tokens = await oidc.clientCredentialsGrant(config);
  const jwks = jose.createLocalJWKSet((await (await fetch(`${portal.baseUrl}/.well-known/jwks.json`)).json()) as jose.JSONWebKeySet);
  const { payload } = await jose.jwtVerify(tokens.access_token, jwks, { issuer: portal.baseUrl, audience: 'https://api.example.org/dm', typ: 'at+jwt' });
  assert.equal(payload.client_id, clientId);
  assert.equal(payload.secret_id, added.value.row.id, 'the token names the key that minted it');
  portal.settle();

  // An ES256 certificate, registered by the CLI (which prints the x5t#S256 thumbprint).
  const cert = makeCertificate(tempDir(t));
  let out = '';
  let err = '';
  const code = await runCli(['add-public-key', '--client-id', clientId, '--name', 'Certificate', '--file', cert.certFile], () => bootstrap({ env: { DATA_DIR: portal.dataDir, BASE_URL: portal.baseUrl }, logger: memoryLogger() }), { out: (s) => (out += s), err: (s) => (err += s) });
  assert.equal(code, 0, err);
  const x5t = crypto.createHash('sha256').update(new crypto.X509Certificate(cert.certPem).raw).digest('base64url');
  assert.equal(out.trim(), x5t);
  const ecKey = await jose.importPKCS8(cert.keyPem, 'ES256');
  const withCert = await oidc.discovery(new URL(portal.baseUrl), clientId, {}, oidc.PrivateKeyJwt({ key: ecKey, kid: x5t }), { algorithm: 'oauth2', execute: [oidc.allowInsecureRequests] });
  const second = await oidc.clientCredentialsGrant(withCert);
  await jose.jwtVerify(second.access_token, jwks, { issuer: portal.baseUrl });

  // Introspection by the same organisation sees the key-minted token as active.
  const introspected = await oidc.tokenIntrospection(config, tokens.access_token);
  assert.equal(introspected.active, true);

  // A disabled application gets no new key from the command line (exit 2, nothing stored).
  setApplicationDisabled(portal.deps.db, portal.clock, cliActor, app, true);
  const another = makeCertificate(tempDir(t));
  let refusal = '';
  const refused = await runCli(['add-public-key', '--client-id', clientId, '--name', 'Another', '--file', another.certFile], () => bootstrap({ env: { DATA_DIR: portal.dataDir, BASE_URL: portal.baseUrl }, logger: memoryLogger() }), { out: () => {}, err: (s) => (refusal += s) });
  assert.equal(refused, 2);
  assert.match(refusal, /the application Partner-NL-HospitalA-DM is disabled/);
  assert.equal((portal.deps.db.$client.prepare("select count(*) as n from client_keys where name = 'Another'").get() as { n: number }).n, 0);
});

test('bad assertions: replay, wrong aud, expired, iat in the future, alg none, HS256, another application\'s key, a deleted key — 401 each', async (t) => {
  const { portal, clientId, otherId } = await world(t, { TOKEN_FAILURES_PER_MINUTE: '100' });
  const app = findApplicationByClientId(portal.deps.db, clientId)!;
  const other = findApplicationByClientId(portal.deps.db, otherId)!;
  const expires = new Date(portal.clock.now() + 30 * 86_400_000).toISOString().slice(0, 10);
  const mine = await jose.generateKeyPair('ES256', { extractable: true });
  const theirs = await jose.generateKeyPair('ES256', { extractable: true });
  const added = addPublicKey(portal.deps, cliActor, app, { name: 'mine', key: JSON.stringify(await jose.exportJWK(mine.publicKey)), expires });
  assert.ok(added.ok);
  assert.ok(addPublicKey(portal.deps, cliActor, other, { name: 'theirs', key: await jose.exportSPKI(theirs.publicKey), expires }).ok);
  const now = Math.floor(portal.clock.now() / 1000);
  const sign = (claims: jose.JWTPayload, key: CryptoKey | Uint8Array = mine.privateKey, alg = 'ES256') =>
    new jose.SignJWT({ iss: clientId, sub: clientId, aud: `${portal.baseUrl}/oauth/token`, iat: now, exp: now + 120, jti: crypto.randomUUID(), ...claims }).setProtectedHeader({ alg }).sign(key);
  const assertionFor = (assertion: string) => ({ client_assertion_type: ASSERTION_TYPE, client_assertion: assertion });

  const good = await sign({});
  assert.equal((await tokenWith(portal, assertionFor(good))).status, 200, 'a good assertion works');
  const unsigned = `${Buffer.from(JSON.stringify({ alg: 'none' })).toString('base64url')}.${Buffer.from(JSON.stringify({ iss: clientId, sub: clientId, aud: portal.baseUrl, exp: now + 60, jti: 'x' })).toString('base64url')}.`;
  // With a valid signature the rule broken is named; without one, nothing is.
  const cases: Array<[string, string, string | null]> = [
    ['replayed jti', good, 'jti already used'],
    ['wrong aud', await sign({ aud: 'https://elsewhere.example/token' }), 'aud must be the token endpoint or the issuer'],
    ['expired', await sign({ iat: now - 600, exp: now - 300 }), 'the assertion has expired (exp)'],
    ['iat in the future', await sign({ iat: now + 600, exp: now + 700 }), 'iat is in the future'],
    ['exp more than an hour ahead', await sign({ exp: now + 3700 }), 'exp is more than 60 minutes ahead'],
    ['exp more than an hour after iat', await sign({ iat: now - 30, exp: now + 3590 }), 'exp is more than 60 minutes after iat'],
    ['no jti', await sign({ jti: undefined }), 'jti is missing'],
    ['iss and sub differ', await sign({ sub: otherId }), 'iss and sub must both be the client ID'],
    ['alg none', unsigned, null],
    ['HS256', await sign({}, new TextEncoder().encode('x'.repeat(32)), 'HS256'), null],
    ["another application's key", await sign({}, theirs.privateKey), null],
    ['garbage', 'not.a.jwt', null],
  ];
  for (const [label, assertion, reason] of cases) {
    const r = await tokenWith(portal, assertionFor(assertion));
    assert.equal(r.status, 401, `${label}: ${JSON.stringify(r.body)}`);
    assert.deepEqual(r.body, { error: 'invalid_client', error_description: reason ? `Client authentication failed: ${reason}.` : 'Client authentication failed.' }, label);
    assert.match(r.headers.get('www-authenticate') ?? '', /^Basic realm=/, `${label}: WWW-Authenticate on every 401`);
  }
  const mixed = await tokenWith(portal, { ...assertionFor(await sign({})), client_secret: 'x', client_id: clientId });
  assert.equal(mixed.status, 400, 'an assertion and a secret at once');
  assert.equal((await tokenWith(portal, { client_assertion_type: 'urn:other', client_assertion: await sign({}) })).status, 400, 'a wrong assertion type');

  assert.ok(deletePublicKey(portal.deps, cliActor, app, { thumbprint: added.value.row.thumbprint }));
  assert.equal((await tokenWith(portal, assertionFor(await sign({})))).status, 401, 'a deleted key is refused from the next request');
});

test('uploads: garbage, a private key (never stored), RSA under 2048 bits, an unsupported curve, an expired certificate, a large file — clear messages', async (t) => {
  const now = Date.now();
  const rsa1024 = crypto.generateKeyPairSync('rsa', { modulusLength: 1024 });
  const secp256k1 = crypto.generateKeyPairSync('ec', { namedCurve: 'secp256k1' });
  const ed = crypto.generateKeyPairSync('ed25519');
  const dir = tempDir(t);
  const expired = makeCertificate(dir, 1);
  const cases: Array<[string, string, RegExp]> = [
    ['garbage PEM', '-----BEGIN PUBLIC KEY-----\nnot base64\n-----END PUBLIC KEY-----', /could not be read/],
    ['private key PEM', ed.privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(), /This is a private key: upload only the public part/],
    ['private JWK', JSON.stringify(ed.privateKey.export({ format: 'jwk' })), /This is a private key/],
    ['RSA 1024', rsa1024.publicKey.export({ format: 'pem', type: 'spki' }).toString(), /1024 bits; at least 2048/],
    ['secp256k1', secp256k1.publicKey.export({ format: 'pem', type: 'spki' }).toString(), /curve .* is not supported/],
    ['large file', 'x'.repeat(1024 * 1024), /too large/],
    ['plain text', 'hello', /not a public key, a certificate or a JWK/],
  ];
  for (const [label, text, message] of cases) {
    const r = parsePublicKeyUpload(text, now);
    assert.ok(!r.ok && message.test(r.message), `${label}: ${r.ok ? 'accepted' : r.message}`);
  }
  const exp = parsePublicKeyUpload(expired.certPem, now + 3 * 86_400_000);
  assert.ok(!exp.ok && /This certificate expired on/.test(exp.message), 'an expired certificate');
  const okEd = parsePublicKeyUpload(ed.publicKey.export({ format: 'pem', type: 'spki' }).toString(), now);
  assert.ok(okEd.ok && okEd.value.keyType === 'Ed25519' && okEd.value.thumbprint === jwkThumbprint(okEd.value.jwk));
  // RFC 7638 §3.1's example key and thumbprint.
  assert.equal(
    jwkThumbprint({ kty: 'RSA', e: 'AQAB', n: '0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw' }),
    'NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs',
  );
  const portal = await startPortal(t);
  const org = makeOrganisation(portal, 'A');
  const clientId = makeApplication(portal, org, 'Partner-NL-A-DM');
  const app = findApplicationByClientId(portal.deps.db, clientId)!;
  const r = addPublicKey(portal.deps, cliActor, app, { name: 'oops', key: ed.privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(), expires: '2099-01-01' });
  assert.ok(!r.ok);
  assert.equal((portal.deps.db.$client.prepare('select count(*) as n from client_keys').get() as { n: number }).n, 0, 'nothing stored');
  assert.ok(!portal.logs.some((l) => l.includes('PRIVATE KEY')), 'never logged');
});

// ECDSA signatures are malleable: (r, n − s) verifies as well as (r, s). Refusing high-S
// would refuse about half of what jose, openid-client, oauth4webapi and Java sign (WebCrypto
// and OpenSSL do not normalise s), so both forms verify, and the jti makes a malleated copy
// of a used assertion what it is: a replay.
test('a malleated ES256 assertion (r, n − s) of a used one is refused as a replay; a fresh high-S one is accepted', async (t) => {
  const { portal, clientId } = await world(t);
  const app = findApplicationByClientId(portal.deps.db, clientId)!;
  const ec = await jose.generateKeyPair('ES256', { extractable: true });
  assert.ok(addPublicKey(portal.deps, cliActor, app, { name: 'EC key', key: await jose.exportSPKI(ec.publicKey), expires: new Date(portal.clock.now() + 30 * 86_400_000).toISOString().slice(0, 10) }).ok);
  const n = BigInt('0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551');
  const flip = (jws: string) => {
    const [h, p, sig] = jws.split('.') as [string, string, string];
    const raw = Buffer.from(sig, 'base64url');
    const s = BigInt(`0x${raw.subarray(32).toString('hex')}`);
    const flipped = Buffer.concat([raw.subarray(0, 32), Buffer.from((n - s).toString(16).padStart(64, '0'), 'hex')]);
    return { jws: `${h}.${p}.${flipped.toString('base64url')}`, high: n - s > n / 2n };
  };
  const sign = () => {
    const now = Math.floor(portal.clock.now() / 1000);
    return new jose.SignJWT({ iss: clientId, sub: clientId, aud: portal.baseUrl, iat: now, exp: now + 60, jti: crypto.randomUUID() }).setProtectedHeader({ alg: 'ES256' }).sign(ec.privateKey);
  };
  const original = await sign();
  assert.equal((await tokenWith(portal, { client_assertion_type: ASSERTION_TYPE, client_assertion: original })).status, 200);
  assert.equal((await tokenWith(portal, { client_assertion_type: ASSERTION_TYPE, client_assertion: flip(original).jws })).status, 401, 'the malleated copy is a replay');
  // A fresh assertion in its high-S form: what half of the partners' libraries send.
  let fresh = flip(await sign());
  while (!fresh.high) fresh = flip(await sign());
  assert.equal((await tokenWith(portal, { client_assertion_type: ASSERTION_TYPE, client_assertion: fresh.jws })).status, 200);
});

// Authlib's defaults (issue 26): exp = iat + 3600, and for introspection aud = the
// introspection endpoint's URL. The same jti is refused for as long as it lives.
test('an assertion living an hour (Authlib) gets a token and is single-use for that hour; introspection accepts its own URL as aud', async (t) => {
  const { portal, clientId } = await world(t);
  const app = findApplicationByClientId(portal.deps.db, clientId)!;
  const ec = await jose.generateKeyPair('ES256', { extractable: true });
  assert.ok(addPublicKey(portal.deps, cliActor, app, { name: 'EC key', key: await jose.exportSPKI(ec.publicKey), expires: new Date(portal.clock.now() + 30 * 86_400_000).toISOString().slice(0, 10) }).ok);
  const now = Math.floor(portal.clock.now() / 1000);
  const sign = (aud: string, jti: string = crypto.randomUUID()) => new jose.SignJWT({ iss: clientId, sub: clientId, aud, iat: now, exp: now + 3600, jti }).setProtectedHeader({ alg: 'ES256' }).sign(ec.privateKey);
  const hour = await sign(`${portal.baseUrl}/oauth/token`, 'authlib-style');
  const first = await tokenWith(portal, { client_assertion_type: ASSERTION_TYPE, client_assertion: hour });
  assert.equal(first.status, 200, JSON.stringify(first.body));
  portal.clock.advance(50 * 60_000);
  const replay = await sign(`${portal.baseUrl}/oauth/token`, 'authlib-style');
  assert.equal((await tokenWith(portal, { client_assertion_type: ASSERTION_TYPE, client_assertion: replay })).status, 401, 'its jti is kept until its exp');

  const introspect = (aud: string) =>
    sign(aud).then((assertion) =>
      fetch(`${portal.baseUrl}/oauth/introspect`, { method: 'POST', headers: { 'Content-Type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ token: String(first.body.access_token), client_assertion_type: ASSERTION_TYPE, client_assertion: assertion }).toString() }),
    );
  assert.equal((await introspect(`${portal.baseUrl}/oauth/introspect`)).status, 200, 'aud = the introspection endpoint, at introspection');
  assert.equal((await tokenWith(portal, { client_assertion_type: ASSERTION_TYPE, client_assertion: await sign(`${portal.baseUrl}/oauth/introspect`) })).status, 401, 'but not at the token endpoint');
});
