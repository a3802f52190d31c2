// Roll with a grace period (issue 28, point 6) on the page (htmx and without JavaScript) and
// from the command line; list-credentials with usage and "safe to delete" (point 7). Real
// token requests, a real SMTP server for the co-manager's notice.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startPortal, type TestPortal } from '../helpers/portal.ts';
import { signIn, createUser } from '../helpers/accounts.ts';
import { buildWorld } from '../helpers/fixtures.ts';
import { decodeHtml } from '../helpers/http.ts';
import { startSmtp, header, readable } from '../helpers/smtp.ts';
import { cliInProcess } from '../helpers/cli.ts';
import { secretFor, takeOver, tokenFrom } from '../helpers/token-from.ts';
import { addDays, dateInZone, formatDate } from '../../server/lib/dates.ts';

const HX = { 'HX-Request': 'true' };
const PAGE = '/manage-api-credentials';
const base = (clientId: string) => `${PAGE}/applications/${clientId}`;
const DAY = 86_400_000;
const expiresOn = (portal: TestPortal, id: string) => (portal.deps.db.$client.prepare('select expires_on from client_secrets where id = ?').get(id) as { expires_on: string }).expires_on;
const today = (portal: TestPortal) => dateInZone(portal.clock.now(), 'UTC');

test('Roll on the page: the new secret shown once (no-store), the old one expires after the grace period, the co-manager is told; bad grace next to the field', async (t) => {
  const smtp = await startSmtp(t);
  const portal = await startPortal(t, { SMTP_URL: smtp.url, PORTAL_TIMEZONE: 'UTC' }, '2026-11-10T10:00:00Z');
  const world = await buildWorld(portal);
  await createUser(portal, world.orgA, 'co@hospital-a.example', [world.appA1]);
  const old = secretFor(portal, world.appA1, 'Old');
  const a1 = await signIn(portal, world.managerA1);
  const page = decodeHtml((await a1.get(PAGE)).text);
  assert.match(page, new RegExp(`href="${base(world.appA1)}/secrets/${old.id}/roll" data-opens-dialog aria-label="Roll secret Old">Roll</a>`));

  const dialog = await a1.get(`${base(world.appA1)}/secrets/${old.id}/roll`, HX);
  assert.equal(dialog.headers.get('cache-control'), 'no-store');
  assert.match(dialog.text, /<input id="grace-days" name="grace_days" type="number" value="7" required min="1" max="30"/);
  const bad = await a1.post(`${base(world.appA1)}/secrets/${old.id}/roll`, { grace_days: '31' }, { ...HX, 'HX-Target': 'dialog-content' });
  assert.equal(bad.status, 422);
  assert.match(bad.text, /<p class="field-error" id="grace-days-error">Enter a whole number of days from 1 to 30\.<\/p>/);

  const rolled = await a1.post(`${base(world.appA1)}/secrets/${old.id}/roll`, { grace_days: '3' }, { ...HX, 'HX-Target': 'dialog-content' });
  assert.equal(rolled.status, 201);
  assert.equal(rolled.headers.get('cache-control'), 'no-store');
  const secret = /<code id="new-secret"[^>]*>([0-9A-Za-z]{44})<\/code>/.exec(rolled.text)?.[1];
  assert.ok(secret, 'the new secret is shown');
  assert.match(decodeHtml(rolled.text), /The old secret “Old” keeps working until 13 Nov 2026, then expires\./);
  assert.equal(expiresOn(portal, old.id), addDays(today(portal), 3));
  // Both work during the grace period; afterwards only the new one.
  assert.equal((await tokenFrom(portal, '127.0.0.2', world.appA1, secret, 'curl/8.5.0')).status, 200);
  assert.equal((await tokenFrom(portal, '127.0.0.2', world.appA1, old.secret, 'curl/8.5.0')).status, 200);
  portal.clock.advance(4 * DAY);
  const after = await tokenFrom(portal, '127.0.0.2', world.appA1, old.secret, 'curl/8.5.0');
  assert.equal(after.body.error_description, 'Client authentication failed: this client secret expired on 13 Nov 2026.');
  assert.equal((await tokenFrom(portal, '127.0.0.2', world.appA1, secret, 'curl/8.5.0')).status, 200);

  await portal.deps.mailer.idle();
  const told = smtp.messages.filter((m) => /rolled/.test(readable(header(m.raw, 'Subject') ?? '')));
  assert.equal(told.length, 1, 'the co-manager is told, not the one who rolled');
  assert.deepEqual(told[0]!.to, ['co@hospital-a.example']);
  assert.match(readable(told[0]!.raw), /keeps working until 13 Nov 2026/);
});

test('Roll without JavaScript: Post/Redirect/Get to the page that shows the new secret once', async (t) => {
  const portal = await startPortal(t, { PORTAL_TIMEZONE: 'UTC' }, '2026-11-10T10:00:00Z');
  const world = await buildWorld(portal);
  const old = secretFor(portal, world.appA1, 'Old', 2);
  const a1 = await signIn(portal, world.managerA1);
  const form = await a1.get(`${base(world.appA1)}/secrets/${old.id}/roll`);
  assert.match(form.text, /Grace period \(days\)/);
  const posted = await a1.post(`${base(world.appA1)}/secrets/${old.id}/roll`, { grace_days: '30' });
  assert.equal(posted.status, 303);
  const shown = await a1.get(posted.location!);
  assert.equal(shown.headers.get('cache-control'), 'no-store');
  assert.match(shown.text, /<code id="new-secret"[^>]*>[0-9A-Za-z]{44}<\/code>/);
  assert.doesNotMatch((await a1.get(posted.location!)).text, /id="new-secret"/, 'only once');
  // Never past the old secret's own expiry.
  assert.equal(expiresOn(portal, old.id), addDays(today(portal), 2));
});

test('roll-secret and list-credentials on the command line', async (t) => {
  // The command line runs on the real clock: the portal's starts ten days before it.
  const portal = await startPortal(t, { PORTAL_TIMEZONE: 'UTC' }, Date.now() - 10 * DAY);
  const world = await buildWorld(portal);
  const { old } = await takeOver(portal, world.appA1);
  const env = { DATA_DIR: portal.dataDir, BASE_URL: portal.baseUrl, PORTAL_TIMEZONE: 'UTC' };

  const listed = await cliInProcess(['list-credentials', '--client-id', world.appA1, '--json'], env);
  assert.equal(listed.code, 0, listed.stderr);
  const rows = JSON.parse(listed.stdout) as Array<Record<string, unknown>>;
  const row = (name: string) => rows.find((r) => r.name === name)!;
  assert.deepEqual([row('Old').kind, row('Old').lastAddress, row('Old').lastClient, row('Old').requests30d, row('Old').status], ['secret', '127.0.0.2', 'python-requests/2.31', 2, 'Active, safe to delete']);
  assert.deepEqual([row('Secret by VM 2026').requests30d, row('Secret by VM 2026').status], [4, 'Active']);
  const tsv = await cliInProcess(['list-credentials', '--client-id', world.appA1], env);
  assert.match(tsv.stdout, /^secret\tOld\t/m);

  const bad = await cliInProcess(['roll-secret', '--client-id', world.appA1, '--name', 'Old', '--grace-days', '0'], env);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /--grace-days: Enter a whole number of days from 1 to 30\./);
  const unknown = await cliInProcess(['roll-secret', '--client-id', world.appA1, '--name', 'Nope'], env);
  assert.equal(unknown.code, 2);
  assert.match(unknown.stderr, /--name: the application has no secret named "Nope"/);

  const rolled = await cliInProcess(['roll-secret', '--client-id', world.appA1, '--name', 'old', '--grace-days', '2'], env);
  assert.equal(rolled.code, 0, rolled.stderr);
  assert.match(rolled.stdout, /^[0-9A-Za-z]{44}$/);
  const realToday = dateInZone(Date.now(), 'UTC');
  assert.equal(expiresOn(portal, old.id), addDays(realToday, 2));
  assert.equal((await tokenFrom(portal, '127.0.0.5', world.appA1, rolled.stdout, 'curl/8.5.0')).status, 200);
  const names = (JSON.parse((await cliInProcess(['list-credentials', '--client-id', world.appA1, '--json'], env)).stdout) as Array<{ name: string }>).map((r) => r.name);
  assert.ok(names.includes(`Old (rolled ${formatDate(realToday)})`), names.join(', '));

  const deleted = await cliInProcess(['delete-secret', '--client-id', world.appA1, '--name', 'Old'], env);
  assert.equal(deleted.code, 0, deleted.stderr);
  assert.equal((await tokenFrom(portal, '127.0.0.2', world.appA1, old.secret, 'curl/8.5.0')).status, 401);
});
