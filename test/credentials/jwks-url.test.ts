// A JWKS URL instead of uploaded keys: a token with a key published there (and a key
// rotated in later), and every bad URL refused with a plain message, nothing stored.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import * as jose from 'jose';
import { serveOnLoopback } from '../helpers/loopback.ts';
import { startPortal } from '../helpers/portal.ts';
import { makeApplication, makeOrganisation } from '../helpers/fixtures.ts';
import { cliActor } from '../../server/audit/audit.ts';
import { findApplicationByClientId } from '../../server/admin/applications.ts';
import { fetchJwks, registerJwksUrl } from '../../server/credentials/jwks-url.ts';

const serve = serveOnLoopback;

test('a key published at the JWKS URL gets a token; a key rotated in later is fetched on its unknown kid', async (t) => {
  let published: object[] = [];
  const jwksBase = await serve(t, (_req, res) => {
    res.writeHead(200, { 'Content-Type': 'application/json' });
    res.end(JSON.stringify({ keys: published }));
  });
  const portal = await startPortal(t, { PORTAL_ENV: 'sandbox' });
  const org = makeOrganisation(portal, 'Hospital A');
  const clientId = makeApplication(portal, org, 'Partner-NL-HospitalA-DM', ['DM']);
  const app = findApplicationByClientId(portal.deps.db, clientId)!;
  const first = await jose.generateKeyPair('ES256', { extractable: true });
  published = [{ ...(await jose.exportJWK(first.publicKey)), kid: 'k1', use: 'sig' }];
  const registered = await registerJwksUrl(portal.deps, cliActor, app, `${jwksBase}/jwks.json`);
  assert.deepEqual(registered, { ok: true, value: { keys: 1 } });

  const assertion = (key: CryptoKey, kid: string) => {
    const now = Math.floor(portal.clock.now() / 1000);
    return new jose.SignJWT({ iss: clientId, sub: clientId, aud: portal.baseUrl, iat: now, exp: now + 60, jti: crypto.randomUUID() }).setProtectedHeader({ alg: 'ES256', kid }).sign(key);
  };
  const token = async (a: string) =>
    (await fetch(`${portal.baseUrl}/oauth/token`, { method: 'POST', headers: { 'Content-Type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ grant_type: 'client_credentials', client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer', client_assertion: a }).toString() })).status;
  assert.equal(await token(await assertion(first.privateKey, 'k1')), 200);
  const second = await jose.generateKeyPair('ES256', { extractable: true });
  published = [...published, { ...(await jose.exportJWK(second.publicKey)), kid: 'k2' }];
  assert.equal(await token(await assertion(second.privateKey, 'k2')), 401, 'within the minute the JWKS is not fetched again');
  portal.clock.advance(61_000);
  assert.equal(await token(await assertion(second.privateKey, 'k2')), 200, 'after it, an unknown kid refetches the JWKS');
  const stranger = await jose.generateKeyPair('ES256', { extractable: true });
  assert.equal(await token(await assertion(stranger.privateKey, 'k3')), 401, 'a key not published is refused (and the JWKS is not refetched within the minute)');
});

test('bad JWKS URLs: hangs, redirects, junk, private keys, http and private addresses outside the sandbox — a message each, nothing stored', async (t) => {
  const hang = await serve(t, () => {});
  const redirect = await serve(t, (_req, res) => {
    res.writeHead(302, { Location: 'http://169.254.169.254/latest/meta-data/' });
    res.end();
  });
  const junk = await serve(t, (_req, res) => res.end('<html>not json</html>'));
  const empty = await serve(t, (_req, res) => res.end('{"keys":[]}'));
  const { privateKey } = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const secretKeys = await serve(t, (_req, res) => res.end(JSON.stringify({ keys: [privateKey.export({ format: 'jwk' })] })));
  const huge = await serve(t, (_req, res) => res.end(JSON.stringify({ keys: [], pad: 'x'.repeat(200_000) })));
  const started = Date.now();
  const cases: Array<[string, string, boolean, RegExp]> = [
    ['hangs (a 0.3-second deadline here; 5 seconds in use)', `${hang}/jwks`, true, /did not answer within 0.3 seconds/],
    ['redirects', `${redirect}/jwks`, true, /redirects elsewhere/],
    ['junk', `${junk}/jwks`, true, /did not return JSON/],
    ['no keys', `${empty}/jwks`, true, /has no keys/],
    ['a private key', `${secretKeys}/jwks`, true, /holds a private key/],
    ['too large', `${huge}/jwks`, true, /too large/],
    ['http outside the sandbox', 'http://keys.example.org/jwks', false, /must start with https/],
    ['a private address outside the sandbox', 'https://127.0.0.1/jwks', false, /private or local address/],
    ['link-local outside the sandbox', 'https://169.254.169.254/latest', false, /private or local address/],
    ['IPv4-mapped loopback outside the sandbox', `https://[::ffff:127.0.0.1]:${new URL(junk).port}/jwks`, false, /private or local address \(::ffff:7f00:1, loopback\)/],
    ['IPv4-mapped metadata address outside the sandbox', 'https://[::ffff:a9fe:a9fe]/latest', false, /private or local address/],
    ['a name resolving to loopback outside the sandbox', `https://localhost:${new URL(junk).port}/jwks`, false, /private or local address/],
    ['not a URL', 'keys please', true, /absolute https/],
  ];
  for (const [label, url, sandbox, message] of cases) {
    const r = await fetchJwks(url, sandbox, 300);
    assert.ok(!r.ok && message.test(r.message), `${label}: ${r.ok ? 'accepted' : r.message}`);
  }
  assert.ok(Date.now() - started < 12_000, 'bounded by the timeout');
  const portal = await startPortal(t, { PORTAL_ENV: 'sandbox' });
  const org = makeOrganisation(portal, 'A');
  const app = findApplicationByClientId(portal.deps.db, makeApplication(portal, org, 'Partner-NL-A-DM'))!;
  const refused = await registerJwksUrl(portal.deps, cliActor, app, `${junk}/jwks`);
  assert.ok(!refused.ok);
  assert.equal((portal.deps.db.$client.prepare('select count(*) as n from client_jwks_urls').get() as { n: number }).n, 0, 'nothing stored');
});
