// Issue 29: a federated credential's exchange against an OpenID issuer on loopback (the
// sandbox accepts http on loopback; production only https on public addresses): the
// discovery document and JWKS served for real, tokens minted as GitHub Actions would.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as jose from 'jose';
import { startPortal, type TestPortal } from '../helpers/portal.ts';
import { exchange as exchangeAt, loopbackIssuer, SUBJECT } from '../helpers/issuer.ts';
import { makeApplication, makeOrganisation } from '../helpers/fixtures.ts';
import { cliActor } from '../../server/audit/audit.ts';
import { findApplicationByClientId } from '../../server/admin/applications.ts';
import { addFederatedCredential, deleteFederatedCredential } from '../../server/credentials/federated.ts';
import { ASSERTION_TYPE } from '../../server/oauth/client-assertion.ts';

// An OpenID issuer on loopback: its discovery document and JWKS, counting what it is asked.
const issuer = loopbackIssuer;

const exchange = (portal: TestPortal, clientId: string, token: string) => exchangeAt(portal.baseUrl, clientId, token);

test('a trusted outside token gets our token, as often as it likes within its life; every claim that does not fit is named once the signature holds', async (t) => {
  const gh = await issuer(t);
  const portal = await startPortal(t, { PORTAL_ENV: 'sandbox' }, Date.now());
  const org = makeOrganisation(portal, 'Hospital A');
  const clientId = makeApplication(portal, org, 'Partner-NL-HospitalA-DM', ['DM']);
  const app = findApplicationByClientId(portal.deps.db, clientId)!;
  const added = await addFederatedCredential(portal.deps, cliActor, app, { name: 'registry-sync on main', issuer: gh.url, subject: SUBJECT });
  assert.ok(added.ok, JSON.stringify(!added.ok && added.errors));
  assert.equal(added.value.row.audience, portal.baseUrl, 'the audience defaults to the portal (BASE_URL)');
  assert.equal(added.value.keys, 1);

  const token = await gh.mint({ aud: portal.baseUrl });
  const first = await exchange(portal, clientId, token);
  assert.equal(first.status, 200, JSON.stringify(first.body));
  const jwks = jose.createRemoteJWKSet(new URL(`${portal.baseUrl}/.well-known/jwks.json`));
  const { payload } = await jose.jwtVerify(first.body.access_token!, jwks, { issuer: portal.baseUrl });
  assert.equal(payload.sub, clientId);
  assert.equal(payload.secret_id, added.value.row.id);
  assert.equal((await exchange(portal, clientId, token)).status, 200, 'the same outside token again (GitHub mints one per job)');
  assert.equal(gh.asked.jwks, 2, 'fetched once when added and once by the token endpoint, then cached');

  const named = async (claims: Record<string, unknown>, rule: RegExp, now?: number) => {
    const r = await exchange(portal, clientId, await gh.mint(claims, undefined, now));
    assert.equal(r.status, 401, JSON.stringify(r.body));
    assert.equal(r.body.error, 'invalid_client');
    assert.match(r.body.error_description ?? '', rule);
  };
  await named({ aud: portal.baseUrl, sub: 'repo:acme/registry-sync:ref:refs/heads/feature' }, /subject \(sub\) "repo:acme\/registry-sync:ref:refs\/heads\/feature" matches no federated credential/);
  await named({ aud: 'https://other.example' }, /audience \(aud\) must be "http:\/\/127\.0\.0\.1:\d+"/);
  const s = Math.floor(Date.now() / 1000);
  await named({ aud: portal.baseUrl, iat: s - 600, nbf: s - 600, exp: s - 120 }, /the token has expired \(exp\)/);
  await named({ aud: portal.baseUrl, exp: s + 7200 }, /lives more than 60 minutes/);

  // Before the signature holds: the generic answer.
  const stranger = await jose.generateKeyPair('RS256');
  const forgedToken = await gh.mint({ aud: portal.baseUrl }, stranger.privateKey);
  const checks = () => portal.signatures.counts.thread + portal.signatures.counts.inline;
  const checksBefore = checks();
  const forged = await exchange(portal, clientId, forgedToken);
  assert.equal(forged.status, 401);
  assert.equal(forged.body.error_description, 'Client authentication failed.');
  for (let i = 0; i < 5; i++) assert.equal((await exchange(portal, clientId, forgedToken)).status, 401);
  assert.equal(checks() - checksBefore, 1, 'a failed token sent again is refused without another check');
  const otherApp = makeApplication(portal, org, 'Partner-NL-HospitalA-SMC', ['SMC']);
  const untrusted = await exchange(portal, otherApp, token);
  assert.equal(untrusted.status, 401);
  assert.equal(untrusted.body.error_description, 'Client authentication failed.', 'an application that does not trust this issuer');

  // Introspection: active while the credential lives, inactive once it is deleted; the
  // outside token is refused from the next request.
  const introspect = async () => {
    const r = await fetch(`${portal.baseUrl}/oauth/introspect`, { method: 'POST', headers: { 'Content-Type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ client_id: clientId, client_assertion_type: ASSERTION_TYPE, client_assertion: await gh.mint({ aud: portal.baseUrl }), token: first.body.access_token! }).toString() });
    return (await r.json()) as { active: boolean };
  };
  assert.equal((await introspect()).active, true);
  assert.ok(deleteFederatedCredential(portal.deps, cliActor, app, { name: 'REGISTRY-SYNC ON MAIN' }));
  assert.equal((await exchange(portal, clientId, token)).status, 401);
});

test('where issuers may live: production refuses an http or loopback issuer with the reason, the sandbox accepts loopback; bad fields refused, nothing stored', async (t) => {
  const gh = await issuer(t);
  const production = await startPortal(t, { PORTAL_ENV: 'production' });
  const org = makeOrganisation(production, 'Hospital A');
  const app = findApplicationByClientId(production.deps.db, makeApplication(production, org, 'Partner-NL-HospitalA-DM', ['DM']))!;
  const http1 = await addFederatedCredential(production.deps, cliActor, app, { name: 'x', issuer: gh.url, subject: SUBJECT });
  assert.ok(!http1.ok);
  assert.match(http1.errors.issuer ?? '', /must start with https:\/\//);
  const local = await addFederatedCredential(production.deps, cliActor, app, { name: 'x', issuer: gh.url.replace('http:', 'https:'), subject: SUBJECT });
  assert.ok(!local.ok);
  assert.match(local.errors.issuer ?? '', /private or local address \(127\.0\.0\.1, loopback\)/);
  assert.equal(gh.asked.discovery, 0, 'no connection was made');
  const blank = await addFederatedCredential(production.deps, cliActor, app, { name: '', issuer: 'not a url', subject: '' });
  assert.ok(!blank.ok);
  assert.deepEqual(Object.keys(blank.errors).sort(), ['issuer', 'name', 'subject']);
  assert.equal((production.deps.db.$client.prepare('select count(*) as n from federated_credentials').get() as { n: number }).n, 0);
});
