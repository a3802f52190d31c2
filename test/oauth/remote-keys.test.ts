// Keys at a JWKS URL as the token endpoint uses them (SECURITY.md 36, 37): a removed key
// refused within JWKS_MAX_AGE_SECONDS (or a shorter Cache-Control max-age); a burst of
// unknown kids makes one fetch, then none for a minute; at most ten keys per application,
// RSA of 2048–4096 bits with e = 65537. A real loopback JWKS server, a real portal.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import crypto from 'node:crypto';
import * as jose from 'jose';
import { startPortal, type TestPortal } from '../helpers/portal.ts';
import { makeApplication, makeOrganisation } from '../helpers/fixtures.ts';
import { cliActor } from '../../server/audit/audit.ts';
import { findApplicationByClientId } from '../../server/admin/applications.ts';
import { registerJwksUrl } from '../../server/credentials/jwks-url.ts';
import { addPublicKey, parsePublicKeyUpload } from '../../server/credentials/public-keys.ts';

const ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';

// A JWKS server whose answer the test changes, counting requests.
async function jwksServer(t: Parameters<typeof startPortal>[0]) {
  const state = { keys: [] as object[], cacheControl: '', fetches: 0 };
  const server = http.createServer((_req, res) => {
    state.fetches++;
    res.writeHead(200, { 'Content-Type': 'application/json', ...(state.cacheControl ? { 'Cache-Control': state.cacheControl } : {}) });
    res.end(JSON.stringify({ keys: state.keys }));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => {
    server.closeAllConnections();
    server.close();
  });
  return { url: `http://127.0.0.1:${(server.address() as net.AddressInfo).port}/jwks.json`, state };
}

async function setup(t: Parameters<typeof startPortal>[0], env: Record<string, string> = {}) {
  const jwks = await jwksServer(t);
  const portal = await startPortal(t, { PORTAL_ENV: 'sandbox', ...env });
  const org = makeOrganisation(portal, 'Hospital A');
  const clientId = makeApplication(portal, org, 'Partner-NL-HospitalA-DM', ['DM']);
  const app = findApplicationByClientId(portal.deps.db, clientId)!;
  return { jwks, portal, clientId, app };
}

const publicJwk = async (key: CryptoKey, kid: string) => ({ ...(await jose.exportJWK(key)), kid, use: 'sig' });

function assertionFor(portal: TestPortal, clientId: string, key: CryptoKey, kid: string | undefined, alg = 'ES256') {
  const now = Math.floor(portal.clock.now() / 1000);
  return new jose.SignJWT({ iss: clientId, sub: clientId, aud: portal.baseUrl, iat: now, exp: now + 60, jti: crypto.randomUUID() }).setProtectedHeader(kid ? { alg, kid } : { alg }).sign(key);
}

async function tokenStatus(portal: TestPortal, assertion: string) {
  const res = await fetch(`${portal.baseUrl}/oauth/token`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'client_credentials', client_assertion_type: ASSERTION_TYPE, client_assertion: assertion }).toString(),
  });
  await res.arrayBuffer();
  return res.status;
}

test('a key removed from the JWKS is refused once JWKS_MAX_AGE_SECONDS have passed, and sooner when Cache-Control says so', async (t) => {
  const { jwks, portal, clientId, app } = await setup(t, { JWKS_MAX_AGE_SECONDS: '120' });
  const first = await jose.generateKeyPair('ES256', { extractable: true });
  const second = await jose.generateKeyPair('ES256', { extractable: true });
  jwks.state.keys = [await publicJwk(first.publicKey, 'k1'), await publicJwk(second.publicKey, 'k2')];
  assert.ok((await registerJwksUrl(portal.deps, cliActor, app, jwks.url)).ok);
  assert.equal(await tokenStatus(portal, await assertionFor(portal, clientId, first.privateKey, 'k1')), 200);

  jwks.state.keys = [await publicJwk(second.publicKey, 'k2')]; // k1 removed by the partner
  portal.clock.advance(60_000);
  assert.equal(await tokenStatus(portal, await assertionFor(portal, clientId, first.privateKey, 'k1')), 200, 'within the maximum age the cached key still works');
  portal.clock.advance(61_000);
  assert.equal(await tokenStatus(portal, await assertionFor(portal, clientId, first.privateKey, 'k1')), 401, 'past JWKS_MAX_AGE_SECONDS the JWKS is fetched again and the removed key refused');
  assert.equal(await tokenStatus(portal, await assertionFor(portal, clientId, second.privateKey, 'k2')), 200);

  // The answer's shorter max-age wins.
  jwks.state.cacheControl = 'public, max-age=15';
  const third = await jose.generateKeyPair('ES256', { extractable: true });
  jwks.state.keys = [await publicJwk(second.publicKey, 'k2'), await publicJwk(third.publicKey, 'k3')];
  portal.clock.advance(121_000);
  assert.equal(await tokenStatus(portal, await assertionFor(portal, clientId, third.privateKey, 'k3')), 200);
  jwks.state.keys = [await publicJwk(third.publicKey, 'k3')]; // k2 removed
  portal.clock.advance(16_000);
  assert.equal(await tokenStatus(portal, await assertionFor(portal, clientId, second.privateKey, 'k2')), 401, 'refused after the 15 s the JWKS asked for');
});

test('40 assertions with unknown kids at once make one fetch of the JWKS, and none more within the minute', async (t) => {
  const { jwks, portal, clientId, app } = await setup(t, { TOKEN_FAILURES_PER_MINUTE: '1000' });
  const known = await jose.generateKeyPair('ES256', { extractable: true });
  jwks.state.keys = [await publicJwk(known.publicKey, 'k1')];
  assert.ok((await registerJwksUrl(portal.deps, cliActor, app, jwks.url)).ok);
  assert.equal(await tokenStatus(portal, await assertionFor(portal, clientId, known.privateKey, 'k1')), 200);
  portal.clock.advance(61_000); // the fetch for k1 is a minute old: an unknown kid may refetch
  const before = jwks.state.fetches;
  const stranger = await jose.generateKeyPair('ES256', { extractable: true });
  const burst = async () => Promise.all(Array.from({ length: 40 }, async (_, i) => tokenStatus(portal, await assertionFor(portal, clientId, stranger.privateKey, `made-up-${i}-${crypto.randomUUID()}`))));
  assert.deepEqual(new Set(await burst()), new Set([401]));
  assert.equal(jwks.state.fetches - before, 1, 'one fetch in flight, shared by all 40');
  portal.clock.advance(30_000);
  assert.deepEqual(new Set(await burst()), new Set([401]));
  assert.equal(jwks.state.fetches - before, 1, 'no refetch for unknown kids within the minute');
  portal.clock.advance(31_000);
  await burst();
  assert.equal(jwks.state.fetches - before, 2, 'after a minute, one more');
  assert.equal(await tokenStatus(portal, await assertionFor(portal, clientId, known.privateKey, 'k1')), 200, 'the real key still works throughout');
});

// An RSA public JWK with a chosen modulus size and exponent (a public key needs no primes).
function rsaJwk(bits: number, e: bigint): string {
  const n = crypto.randomBytes(bits / 8);
  n[0]! |= 0x80;
  n[n.length - 1]! |= 1;
  const eBytes = Buffer.from(e.toString(16).padStart(e.toString(16).length + (e.toString(16).length % 2), '0'), 'hex');
  return JSON.stringify({ kty: 'RSA', n: n.toString('base64url'), e: eBytes.toString('base64url') });
}

test('RSA keys: 2048 to 4096 bits with e = 65537 only; at most ten keys per application, counting the JWKS URL’s', async (t) => {
  const now = Date.now();
  const bigExponent = (1n << 3059n) + 1n; // the ~3,060-bit exponent of the finding
  assert.match((parsePublicKeyUpload(rsaJwk(3072, bigExponent), now) as { message: string }).message, /exponent is not 65537/);
  assert.match((parsePublicKeyUpload(rsaJwk(2048, 3n), now) as { message: string }).message, /exponent is not 65537/);
  assert.match((parsePublicKeyUpload(rsaJwk(4200, 65537n), now) as { message: string }).message, /4200 bits; at most 4096/);
  assert.ok(parsePublicKeyUpload(rsaJwk(4096, 65537n), now).ok);
  assert.ok(parsePublicKeyUpload(rsaJwk(2048, 65537n), now).ok);

  const { jwks, portal, app } = await setup(t);
  const expires = new Date(portal.clock.now() + 30 * 86_400_000).toISOString().slice(0, 10);
  const ecKey = () => JSON.stringify(crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ format: 'jwk' }));
  for (let i = 0; i < 4; i++) assert.ok(addPublicKey(portal.deps, cliActor, app, { name: `Key ${i}`, key: ecKey(), expires }).ok);
  // A JWKS of seven keys would make eleven.
  jwks.state.keys = await Promise.all(Array.from({ length: 7 }, async (_, i) => publicJwk((await jose.generateKeyPair('ES256', { extractable: true })).publicKey, `r${i}`)));
  const tooMany = await registerJwksUrl(portal.deps, cliActor, app, jwks.url);
  assert.equal(tooMany.ok, false);
  assert.match(!tooMany.ok ? tooMany.errors.jwks_url! : '', /7 signing keys and this application has 4 uploaded; an application may have at most 10/);
  jwks.state.keys = jwks.state.keys.slice(0, 6);
  assert.ok((await registerJwksUrl(portal.deps, cliActor, app, jwks.url)).ok, 'four uploaded and six published make ten');
  const eleventh = addPublicKey(portal.deps, cliActor, app, { name: 'Key 11', key: ecKey(), expires });
  assert.equal(eleventh.ok, false);
  assert.match(!eleventh.ok ? eleventh.errors.key! : '', /already has 10 keys \(6 of them at its JWKS URL\)/);
  // A JWKS of eleven keys is refused on its own.
  const other = findApplicationByClientId(portal.deps.db, makeApplication(portal, app.organisationId, 'Partner-NL-HospitalA-SMC', ['SMC']))!;
  jwks.state.keys = await Promise.all(Array.from({ length: 11 }, async (_, i) => publicJwk((await jose.generateKeyPair('ES256', { extractable: true })).publicKey, `s${i}`)));
  const eleven = await registerJwksUrl(portal.deps, cliActor, other, jwks.url);
  assert.match(!eleven.ok ? eleven.errors.jwks_url! : '', /11 signing keys; an application may have at most 10/);
});
