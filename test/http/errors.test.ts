import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { startPortal } from '../helpers/portal.ts';
import { createAdmin, createUser, signIn } from '../helpers/accounts.ts';
import { makeApplication, makeOrganisation } from '../helpers/fixtures.ts';

test('a database error without NODE_ENV: a generic page with a reference, the error logged with it, no stack trace', async (t) => {
  const portal = await startPortal(t);
  const org = makeOrganisation(portal, 'A');
  const app = makeApplication(portal, org, 'Partner-NL-A-DM');
  const manager = await createUser(portal, org, 'm@a.example', [app]);
  const c = await signIn(portal, manager);
  portal.deps.db.$client.exec('drop table application_apis');
  const page = await c.get('/manage-api-credentials');
  assert.equal(page.status, 500);
  assert.match(page.text, /Something went wrong on our side/);
  const ref = /Reference: <code>([0-9a-f]{8})<\/code>/.exec(page.text);
  assert.ok(ref, 'the page gives a reference');
  assert.doesNotMatch(page.text, /SqliteError|at \w+ \(|node_modules/, 'no stack trace, no internals');
  const logged = portal.logs.find((l) => l.includes('unhandled error'));
  assert.ok(logged?.includes(ref![1]!), 'the error is logged with the same request id');
  assert.match(logged!, /no such table: application_apis/);
  const fragment = await c.get('/manage-api-credentials', { 'HX-Request': 'true' });
  assert.equal(fragment.status, 500);
  assert.equal(fragment.headers.get('hx-retarget'), '#flash', 'htmx gets a fragment for its alert region');
  assert.doesNotMatch(fragment.text, /<html/);
  // JSON: the reference the description mentions is in the body and the log.
  const json = await c.get('/manage-api-credentials', { Accept: 'application/json' });
  assert.equal(json.status, 500);
  const body = JSON.parse(json.text) as { error: string; error_description: string; request_id: string };
  assert.equal(body.error, 'server_error');
  assert.match(body.request_id, /^[0-9a-f]{8}$/);
  assert.ok(body.error_description.includes(body.request_id), 'the description names the reference');
  assert.equal(json.headers.get('x-request-id'), body.request_id);
  assert.ok(portal.logs.some((l) => l.includes('unhandled error') && l.includes(body.request_id)));
});

test('Origin is compared with BASE_URL only: an Origin matching a forged Host header is refused', async (t) => {
  const portal = await startPortal(t);
  const admin = await createAdmin(portal);
  const c = await signIn(portal, admin);
  await c.get('/admin');
  // node:http, so the forged Host header is really sent.
  const forged = await new Promise<number>((resolve, reject) => {
    const body = new URLSearchParams({ _csrf: c.csrf }).toString();
    const req = http.request(`${portal.baseUrl}/logout`, {
      method: 'POST',
      headers: { Host: 'evil.example', Origin: 'http://evil.example', Cookie: c.cookieHeader, 'Content-Type': 'application/x-www-form-urlencoded' },
    }, (res) => {
      res.resume();
      resolve(res.statusCode!);
    });
    req.on('error', reject);
    req.end(body);
  });
  assert.equal(forged, 403, 'Origin equal to the Host header but not to BASE_URL');
  assert.equal((await c.get('/admin')).status, 200, 'still signed in');
  assert.equal((await c.post('/logout', {}, { Origin: portal.baseUrl })).status, 303, "BASE_URL's origin is accepted");
});

test('each router is entered only under its own paths, matched as Express matches them: any letter case, a trailing slash', async (t) => {
  const portal = await startPortal(t);
  const org = makeOrganisation(portal, 'A');
  const app = makeApplication(portal, org, 'Partner-NL-A-DM');
  const manager = await createUser(portal, org, 'm@a.example', [app]);
  const anonymous = await fetch(`${portal.baseUrl}/LOGIN/`, { redirect: 'manual' });
  assert.equal(anonymous.status, 200, 'the sign-in page in capitals, with a trailing slash');
  assert.equal((await fetch(`${portal.baseUrl}/loginx`, { redirect: 'manual' })).status, 404, 'a path that only starts like a prefix');
  assert.equal((await fetch(`${portal.baseUrl}/manage-clients`, { redirect: 'manual' })).status, 301, 'the old address still redirects');
  const c = await signIn(portal, manager);
  for (const path of ['/Manage-API-Credentials', '/manage-api-credentials/', '/account', '/password/forgot']) {
    const page = await c.get(path);
    assert.equal(page.status, 200, path);
  }
  assert.equal((await c.get(`/manage-api-credentials/applications/${app}`)).status, 200);
  assert.equal((await c.get('/manage-api-credentialsx')).status, 404);
  // An administrator's console, and a manager kept out of it, as before.
  assert.notEqual((await c.get('/admin/secrets')).status, 200);
  const admin = await signIn(portal, await createAdmin(portal, 'it@association.example'));
  for (const path of ['/ADMIN', '/admin/', '/Admin/Secrets', '/admin/audit/']) assert.equal((await admin.get(path)).status, 200, path);
});
