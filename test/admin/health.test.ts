// Integration health (issue 28, point 8): the console page built from real token requests
// (successes and refusals, from real source addresses with User-Agents) over 34 days of the
// injectable clock: refusals of the last 24 hours, credentials expiring within 7 days with
// no newer one in use, applications idle for 30 days; disabled applications left out; the
// empty states; members refused; a key (private_key_jwt) expiring until a newer secret is used.
import { test } from 'node:test';
import crypto from 'node:crypto';
import assert from 'node:assert/strict';
import { startPortal, type TestPortal } from '../helpers/portal.ts';
import { createAdmin, createUser, signIn } from '../helpers/accounts.ts';
import { makeApplication, makeOrganisation } from '../helpers/fixtures.ts';
import { secretFor, tokenFrom } from '../helpers/token-from.ts';
import { decodeHtml } from '../helpers/http.ts';
import { cliActor } from '../../server/audit/audit.ts';
import { deleteClientSecret } from '../../server/credentials/secrets.ts';
import { addPublicKey } from '../../server/credentials/public-keys.ts';
import { findApplicationByClientId, setApplicationDisabled } from '../../server/admin/applications.ts';
import { formatDateTime } from '../../server/lib/dates.ts';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

// The text of the row with this id (tags removed, spaces collapsed), or null.
function row(html: string, id: string): string | null {
  const m = new RegExp(`<tr id="${id}">([\\s\\S]*?)</tr>`).exec(html);
  return m ? decodeHtml(m[1]!.replace(/<[^>]+>/g, ' ')).replace(/\s+/g, ' ').trim() : null;
}
const rowIds = (html: string, prefix: string) => [...html.matchAll(new RegExp(`<tr id="${prefix}-([^"]+)">`, 'g'))].map((m) => m[1]!);
const appId = (portal: TestPortal, clientId: string) => findApplicationByClientId(portal.deps.db, clientId)!.id;

async function times(n: number, request: () => Promise<{ status: number }>, status: number) {
  for (let i = 0; i < n; i++) assert.equal((await request()).status, status);
}

test('integration health: refusals of the last 24 hours, expiring without a newer credential in use, idle for 30 days; disabled applications left out', async (t) => {
  const portal = await startPortal(t, {}, '2026-10-01T09:00:00Z');
  const admin = await createAdmin(portal);
  const orgA = makeOrganisation(portal, 'Hospital A');
  const orgB = makeOrganisation(portal, 'Registry B', 'BE');
  const busy = makeApplication(portal, orgA, 'Partner-NL-HospitalA-DM');
  const idleNever = makeApplication(portal, orgA, 'Partner-NL-HospitalA-SMC', ['SMC']);
  const idleUsed = makeApplication(portal, orgB, 'Partner-BE-RegistryB-DM');
  const rotated = makeApplication(portal, orgB, 'Partner-BE-RegistryB-SMC', ['SMC']);
  const disabled = makeApplication(portal, orgA, 'PartnerAlternative-NL-HospitalA-SMC', ['SMC']);
  const member = await createUser(portal, orgA, 'plain@hospital-a.example');

  // 1 Oct: the credentials, and their first uses.
  secretFor(portal, idleNever, 'Forgotten');
  const old = secretFor(portal, busy, 'Old', 40); // expires 10 Nov
  const e1 = secretFor(portal, busy, 'E1', 1); // expires 2 Oct
  const e2 = secretFor(portal, busy, 'E2', 2); // expires 3 Oct
  const gone = secretFor(portal, busy, 'Gone');
  const expiring = secretFor(portal, rotated, 'Expiring', 40);
  const unused = secretFor(portal, disabled, 'Unused', 40);
  await times(2, () => tokenFrom(portal, '127.0.0.2', busy, old.secret, 'python-requests/2.31'), 200);
  await times(1, () => tokenFrom(portal, '127.0.0.7', rotated, expiring.secret, 'curl/8.5.0'), 200);
  portal.clock.advance(HOUR);
  const once = secretFor(portal, idleUsed, 'Once');
  const usedOnce = formatDateTime(portal.clock.now(), 'UTC');
  await times(1, () => tokenFrom(portal, '127.0.0.6', idleUsed, once.secret, 'Go-http-client/1.1'), 200);
  portal.settle();

  // 3 Nov: refusals that will be more than 24 hours old; the busy application still used; the
  // rotated one's replacement in use.
  portal.clock.advance(33 * DAY);
  await times(7, () => tokenFrom(portal, '127.0.0.5', busy, 'not-a-secret', 'curl/8.5.0'), 401);
  await times(1, () => tokenFrom(portal, '127.0.0.2', busy, old.secret, 'python-requests/2.31'), 200);
  const replacement = secretFor(portal, rotated, 'Replacement');
  await times(1, () => tokenFrom(portal, '127.0.0.7', rotated, replacement.secret, 'curl/8.5.0'), 200);
  portal.settle();

  // 4 Nov, 10:00: a newer secret not used yet; refusals for four reasons, the last from
  // 127.0.0.3 with Go; the disabled application refused too.
  portal.clock.advance(DAY + HOUR);
  secretFor(portal, busy, 'New');
  deleteClientSecret(portal.deps, cliActor, findApplicationByClientId(portal.deps.db, busy)!, gone.id);
  await times(5, () => tokenFrom(portal, '127.0.0.4', busy, 'not-a-secret', 'curl/8.5.0'), 401);
  await times(3, () => tokenFrom(portal, '127.0.0.2', busy, gone.secret, 'python-requests/2.31'), 401);
  await times(2, () => tokenFrom(portal, '127.0.0.2', busy, e1.secret, 'python-requests/2.31'), 401);
  setApplicationDisabled(portal.deps.db, portal.clock, cliActor, findApplicationByClientId(portal.deps.db, disabled)!, true);
  await times(2, () => tokenFrom(portal, '127.0.0.2', disabled, unused.secret, 'python-requests/2.31'), 401);
  portal.clock.advance(60_000);
  const lastRefused = formatDateTime(portal.clock.now(), 'UTC');
  await times(1, () => tokenFrom(portal, '127.0.0.3', busy, e2.secret, 'Go-http-client/1.1'), 401);
  portal.settle();
  assert.ok((portal.deps.db.$client.prepare('select count(*) as n from token_refusals where application_id = ?').get(appId(portal, disabled)) as { n: number }).n > 0, 'the disabled application has refusals of its own');

  const c = await signIn(portal, admin);
  assert.match((await c.get('/admin')).text, /<a href="\/admin\/health">Integration health<\/a>/, 'in the console navigation');
  const page = await c.get('/admin/health');
  assert.equal(page.status, 200);
  const html = page.text;
  assert.match(html, /Disabled applications are left out/);

  // Refused: one application, the 11 refusals of the last 24 hours (not the 7 of 3 Nov), its
  // top three reasons with counts, the fourth counted, the last refusal's time, address, client.
  assert.deepEqual(rowIds(html, 'refused'), [String(appId(portal, busy))]);
  const refused = row(html, `refused-${appId(portal, busy)}`)!;
  assert.match(refused, /^Hospital A Partner-NL-HospitalA-DM Audit log of Partner-NL-HospitalA-DM 11 refusals /);
  assert.match(refused, /wrong secret \(5\) secret deleted on 4 Nov 2026[^(]*\(3\) secret expired on 2 Oct 2026 \(2\) and 1 other reason /);
  assert.match(refused, new RegExp(`${lastRefused.replace(/[()]/g, '\\$&')}, (just now|\\d+ minutes? ago) from 127\\.0\\.0\\.3 \\(Go-http-client/1\\.1\\)$`));
  assert.ok(html.includes(`href="/admin/applications/${appId(portal, busy)}"`), 'links to the application');
  assert.ok(html.includes(`href="/admin/audit?application=${appId(portal, busy)}&amp;action=token."`), 'and to its refused requests in the audit log');

  // Expiring within 7 days: Old (its newer secret not used yet); not Expiring (Replacement has
  // been used since it was created), not the disabled application's, not the expired ones.
  assert.deepEqual(rowIds(html, 'expiring'), [old.id]);
  assert.equal(row(html, `expiring-${old.id}`), `Hospital A Partner-NL-HospitalA-DM Client secret “Old” ${old.secret.slice(0, 3)}••••• 10 Nov 2026 (Expires in 6 days) Last used 1 day ago 1 newer credential, not used yet`);

  // Idle for 30 days: the application never used (idle since its secret's creation) first, then
  // the one last used on 1 Oct; not the busy or rotated ones, not the disabled one.
  assert.deepEqual(rowIds(html, 'idle'), [String(appId(portal, idleNever)), String(appId(portal, idleUsed))]);
  assert.match(row(html, `idle-${appId(portal, idleNever)}`)!, /^Hospital A Partner-NL-HospitalA-SMC 1 credential Never used Idle for 34 days$/);
  assert.equal(row(html, `idle-${appId(portal, idleUsed)}`), `Registry B Partner-BE-RegistryB-DM 1 credential Last used ${usedOnce}, 34 days ago Idle for 34 days`);
  assert.doesNotMatch(html, /PartnerAlternative-NL-HospitalA-SMC/, 'the disabled application is in none of the lists');
  assert.doesNotMatch(html, /id="(refused|expiring|idle)-none"/);

  // Members get 403.
  const m = await signIn(portal, member);
  assert.equal((await m.get('/admin/health')).status, 403);
});

test('integration health: the empty states, in plain words', async (t) => {
  const portal = await startPortal(t, {}, '2026-11-20T10:00:00Z');
  const admin = await createAdmin(portal);
  const org = makeOrganisation(portal, 'Hospital A');
  const app = makeApplication(portal, org, 'Partner-NL-HospitalA-DM');
  const old = secretFor(portal, app, 'Old', 5);
  await times(1, () => tokenFrom(portal, '127.0.0.2', app, old.secret, 'python-requests/2.31'), 200);
  await times(2, () => tokenFrom(portal, '127.0.0.4', app, 'not-a-secret', 'curl/8.5.0'), 401);
  portal.settle();
  // 25 hours on: the refusals are older than 24 hours; Old expires in 3 days but its newer
  // secret is in use; a new application's unused secret is not idle yet.
  portal.clock.advance(25 * HOUR);
  const vm = secretFor(portal, app, 'Secret by VM 2026');
  await times(1, () => tokenFrom(portal, '127.0.0.3', app, vm.secret, 'curl/8.5.0'), 200);
  secretFor(portal, makeApplication(portal, org, 'Partner-NL-HospitalA-SMC', ['SMC']), 'Not used yet');
  portal.settle();
  assert.equal((portal.deps.db.$client.prepare('select sum(count) as n from token_refusals').get() as { n: number }).n, 2, 'the refusals were recorded');

  const c = await signIn(portal, admin);
  const html = decodeHtml((await c.get('/admin/health')).text);
  assert.match(html, /<p id="refused-none">No application had a token request refused in the last 24 hours\.<\/p>/);
  assert.match(html, /<p id="expiring-none">No secret or key expires within the next 7 days without a newer credential of its application in use\.<\/p>/);
  assert.match(html, /<p id="idle-none">No application has gone 30 days without using its credentials\.<\/p>/);
  assert.doesNotMatch(html, /<table/);
});

test('integration health: a key expiring with no newer credential in use, until a newer secret is used; a key refused by an unknown key id', async (t) => {
  const jose = await import('jose');
  const http = await import('node:http');
  const portal = await startPortal(t, {}, '2026-11-20T10:00:00Z');
  const admin = await createAdmin(portal);
  const org = makeOrganisation(portal, 'Hospital A');
  const clientId = makeApplication(portal, org, 'Partner-NL-HospitalA-DM');
  const app = findApplicationByClientId(portal.deps.db, clientId)!;
  const pair = await jose.generateKeyPair('ES256', { extractable: true });
  const added = addPublicKey(portal.deps, cliActor, app, { name: 'ES key', key: await jose.exportSPKI(pair.publicKey), expires: '2026-11-25' });
  assert.ok(added.ok);
  const stranger = await jose.generateKeyPair('ES256');
  const assertion = (kid: string, key: CryptoKey) => {
    const iat = Math.floor(portal.clock.now() / 1000);
    return new jose.SignJWT({ jti: crypto.randomUUID() }).setProtectedHeader({ alg: 'ES256', kid }).setIssuer(clientId).setSubject(clientId).setAudience(`${portal.baseUrl}/oauth/token`).setIssuedAt(iat).setExpirationTime(iat + 300).sign(key);
  };
  const post = async (kid: string, key: CryptoKey) => {
    const body = new URLSearchParams({ grant_type: 'client_credentials', client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer', client_assertion: await assertion(kid, key) }).toString();
    return new Promise<{ status: number }>((resolve, reject) => {
      const headers = { 'Content-Type': 'application/x-www-form-urlencoded', 'User-Agent': 'Authlib/1.3.0 (+https://authlib.org/)' };
      const req = http.request(`${portal.baseUrl}/oauth/token`, { method: 'POST', localAddress: '127.0.0.6', headers }, (res) => {
        res.resume();
        res.on('end', () => resolve({ status: res.statusCode! }));
      });
      req.on('error', reject);
      req.end(body);
    });
  };
  await times(2, () => post(added.value.row.thumbprint, pair.privateKey), 200);
  await times(1, () => post('k7', stranger.privateKey), 401);
  portal.settle();

  const c = await signIn(portal, admin);
  let html = (await c.get('/admin/health')).text;
  const keyRow = `expiring-${added.value.row.id}`;
  assert.match(row(html, keyRow)!, new RegExp(`^Hospital A Partner-NL-HospitalA-DM Key “ES key” ${added.value.row.thumbprint} 25 Nov 2026 \\(Expires in 5 days\\) Last used (just now|\\d+ minutes? ago) No newer credential$`));
  assert.match(row(html, `refused-${app.id}`)!, /1 refusal unknown key id k7 \(1\) .* from 127\.0\.0\.6 \(Authlib\/1\.3\.0\)$/);

  // A newer secret, not used yet: counted; once used, the key is no longer at risk.
  const vm = secretFor(portal, clientId, 'Secret by VM 2026');
  html = (await c.get('/admin/health')).text;
  assert.match(row(html, keyRow)!, /1 newer credential, not used yet$/);
  await times(1, () => tokenFrom(portal, '127.0.0.3', clientId, vm.secret, 'curl/8.5.0'), 200);
  portal.settle();
  html = (await c.get('/admin/health')).text;
  assert.equal(row(html, keyRow), null);
  assert.match(html, /<p id="expiring-none">/);
});
