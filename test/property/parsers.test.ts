// Property-based tests (fast-check) of every parser a stranger reaches (issue 30, point 4):
// the token endpoint's form and Basic header (and introspection's), client assertions (any
// text, and well-signed ones with any header and claims), uploaded keys, certificates and
// JWKs (the parser, and the page's form), a JWKS fetched from a loopback server (the
// fetcher, and the token endpoint's refetch), and the audit log's filter (the parser, the
// query, the page and the CSV). No input may produce a 500 or an uncaught exception: every
// answer is below 500 (or 503 temporarily_unavailable, an honest "try again"), OAuth answers
// are JSON, and the portal logs no error. numRuns keep the file to a few seconds; a failure
// prints its seed and shrunk input (FC_SEED=… replays it).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import http from 'node:http';
import net from 'node:net';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import fc from 'fast-check';
import { startPortal, type TestPortal } from '../helpers/portal.ts';
import { tempDir } from '../helpers/temp.ts';
import { makeApplication, makeOrganisation } from '../helpers/fixtures.ts';
import { createAdmin, createUser, signIn } from '../helpers/accounts.ts';
import { cliActor } from '../../server/audit/audit.ts';
import { findApplicationByClientId } from '../../server/admin/applications.ts';
import { createClientSecret } from '../../server/credentials/secrets.ts';
import { addPublicKey, parsePublicKeyUpload } from '../../server/credentials/public-keys.ts';
import { fetchJwks, registerJwksUrl } from '../../server/credentials/jwks-url.ts';
import { applicationPath } from '../../server/credentials/view-models.ts';
import { auditCsv, parseAuditFilter, queryAudit } from '../../server/audit/query.ts';
import { addDays, dateInZone } from '../../server/lib/dates.ts';

const ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';
const seed = process.env.FC_SEED ? { seed: Number(process.env.FC_SEED) } : {};
const runs = (numRuns: number) => ({ numRuns, ...seed });
const b64url = (v: unknown) => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)).toString('base64url');
// What a header may carry at all (fetch refuses NUL, CR, LF and characters past U+00FF).
const headerSafe = (s: string) => s.replace(/[^\t\x20-\x7e\x80-\xff]/g, '');
const anyText = fc.oneof(fc.string(), fc.string({ unit: 'binary' }), fc.string({ unit: fc.constantFrom('%', '+', '=', '&', ':', '.', 'a', 'Z', '0', ' ', '/', '_', '-') }));
const anyJson = fc.jsonValue({ maxDepth: 3 });

// The answer of an OAuth endpoint: below 500 (or 503 temporarily_unavailable), and JSON.
async function oauthAnswer(res: Response, what: unknown): Promise<{ status: number; body: Record<string, unknown> }> {
  const text = await res.text();
  let body: Record<string, unknown>;
  try {
    body = JSON.parse(text) as Record<string, unknown>;
  } catch {
    assert.fail(`not JSON (${res.status}): ${text.slice(0, 200)} for ${JSON.stringify(what).slice(0, 300)}`);
  }
  assert.ok(res.status < 500 || (res.status === 503 && body.error === 'temporarily_unavailable'), `${res.status} ${text.slice(0, 200)} for ${JSON.stringify(what).slice(0, 300)}`);
  return { status: res.status, body };
}

function noErrorsLogged(portal: TestPortal): void {
  const errors = portal.logs.filter((l) => /"level":"error"/.test(l));
  assert.deepEqual(errors, [], 'the portal logged no error');
}

interface World {
  portal: TestPortal;
  clientId: string;
  secret: string;
  signer: { clientId: string; key: crypto.KeyObject; kid: string };
  jwksClientId: string;
  jwks: { body: string | Buffer; status: number; headers: Record<string, string> };
  certPem: string;
  spkiDer: Buffer;
}

async function world(t: Parameters<typeof startPortal>[0]): Promise<World> {
  // The sandbox: a JWKS URL on loopback over http may be registered.
  const portal = await startPortal(t, { PORTAL_ENV: 'sandbox', TOKEN_FAILURES_PER_MINUTE: '1000000' });
  const org = makeOrganisation(portal, 'Hospital A');
  const expires = addDays(dateInZone(portal.clock.now(), 'UTC'), 90);
  const clientId = makeApplication(portal, org, 'Partner-NL-HospitalA-DM', ['DM']);
  const app = findApplicationByClientId(portal.deps.db, clientId)!;
  const made = createClientSecret(portal.deps, cliActor, app, { name: 'property', expires });
  assert.ok(made.ok);
  const pair = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const spkiDer = pair.publicKey.export({ format: 'der', type: 'spki' });
  const added = addPublicKey(portal.deps, cliActor, app, { name: 'key', key: pair.publicKey.export({ format: 'pem', type: 'spki' }).toString(), expires });
  assert.ok(added.ok);

  // An application whose keys live at a JWKS URL on a loopback server that says whatever
  // the property gives it.
  const jwksClientId = makeApplication(portal, org, 'Partner-NL-HospitalA-SMC', ['DM']);
  const published = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const jwks: World['jwks'] = { status: 200, headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ keys: [{ ...published.publicKey.export({ format: 'jwk' }), kid: 'k1' }] }) };
  const sockets = new Set<net.Socket>();
  const server = http.createServer((_req, res) => {
    res.writeHead(jwks.status, jwks.headers);
    res.end(jwks.body);
  });
  server.on('connection', (s) => sockets.add(s));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => {
    sockets.forEach((s) => s.destroy());
    server.close();
  });
  const url = `http://127.0.0.1:${(server.address() as net.AddressInfo).port}/jwks.json`;
  const registered = await registerJwksUrl(portal.deps, cliActor, findApplicationByClientId(portal.deps.db, jwksClientId)!, url);
  assert.ok(registered.ok);

  const dir = tempDir(t);
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', path.join(dir, 'k'), '-out', path.join(dir, 'c'), '-days', '30', '-subj', '/CN=partner'], { stdio: 'ignore' });
  return {
    portal,
    clientId,
    secret: made.value.secret,
    signer: { clientId, key: pair.privateKey, kid: added.value.row.thumbprint },
    jwksClientId,
    jwks: Object.assign(jwks, { url }),
    certPem: fs.readFileSync(path.join(dir, 'c'), 'utf8'),
    spkiDer,
  };
}

// A real DER with some bytes changed, cut or extended.
const mutated = (der: Buffer) =>
  fc.tuple(fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 4 }), fc.option(fc.nat(), { nil: undefined })).map(([flips, cut]) => {
    const b = Buffer.from(der);
    for (const [i, v] of flips) b[i % b.length] = v;
    return cut === undefined ? b : b.subarray(0, cut % (b.length + 1));
  });
const pem = (label: string, der: Buffer) => `-----BEGIN ${label}-----\n${der.toString('base64').replace(/.{64}/g, '$&\n')}\n-----END ${label}-----\n`;

function uploads(w: World) {
  const certDer = Buffer.from(w.certPem.replace(/-----[^-]+-----|\s/g, ''), 'base64');
  const jwkField = fc.oneof(anyJson, fc.base64String().map((s) => s.replace(/=+$/, '')), fc.constantFrom('EC', 'RSA', 'OKP', 'oct', 'P-256', 'P-521', 'Ed25519', 'X25519', 'AQAB'));
  const jwk = fc.record({ kty: jwkField, crv: jwkField, x: jwkField, y: jwkField, n: jwkField, e: jwkField, d: jwkField, keys: jwkField, kid: jwkField }, { requiredKeys: [] });
  return fc.oneof(
    anyText,
    anyJson.map((v) => JSON.stringify(v)),
    jwk.map((j) => JSON.stringify(j)),
    fc.tuple(fc.constantFrom('PUBLIC KEY', 'RSA PUBLIC KEY', 'CERTIFICATE', 'EC PUBLIC KEY', 'PRIVATE KEY'), fc.uint8Array({ maxLength: 600 })).map(([label, bytes]) => pem(label, Buffer.from(bytes))),
    mutated(w.spkiDer).map((b) => pem('PUBLIC KEY', b)),
    mutated(certDer).map((b) => pem('CERTIFICATE', b)),
    mutated(w.spkiDer).map((b) => pem('RSA PUBLIC KEY', b)),
  );
}

test('property: the token and introspection endpoints answer any form and any Authorization header with JSON, never a 500', async (t) => {
  const w = await world(t);
  const names = fc.constantFrom('grant_type', 'client_id', 'client_secret', 'client_assertion', 'client_assertion_type', 'scope', 'resource', 'token', 'token_type_hint', 'audience');
  const values = fc.oneof(anyText, fc.constantFrom('client_credentials', ASSERTION_TYPE, w.clientId, w.secret, 'https://api.example.org/dm', 'DM'));
  const form = fc.array(fc.tuple(names, values), { maxLength: 8 }).map((pairs) => new URLSearchParams(pairs).toString());
  const body = fc.oneof(form, anyText, fc.uint8Array({ maxLength: 300 }).map((b) => Buffer.from(b)), fc.constant('grant_type=' + 'x'.repeat(100_000)));
  const basicPart = fc.oneof(anyText, fc.constantFrom(w.clientId, w.secret, encodeURIComponent(w.secret)));
  const basic = fc.tuple(fc.constantFrom('Basic ', 'basic ', 'BASIC  ', 'Basic', 'Bearer '), basicPart, fc.constantFrom(':', '', '::', '%3A'), basicPart, fc.boolean()).map(([scheme, id, sep, secret, raw]) => scheme + (raw ? `${id}${sep}${secret}` : Buffer.from(`${id}${sep}${secret}`).toString('base64')));
  const authorization = fc.option(fc.oneof(anyText, basic).map(headerSafe), { nil: undefined });
  const contentType = fc.constantFrom('application/x-www-form-urlencoded', 'application/x-www-form-urlencoded; charset=ISO-8859-1', 'application/json', 'text/plain', 'multipart/form-data; boundary=x', '');
  await fc.assert(
    fc.asyncProperty(fc.constantFrom('/oauth/token', '/oauth/introspect'), body, authorization, contentType, async (endpoint, b, auth, type) => {
      const headers: Record<string, string> = {};
      if (type) headers['Content-Type'] = type;
      if (auth !== undefined) headers.Authorization = auth;
      await oauthAnswer(await fetch(w.portal.baseUrl + endpoint, { method: 'POST', headers, body: b }), { endpoint, b: String(b).slice(0, 200), auth, type });
    }),
    runs(150),
  );
  noErrorsLogged(w.portal);
});

test('property: client assertions — any text, and well-signed ones with any header and claims — get JSON, never a 500; none accepted twice', async (t) => {
  const w = await world(t);
  const now = () => Math.floor(w.portal.clock.now() / 1000);
  const audience = `${w.portal.baseUrl}/oauth/token`;
  // Mostly good claims, so that some assertions are valid and the replay check runs.
  const claim = <T>(good: fc.Arbitrary<T>) => fc.option(fc.oneof({ weight: 8, arbitrary: good }, { weight: 1, arbitrary: anyJson }), { nil: undefined, freq: 12 });
  const claims = fc.record({
    iss: fc.oneof({ weight: 8, arbitrary: fc.constant(w.signer.clientId) }, { weight: 1, arbitrary: anyJson }),
    sub: claim(fc.constant(w.signer.clientId)),
    aud: claim(fc.constantFrom(audience, w.portal.baseUrl, [audience, 'x'], 'https://elsewhere.example')),
    exp: claim(fc.integer({ min: -200, max: 3800 }).map((d) => now() + d)),
    nbf: claim(fc.integer({ min: -100, max: 100 }).map((d) => now() + d)),
    iat: claim(fc.oneof({ weight: 6, arbitrary: fc.integer({ min: -100, max: 100 }).map((d) => now() + d) }, { weight: 1, arbitrary: fc.double() })),
    jti: claim(fc.oneof(fc.uuid(), fc.string({ maxLength: 300 }))),
  });
  const header = fc.record({
    alg: fc.oneof({ weight: 8, arbitrary: fc.constant('ES256') }, { weight: 1, arbitrary: fc.constantFrom('none', 'HS256', 'RS256', 'ES384', 'EdDSA', 'es256', '__proto__', 'toString') }, { weight: 1, arbitrary: anyJson }),
    kid: fc.option(fc.oneof(fc.constant(w.signer.kid), anyJson), { nil: undefined }),
    crit: fc.option(anyJson, { nil: undefined, freq: 8 }),
    typ: fc.option(anyJson, { nil: undefined, freq: 4 }),
  }, { requiredKeys: ['alg'] });
  const signed = fc.tuple(header, claims).map(([h, c]) => {
    const input = `${b64url(h)}.${b64url(c)}`;
    return `${input}.${crypto.sign('sha256', Buffer.from(input), { key: w.signer.key, dsaEncoding: 'ieee-p1363' }).toString('base64url')}`;
  });
  const part = fc.oneof(anyJson.map(b64url), anyText, fc.constant(''));
  const junk = fc.oneof(anyText, fc.array(part, { minLength: 1, maxLength: 4 }).map((ps) => ps.join('.')));
  let accepted = 0;
  await fc.assert(
    fc.asyncProperty(fc.oneof(signed, junk), fc.option(fc.oneof(anyText, fc.constant(w.signer.clientId)), { nil: undefined, freq: 4 }), async (assertion, clientId) => {
      const form = new URLSearchParams({ grant_type: 'client_credentials', client_assertion_type: ASSERTION_TYPE, client_assertion: assertion, ...(clientId === undefined ? {} : { client_id: clientId }) });
      const send = async () => oauthAnswer(await fetch(`${w.portal.baseUrl}/oauth/token`, { method: 'POST', headers: { 'Content-Type': 'application/x-www-form-urlencoded' }, body: form.toString() }), { assertion, clientId });
      const first = await send();
      if (first.status === 200) {
        accepted++;
        assert.equal((await send()).status, 401, 'an accepted assertion is never accepted again');
      }
    }),
    runs(150),
  );
  t.diagnostic(`${accepted} generated assertions were valid and accepted once`);
  noErrorsLogged(w.portal);
});

test('property: uploaded keys, certificates and JWKs — the parser and the page — give a message, never a throw or a 500', async (t) => {
  const w = await world(t);
  await fc.assert(
    fc.property(uploads(w), (text) => {
      const r = parsePublicKeyUpload(text, w.portal.clock.now());
      assert.ok(r.ok || (typeof r.message === 'string' && r.message.length > 0));
    }),
    runs(400),
  );
  const manager = await createUser(w.portal, 1, 'm@hospital-a.example', [w.clientId]);
  const c = await signIn(w.portal, manager);
  await c.get(`${applicationPath(w.clientId)}/keys/new`);
  await fc.assert(
    fc.asyncProperty(uploads(w), fc.option(anyText, { nil: undefined }), fc.option(anyText, { nil: undefined }), async (key, name, expires) => {
      const r = await c.post(`${applicationPath(w.clientId)}/keys`, { key, ...(name === undefined ? {} : { name }), ...(expires === undefined ? {} : { expires }) });
      assert.ok([201, 400, 409, 422].includes(r.status), `${r.status} for ${JSON.stringify({ key, name, expires }).slice(0, 300)}: ${r.text.slice(0, 200)}`);
    }),
    runs(40),
  );
  noErrorsLogged(w.portal);
});

test('property: a JWKS fetched from a loopback server — the fetcher, and the token endpoint refetching it — gives a message, never a throw or a 500', async (t) => {
  const w = await world(t);
  const base = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ format: 'jwk' });
  const jwkLike = fc.oneof(anyJson, fc.record({ kty: fc.oneof(fc.constantFrom('EC', 'RSA', 'OKP'), anyJson), crv: fc.oneof(fc.constant(base.crv), anyJson), x: fc.oneof(fc.constant(base.x), anyText), y: fc.oneof(fc.constant(base.y), anyText), use: fc.oneof(fc.constant('sig'), anyJson), kid: anyJson, d: anyJson }, { requiredKeys: [] }));
  const body = fc.oneof(anyText, anyJson.map((v) => JSON.stringify(v)), fc.array(jwkLike, { maxLength: 12 }).map((keys) => JSON.stringify({ keys })), fc.uint8Array({ maxLength: 200 }).map((b) => Buffer.from(b)));
  const answer = fc.record({
    body,
    status: fc.constantFrom(200, 200, 200, 204, 301, 404, 500),
    headers: fc.record({ 'Content-Type': fc.constantFrom('application/json', 'text/html', 'application/jwk-set+json'), 'Cache-Control': fc.oneof(fc.constantFrom('max-age=0', 'no-store', 'max-age=99999999999', 'max-age="5"'), anyText.map(headerSafe)) }, { requiredKeys: ['Content-Type'] }),
  });
  const url = (w.jwks as World['jwks'] & { url: string }).url;
  await fc.assert(
    fc.asyncProperty(answer, async (a) => {
      Object.assign(w.jwks, a);
      const r = await fetchJwks(url, true, 2000);
      assert.ok(r.ok || (typeof r.message === 'string' && r.message.length > 0));
    }),
    runs(120),
  );
  // The token endpoint refetches the JWKS for an unknown kid at most once a minute: move the
  // clock on a minute before each request.
  await fc.assert(
    fc.asyncProperty(answer, fc.option(anyText, { nil: undefined }), async (a, kid) => {
      Object.assign(w.jwks, a);
      w.portal.clock.advance(61_000);
      const iat = Math.floor(w.portal.clock.now() / 1000);
      const input = `${b64url({ alg: 'ES256', ...(kid === undefined ? {} : { kid }) })}.${b64url({ iss: w.jwksClientId, sub: w.jwksClientId, aud: w.portal.baseUrl, iat, exp: iat + 60, jti: crypto.randomUUID() })}`;
      const assertion = `${input}.${crypto.sign('sha256', Buffer.from(input), { key: crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey, dsaEncoding: 'ieee-p1363' }).toString('base64url')}`;
      const form = new URLSearchParams({ grant_type: 'client_credentials', client_assertion_type: ASSERTION_TYPE, client_assertion: assertion });
      const r = await oauthAnswer(await fetch(`${w.portal.baseUrl}/oauth/token`, { method: 'POST', headers: { 'Content-Type': 'application/x-www-form-urlencoded' }, body: form.toString() }), { a, kid });
      assert.notEqual(r.status, 200, 'a key nobody published gets no token');
    }),
    runs(30),
  );
  noErrorsLogged(w.portal);
});

test('property: the audit log filter — parser, query, page and CSV — answers any query, never a throw or a 500', async (t) => {
  const w = await world(t);
  const names = fc.oneof(fc.constantFrom('from', 'to', 'before', 'organisation', 'application', 'user', 'action'), fc.string({ maxLength: 8 }));
  const date = fc.oneof(fc.date({ noInvalidDate: true }).map((d) => d.toISOString().slice(0, 10)), fc.constantFrom('9999-12-31', '0000-01-01', '2027-02-29', '2028-02-29', '1970-01-01'));
  const value = fc.oneof(anyText, date, fc.integer().map(String), fc.constantFrom('1_1', '999999999999999_999999999999999', 'secret.', 'token.', '%', '_'), fc.tuple(fc.nat(), fc.nat()).map(([a, b]) => `${a}_${b}`));
  const query = fc.dictionary(names, fc.oneof({ weight: 5, arbitrary: value }, { weight: 1, arbitrary: fc.array(value, { maxLength: 3 }) }, { weight: 1, arbitrary: fc.object() }), { maxKeys: 6 });
  await fc.assert(
    fc.property(query, (q) => {
      const { filter } = parseAuditFilter(q);
      queryAudit(w.portal.deps.db, filter, 'Europe/Amsterdam');
      auditCsv(w.portal.deps.db, filter, 'Europe/Amsterdam');
    }),
    runs(300),
  );
  const admin = await signIn(w.portal, await createAdmin(w.portal));
  await fc.assert(
    fc.asyncProperty(fc.constantFrom('/admin/audit', '/admin/audit.csv'), fc.array(fc.tuple(names, value), { maxLength: 6 }), fc.option(anyText, { nil: undefined, freq: 4 }), async (page, pairs, raw) => {
      const qs = raw === undefined ? new URLSearchParams(pairs).toString() : encodeURI(raw).replace(/#/g, '%23');
      const r = await admin.get(`${page}?${qs}`);
      assert.equal(r.status, 200, `${page}?${qs}: ${r.text.slice(0, 200)}`);
    }),
    runs(40),
  );
  noErrorsLogged(w.portal);
});
