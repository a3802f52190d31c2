import { test } from 'node:test';
import assert from 'node:assert/strict';
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
});

test('an organisation can be renamed; an empty name is refused beside the field', async (t) => {
  const portal = await startPortal(t);
  const admin = await createAdmin(portal);
  const c = await signIn(portal, admin);
  const org = makeOrganisation(portal, 'Old Name');
  await c.get(`/admin/organisations/${org}`);
  const bad = await c.post(`/admin/organisations/${org}/rename`, { name: ' ' });
  assert.equal(bad.status, 422);
  assert.match(bad.text, /id="org-rename-error"/);
  const ok = await c.post(`/admin/organisations/${org}/rename`, { name: 'New Name' });
  assert.equal(ok.status, 303);
  const list = await c.get('/admin');
  assert.match(list.text, />New Name</);
  assert.doesNotMatch(list.text, />Old Name</);
});
