// Issue 26, point 10: the JWKS URL section says what it found. The keys fetched (kid, type,
// thumbprint), when, and the last error (the token endpoint's fetches too); a refused URL
// re-rendered in place (422) with its error at the field and the URL as typed, with and
// without JavaScript.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import * as jose from 'jose';
import { serveOnLoopback } from '../helpers/loopback.ts';
import { startPortal } from '../helpers/portal.ts';
import { makeApplication, makeOrganisation } from '../helpers/fixtures.ts';
import { createUser, signIn } from '../helpers/accounts.ts';
import { decodeHtml } from '../helpers/http.ts';
import { jwkThumbprint } from '../../server/credentials/public-keys.ts';

const serve = serveOnLoopback;

// The JWKS URL section of the page, as text (up to its Remove button).
const section = (html: string, clientId: string) => {
  const start = html.indexOf(`id="jwks-url-section-${clientId}"`);
  assert.ok(start > 0, 'the JWKS URL section is on the page');
  const end = html.indexOf('Remove the JWKS URL', start);
  return decodeHtml(html.slice(start, end > 0 ? end : start + 3000).replace(/<[^>]+>/g, '').replace(/\s+/g, ' '));
};

test('the JWKS URL section: a refused URL comes back at the field as typed (422, htmx and plain); a registered one lists its keys, when it was fetched, and the last failed fetch of the token endpoint', async (t) => {
  let failing = false;
  const key = await jose.generateKeyPair('ES256', { extractable: true });
  const jwk = { ...(await jose.exportJWK(key.publicKey)), kid: 'partner-2026', use: 'sig' };
  const jwksBase = await serve(t, (req, res) => {
    if (req.url === '/missing' || failing) return void res.writeHead(500).end();
    res.writeHead(200, { 'Content-Type': 'application/json' });
    res.end(JSON.stringify({ keys: [jwk] }));
  });
  const portal = await startPortal(t, { PORTAL_ENV: 'sandbox', JWKS_MAX_AGE_SECONDS: '60' });
  const org = makeOrganisation(portal, 'Hospital A');
  const clientId = makeApplication(portal, org, 'Partner-NL-HospitalA-DM', ['DM']);
  const c = await signIn(portal, await createUser(portal, org, 'm@hospital-a.example', [clientId]));
  const page = () => c.get('/manage-api-credentials').then((r) => r.text);
  await page();
  const form = `/manage-api-credentials/applications/${clientId}/jwks-url`;

  const refused = await c.post(form, { jwks_url: `${jwksBase}/missing` }, { 'HX-Request': 'true', 'HX-Target': `jwks-url-section-${clientId}` });
  assert.equal(refused.status, 422);
  assert.match(refused.text, new RegExp(`value="${jwksBase}/missing"`), 'the URL as typed');
  assert.match(refused.text, /class="field-error"[^>]*>The JWKS URL answered HTTP 500\./);
  assert.match(refused.text, /aria-invalid="true"/);
  assert.doesNotMatch(refused.text, /<html/, 'in place: the section alone');
  const plain = await c.post(form, { jwks_url: `${jwksBase}/missing` });
  assert.equal(plain.status, 422);
  assert.match(plain.text, /<html/);
  assert.match(plain.text, new RegExp(`value="${jwksBase}/missing"`));
  assert.match(plain.text, /The JWKS URL answered HTTP 500\./);

  const before = decodeHtml(await page());
  assert.match(before, /No certificates or public keys yet/);
  const registered = await c.post(form, { jwks_url: `${jwksBase}/jwks.json` }, { 'HX-Request': 'true' });
  assert.equal(registered.status, 204);
  const after = await page();
  assert.doesNotMatch(decodeHtml(after), /No certificates or public keys yet/);
  assert.match(decodeHtml(after), /keys of Partner-NL-HospitalA-DM come from its JWKS URL/);
  const shown = section(after, clientId);
  assert.match(shown, /Last fetched just now: 1 signing key\./);
  assert.ok(shown.includes('partner-2026') && shown.includes('EC P-256') && shown.includes(jwkThumbprint(jwk as crypto.JsonWebKey)), shown);
  assert.doesNotMatch(shown, /last fetch failed/);

  // The token endpoint fetches again once the keys are older than JWKS_MAX_AGE_SECONDS; that
  // fetch fails, and the page says so.
  const assertion = () => {
    const now = Math.floor(portal.clock.now() / 1000);
    return new jose.SignJWT({ iss: clientId, sub: clientId, aud: portal.baseUrl, iat: now, exp: now + 60, jti: crypto.randomUUID() }).setProtectedHeader({ alg: 'ES256', kid: 'partner-2026' }).sign(key.privateKey);
  };
  const token = async () =>
    (await fetch(`${portal.baseUrl}/oauth/token`, { method: 'POST', headers: { 'Content-Type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ grant_type: 'client_credentials', client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer', client_assertion: await assertion() }).toString() })).status;
  assert.equal(await token(), 200);
  failing = true;
  portal.clock.advance(61_000);
  assert.equal(await token(), 401, 'the keys are too old and could not be fetched again');
  portal.settle();
  assert.match(section(await page(), clientId), /The last fetch failed just now: The JWKS URL answered HTTP 500\./);
  failing = false;
  portal.clock.advance(11_000);
  assert.equal(await token(), 200);
  portal.settle();
  const recovered = section(await page(), clientId);
  assert.doesNotMatch(recovered, /last fetch failed/, 'a later success hides the error');
  assert.match(recovered, /Last fetched just now/);
});
