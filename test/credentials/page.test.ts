import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { eq } from 'drizzle-orm';
import { startPortal, type TestPortal } from '../helpers/portal.ts';
import { signIn } from '../helpers/accounts.ts';
import { buildWorld, makeApplication } from '../helpers/fixtures.ts';
import { findApplicationByClientId, assignManager } from '../../server/admin/applications.ts';
import { cliActor } from '../../server/audit/audit.ts';
import { decodeHtml, type Client } from '../helpers/http.ts';
import { applications, auditEvents, clientSecrets, users } from '../../db/schema.ts';
import { addDays, addMonths, dateInZone } from '../../server/lib/dates.ts';

const HX = { 'HX-Request': 'true' };
const PAGE = '/manage-api-credentials';
const base = (clientId: string) => `${PAGE}/applications/${clientId}`;

async function setup(t: Parameters<typeof startPortal>[0], env: Record<string, string> = {}) {
  const portal = await startPortal(t, env);
  const world = await buildWorld(portal);
  const a1 = await signIn(portal, world.managerA1);
  await a1.get(PAGE);
  return { portal, world, a1 };
}

function today(portal: TestPortal): string {
  return dateInZone(portal.clock.now(), portal.deps.config.timezone);
}

async function createSecret(c: Client, clientId: string, name: string, expires: string, headers: Record<string, string> = HX) {
  return c.post(`${base(clientId)}/secrets`, { name, expires }, headers);
}

function secretFrom(html: string): string {
  const m = /<code id="new-secret"[^>]*>([0-9A-Za-z]+)<\/code>/.exec(html);
  assert.ok(m, 'the response shows the new secret');
  return m[1]!;
}

function auditCount(portal: TestPortal, action: string): number {
  return portal.deps.db.select().from(auditEvents).where(eq(auditEvents.action, action)).all().length;
}

test('who sees what: managed applications only, with client ID, badge and APIs; others get the 403 page', async (t) => {
  const { portal, world, a1 } = await setup(t, { SUPPORT_EMAIL: 'help@registry.example' });
  const page = await a1.get(PAGE);
  assert.equal(page.status, 200);
  assert.match(page.text, /<h1>Manage API credentials<\/h1>/);
  assert.match(page.text, /Partner-NL-HospitalA-DM/);
  assert.ok(page.text.includes(world.appA1), 'client ID shown');
  assert.match(page.text, /data-copy-target="client-id-/);
  assert.doesNotMatch(page.text, /HospitalA-SMC/, "an application of the same organisation that the user does not manage is not listed");
  assert.doesNotMatch(page.text, /RegistryB/);
  assert.match(page.text, /https:\/\/api\.example\.org\/dm/, 'production resource identifier');
  assert.match(page.text, /https:\/\/sandbox\.api\.example\.org\/smc/, 'sandbox resource identifier');
  assert.match(page.text, /Create new secret/);
  assert.match(page.text, /Delete the old secret/, 'rotation guidance');

  const a2 = await signIn(portal, world.managerA2);
  const a2page = await a2.get(PAGE);
  assert.match(a2page.text, /HospitalA-SMC <span class="badge">sandbox only<\/span>/);
  assert.doesNotMatch(a2page.text, /https:\/\/api\.example\.org\/smc/, 'a sandbox-only application shows only sandbox resources');

  portal.deps.db.update(applications).set({ disabledAt: portal.clock.now() }).where(eq(applications.clientId, world.appA1)).run();
  assert.doesNotMatch((await a1.get(PAGE)).text, /Partner-NL-HospitalA-DM/, 'a disabled application does not appear');

  const plain = await signIn(portal, world.plainA);
  const denied = await plain.get(PAGE);
  assert.equal(denied.status, 403);
  assert.match(denied.text, /Only <strong>credential managers<\/strong> can use this page/);
  assert.match(denied.text, /Check within your organisation who holds the credential manager role/);
  assert.match(denied.text, /help@registry\.example/);

  const old = await a1.get('/manage-clients');
  assert.equal(old.status, 301);
  assert.equal(old.location, PAGE);
});

test('create: the secret is shown once (no-store), only its hash and hint are stored, then only the hint', async (t) => {
  const { portal, world, a1 } = await setup(t);
  const dialog = await a1.get(`${base(world.appA1)}/secrets/new`, HX);
  assert.equal(dialog.status, 200);
  assert.match(dialog.text, /^<dialog/);
  assert.match(dialog.text, /<label for="secret-name">Client secret name<\/label>/);
  assert.match(dialog.text, /<label for="secret-expires">Expiration date<\/label>/);
  assert.match(dialog.text, /Secret by VM/);
  assert.match(dialog.text, />Create<\/button>/);
  const sixMonths = addMonths(today(portal), 6);
  assert.match(dialog.text, new RegExp(`id="secret-expires" name="expires" type="date"[^>]*value="${sixMonths}"`), 'default: 6 months ahead');
  for (const label of ['3 months', '6 months', '12 months']) assert.match(dialog.text, new RegExp(`>${label}</button>`));

  const created = await createSecret(a1, world.appA1, 'Secret by VM', addDays(today(portal), 90));
  assert.equal(created.status, 201);
  assert.equal(created.headers.get('cache-control'), 'no-store');
  assert.match(created.text, /will not be shown again/);
  assert.match(created.text, /data-copy-target="new-secret"/);
  const secret = secretFrom(created.text);
  assert.match(secret, /^[0-9A-Za-z]{44}$/, '44 base62 characters: 261 bits, selects whole on double-click');
  assert.match(created.text, /id="secrets-[^"]+" hx-swap-oob="outerHTML"/, 'the table behind the dialog is updated');
  assert.match(created.text, new RegExp(`<code>${secret.slice(0, 3)}•••••</code>`));

  const row = portal.deps.db.select().from(clientSecrets).get()!;
  assert.equal(row.hint, secret.slice(0, 3));
  assert.equal(row.secretHash.length, 64);
  assert.notEqual(row.secretHash, secret);

  const reload = await a1.get(PAGE);
  assert.ok(!reload.text.includes(secret), 'a reload shows the hint only');
  assert.ok(reload.text.includes(`${secret.slice(0, 3)}•••••`));
  assert.match(reload.text, /Never used/);
  assert.ok(!(await a1.get(`${base(world.appA1)}/secrets/new`)).text.includes(secret));

  // Neither the database file nor its WAL holds the secret (or more of it than the hint).
  portal.deps.db.$client.pragma('wal_checkpoint(PASSIVE)');
  for (const file of ['portal.sqlite', 'portal.sqlite-wal']) {
    const path = `${portal.dataDir}/${file}`;
    if (!fs.existsSync(path)) continue;
    const bytes = fs.readFileSync(path).toString('latin1');
    assert.ok(!bytes.includes(secret.slice(0, 12)), `${file} never contains the secret`);
  }
  assert.ok(!portal.logs.join('\n').includes(secret.slice(0, 12)), 'the logs never contain the secret');

  const audit = portal.deps.db.select().from(auditEvents).where(eq(auditEvents.action, 'secret.create')).get()!;
  assert.equal(audit.actor, world.managerA1.email);
  assert.equal(audit.target, 'Secret by VM');
  assert.equal(JSON.parse(audit.details).hint, secret.slice(0, 3));
  assert.equal(audit.ip, '127.0.0.1');
  // Recent activity is loaded when opened: htmx asks for the list, a plain browser follows the link to a page.
  const lazy = new RegExp(`id="events-${world.appA1}"[\\s\\S]*?hx-get="(${PAGE}/applications/${world.appA1}/events)" hx-trigger="toggle from:closest details once"[\\s\\S]*?<a href="\\1">`).exec(reload.text);
  assert.ok(lazy, 'the events are not in the page, only how to load them');
  assert.doesNotMatch(reload.text, /Created secret “Secret by VM”/);
  const list = await a1.get(lazy[1]!, { 'HX-Request': 'true' });
  assert.match(list.text, /^\s*<ul class="event-list">/, 'htmx gets the list alone');
  assert.match(list.text, /Created secret “Secret by VM” \(.{3}…\)/, 'the event is listed under the application');
  const plain = await a1.get(lazy[1]!);
  assert.match(plain.text, /<h1>Recent activity of Partner-NL-HospitalA-DM<\/h1>/);
  assert.match(plain.text, /Created secret “Secret by VM”/);
});

test('create: invalid names and dates re-render the dialog with the message beside the field (422)', async (t) => {
  const { portal, world, a1 } = await setup(t, { PORTAL_TIMEZONE: 'Pacific/Auckland' });
  const now = today(portal);
  const good = addDays(now, 30);
  const cases: Array<[string, Record<string, string>, 'name' | 'expires', RegExp]> = [
    ['missing name', { expires: good }, 'name', /Enter a client secret name/],
    ['empty name', { name: '   ', expires: good }, 'name', /Enter a client secret name/],
    ['101 characters', { name: 'x'.repeat(101), expires: good }, 'name', /at most 100 characters/],
    ['control character', { name: 'Secret\tby VM', expires: good }, 'name', /control characters/],
    ['newline', { name: 'Secret\nBcc: x', expires: good }, 'name', /control characters/],
    ['missing date', { name: 'ok' }, 'expires', /Enter an expiration date/],
    ['malformed date', { name: 'ok', expires: '31/12/2027' }, 'expires', /real date/],
    ['impossible date', { name: 'ok', expires: '2027-02-30' }, 'expires', /real date/],
    ['today', { name: 'ok', expires: now }, 'expires', /tomorrow or later/],
    ['in the past', { name: 'ok', expires: addDays(now, -3) }, 'expires', /tomorrow or later/],
    ['more than a year ahead', { name: 'ok', expires: addDays(now, 366) }, 'expires', /at most one year ahead/],
  ];
  for (const [label, form, field, message] of cases) {
    const r = await a1.post(`${base(world.appA1)}/secrets`, form, { ...HX, 'HX-Target': 'dialog-content' });
    assert.equal(r.status, 422, label);
    const id = field === 'name' ? 'secret-name-error' : 'secret-expires-error';
    assert.match(r.text, new RegExp(`<p class="field-error" id="${id}">[^<]*`), `${label}: message next to the field`);
    assert.match(decodeHtml(r.text), message, label);
    assert.doesNotMatch(r.text, /^<dialog/, `${label}: only the dialog content is re-rendered`);
  }
  assert.equal(portal.deps.db.select().from(clientSecrets).all().length, 0, 'nothing was created');

  const edge = await createSecret(a1, world.appA1, 'One year', addDays(now, 365));
  assert.equal(edge.status, 201, 'exactly one year ahead is allowed');
  const tomorrow = await createSecret(a1, world.appA1, 'Tomorrow', addDays(now, 1));
  assert.equal(tomorrow.status, 201, 'tomorrow is allowed');

  const xss = await createSecret(a1, world.appA1, '<script>alert(1)</script>', good);
  assert.equal(xss.status, 201);
  assert.ok(!xss.text.includes('<script>alert(1)</script>'));
  assert.ok(xss.text.includes('&lt;script&gt;alert(1)&lt;/script&gt;'), 'escaped');
  const page = await a1.get(PAGE);
  assert.ok(!page.text.includes('<script>alert(1)'), 'escaped on the page too');

  // Extra fields are ignored.
  const extra = await a1.post(`${base(world.appA1)}/secrets`, {
    name: 'Extra', expires: good, organisation_id: String(world.orgB), hint: 'zzz', secret_hash: '0'.repeat(64), created_by: '999', application_id: '3',
  }, HX);
  assert.equal(extra.status, 201);
  const row = portal.deps.db.select().from(clientSecrets).where(eq(clientSecrets.name, 'Extra')).get()!;
  assert.notEqual(row.hint, 'zzz');
  assert.notEqual(row.secretHash, '0'.repeat(64));
  assert.notEqual(row.createdBy, 999);
  assert.equal(row.expiresOn, good);
});

test('SECRET_MAX_LIFETIME_DAYS lowers the maximum; the expiry ends at midnight in PORTAL_TIMEZONE', async (t) => {
  const { portal, world, a1 } = await setup(t, { SECRET_MAX_LIFETIME_DAYS: '90', PORTAL_TIMEZONE: 'Europe/Amsterdam' });
  const now = today(portal);
  const r = await createSecret(a1, world.appA1, 'too long', addDays(now, 91), { ...HX, 'HX-Target': 'dialog-content' });
  assert.equal(r.status, 422);
  assert.match(r.text, /at most 90 days ahead/);
  assert.equal((await createSecret(a1, world.appA1, 'ok', addDays(now, 90))).status, 201);
  const row = portal.deps.db.select().from(clientSecrets).get()!;
  const end = new Date(row.expiresAt);
  const local = new Intl.DateTimeFormat('en-GB', { timeZone: 'Europe/Amsterdam', hour: '2-digit', minute: '2-digit', hourCycle: 'h23' }).format(end);
  assert.equal(local, '00:00', 'works until local midnight');
  assert.equal(dateInZone(row.expiresAt - 1, 'Europe/Amsterdam'), row.expiresOn, 'the last millisecond is still on the chosen date');
});

test('delete: a confirmation dialog names the secret; Delete tombstones it and the row disappears', async (t) => {
  const { portal, world, a1 } = await setup(t);
  const secret = secretFrom((await createSecret(a1, world.appA1, 'Old secret by VM', addDays(today(portal), 60))).text);
  const row = portal.deps.db.select().from(clientSecrets).get()!;
  const page = await a1.get(PAGE);
  assert.match(page.text, /aria-label="Delete secret Old secret by VM"/);

  const dialog = await a1.get(`${base(world.appA1)}/secrets/${row.id}/delete`, HX);
  assert.equal(dialog.status, 200);
  assert.match(dialog.text, /^<dialog/);
  assert.match(dialog.text, /Delete secret “Old secret by VM”\?/);
  assert.match(dialog.text, /stop working at once/);
  assert.match(dialog.text, />Delete<\/button>/);

  const deleted = await a1.post(`${base(world.appA1)}/secrets/${row.id}/delete`, {}, HX);
  assert.equal(deleted.status, 200);
  assert.match(deleted.headers.get('hx-trigger') ?? '', /secret-deleted/);
  assert.doesNotMatch(deleted.text, new RegExp(`secret-${row.id}`), 'the row is gone from the swapped table');
  const tomb = portal.deps.db.select().from(clientSecrets).where(eq(clientSecrets.id, row.id)).get()!;
  assert.ok(tomb.deletedAt, 'a tombstone row stays');
  assert.equal(tomb.name, 'Old secret by VM');
  assert.ok(!(await a1.get(PAGE)).text.includes(`secret-${row.id}`));
  assert.equal(auditCount(portal, 'secret.delete'), 1);
  const again = await a1.post(`${base(world.appA1)}/secrets/${row.id}/delete`, {}, HX);
  assert.equal(again.status, 404, 'a deleted secret cannot be deleted again');
  assert.ok(secret);
});

test('without JavaScript: the create form, the shown-once page and the delete confirmation are pages', async (t) => {
  const { portal, world, a1 } = await setup(t);
  const form = await a1.get(`${base(world.appA1)}/secrets/new`);
  assert.equal(form.status, 200);
  assert.match(form.text, /<!doctype html>/);
  assert.match(form.text, /<form method="post" action="\/manage-api-credentials\/applications\/[^"]+\/secrets"/);
  const invalid = await createSecret(a1, world.appA1, '', addDays(today(portal), 10), {});
  assert.equal(invalid.status, 422);
  assert.match(invalid.text, /<!doctype html>/);
  assert.match(invalid.text, /Enter a client secret name/);
  // Post/Redirect/Get: the POST answers with a redirect, the GET shows the secret once.
  const posted = await createSecret(a1, world.appA1, 'No-JS secret', addDays(today(portal), 10), {});
  assert.equal(posted.status, 303);
  const row = portal.deps.db.select().from(clientSecrets).get()!;
  assert.equal(posted.location, `${base(world.appA1)}/secrets/${row.id}/created`, 'the redirect names the secret, never the secret itself');
  const created = await a1.get(posted.location!);
  assert.equal(created.status, 200);
  assert.match(created.text, /<!doctype html>/);
  assert.equal(created.headers.get('cache-control'), 'no-store');
  const secret = secretFrom(created.text);
  assert.ok(!(await a1.get(PAGE)).text.includes(secret));
  // A refresh (the same GET again) shows only the hint, and creates nothing.
  const refreshed = await a1.get(posted.location!);
  assert.equal(refreshed.status, 200);
  assert.ok(!refreshed.text.includes(secret), 'the secret is no longer shown');
  assert.match(refreshed.text, new RegExp(`<code>${secret.slice(0, 3)}…</code>`), 'only its first three characters');
  assert.equal(portal.deps.db.select().from(clientSecrets).all().length, 1, 'still one secret');
  // Another session cannot take it either, and a second secret of the same name is refused.
  const same = await createSecret(a1, world.appA1, 'no-js SECRET', addDays(today(portal), 10), {});
  assert.equal(same.status, 422);
  assert.match(decodeHtml(same.text), /already has a secret named “no-js SECRET”/);
  assert.equal(portal.deps.db.select().from(clientSecrets).all().length, 1);

  const confirm = await a1.get(`${base(world.appA1)}/secrets/${row.id}/delete`);
  assert.match(confirm.text, /<!doctype html>/);
  assert.match(confirm.text, /Delete secret “No-JS secret”\?/);
  const done = await a1.post(`${base(world.appA1)}/secrets/${row.id}/delete`);
  assert.equal(done.status, 303);
  assert.match(done.location!, /^\/manage-api-credentials\?deleted=1/);
  const after = await a1.get(done.location!);
  assert.match(after.text, /The secret was deleted/);
  assert.ok(!after.text.includes(`secret-${row.id}`));
});

test('the cap on active secrets: the dialog explains it and a forced request gets 409', async (t) => {
  const { portal, world, a1 } = await setup(t, { MAX_SECRETS_PER_APPLICATION: '2' });
  assert.equal((await createSecret(a1, world.appA1, 'one', addDays(today(portal), 10))).status, 201);
  assert.equal((await createSecret(a1, world.appA1, 'two', addDays(today(portal), 10))).status, 201);
  const page = await a1.get(PAGE);
  assert.match(page.text, /2 of 2 active secrets<span class="cap-reason">: the most allowed\. Creating a new secret is unavailable/, 'the page says why Create is unavailable');
  assert.match(page.text, new RegExp(`id="create-${world.appA1}"[^>]*aria-describedby="count-${world.appA1}"`));
  const dialog = await a1.get(`${base(world.appA1)}/secrets/new`, HX);
  assert.match(dialog.text, /already has 2 active secrets/);
  assert.doesNotMatch(dialog.text, /<form/);
  const forced = await createSecret(a1, world.appA1, 'three', addDays(today(portal), 10));
  assert.equal(forced.status, 409);
  assert.match(forced.text, /already has 2 active secrets/);
  assert.equal(portal.deps.db.select().from(clientSecrets).all().length, 2);
  // Expired secrets do not count.
  portal.clock.advance(12 * 86_400_000);
  const again = await signIn(portal, world.managerA1);
  await again.get(PAGE);
  assert.equal((await createSecret(again, world.appA1, 'after expiry', addDays(today(portal), 10))).status, 201);
});

test('authorisation by object: other applications and organisations are 404, unchanged, and audited', async (t) => {
  const { portal, world, a1 } = await setup(t);
  const a2 = await signIn(portal, world.managerA2);
  await a2.get(PAGE);
  const ownA2 = secretFrom((await createSecret(a2, world.appA2, 'A2 secret', addDays(today(portal), 10))).text);
  const b = await signIn(portal, world.managerB);
  await b.get(PAGE);
  secretFrom((await createSecret(b, world.appB1, 'B secret', addDays(today(portal), 10))).text);
  const a2Row = portal.deps.db.select().from(clientSecrets).where(eq(clientSecrets.name, 'A2 secret')).get()!;
  const bRow = portal.deps.db.select().from(clientSecrets).where(eq(clientSecrets.name, 'B secret')).get()!;
  const before = portal.deps.db.select().from(clientSecrets).all().length;
  const deniedBefore = auditCount(portal, 'access.denied');

  const attempts: Array<[string, () => Promise<{ status: number }>]> = [
    ['open create on a same-organisation application', () => a1.get(`${base(world.appA2)}/secrets/new`, HX)],
    ['create on a same-organisation application', () => createSecret(a1, world.appA2, 'x', addDays(today(portal), 5))],
    ['create on another organisation\'s application', () => createSecret(a1, world.appB1, 'x', addDays(today(portal), 5))],
    ['delete via another application', () => a1.post(`${base(world.appA2)}/secrets/${a2Row.id}/delete`, {}, HX)],
    ['delete another application\'s secret under my own application', () => a1.post(`${base(world.appA1)}/secrets/${a2Row.id}/delete`, {}, HX)],
    ['delete another organisation\'s secret', () => a1.post(`${base(world.appB1)}/secrets/${bRow.id}/delete`, {})],
    ['open the delete dialog of another organisation\'s secret', () => a1.get(`${base(world.appA1)}/secrets/${bRow.id}/delete`)],
    ['unknown client id', () => a1.get(`${base('00000000-0000-0000-0000-000000000000')}/secrets/new`)],
  ];
  for (const [label, attempt] of attempts) assert.equal((await attempt()).status, 404, label);
  const after = portal.deps.db.select().from(clientSecrets).all();
  assert.equal(after.length, before, 'nothing was created');
  assert.ok(after.every((s) => s.deletedAt === null), 'nothing was deleted');
  assert.equal(auditCount(portal, 'access.denied'), deniedBefore + attempts.length, 'every attempt is audited');
  assert.ok(ownA2);
});

test('status column: Active, Expires in N days with a warning sign, Expired; last 20 events', async (t) => {
  const { portal, world, a1 } = await setup(t);
  const now = today(portal);
  await createSecret(a1, world.appA1, 'far', addDays(now, 200));
  await createSecret(a1, world.appA1, 'soon', addDays(now, 30));
  await createSecret(a1, world.appA1, 'tomorrow', addDays(now, 1));
  let c = a1;
  let page = await c.get(PAGE);
  const rowOf = (name: string) => new RegExp(`<td data-label="Name">${name}</td>[\\s\\S]*?</tr>`).exec(page.text)![0];
  assert.match(rowOf('far'), /class="status-active">Active</);
  assert.match(rowOf('soon'), /⚠ <\/span><span class="visually-hidden">Warning: <\/span>Expires in 30 days/);
  assert.match(rowOf('tomorrow'), /Expires in 1 day</);
  portal.clock.advance(2 * 86_400_000);
  c = await signIn(portal, world.managerA1);
  page = await c.get(PAGE);
  assert.match(rowOf('tomorrow'), /class="status-expired">Expired</);
  portal.deps.db.update(clientSecrets).set({ lastUsedAt: portal.clock.now() - 2 * 3600_000 }).where(eq(clientSecrets.name, 'far')).run();
  page = await c.get(PAGE);
  assert.match(rowOf('far'), /Last used 2 hours ago/);

  for (let i = 0; i < 25; i++) portal.deps.db.insert(auditEvents).values({ at: portal.clock.now() + i, actor: 'x', action: 'secret.create', applicationId: portal.deps.db.select().from(applications).where(eq(applications.clientId, world.appA1)).get()!.id, target: `event-${i}` }).run();
  const section = (await c.get(`${PAGE}/applications/${world.appA1}/events`, { 'HX-Request': 'true' })).text;
  assert.equal((section.match(/<li>/g) ?? []).length, 20, 'the last 20 events');
  assert.match(section, /event-24/);
  assert.doesNotMatch(section, /event-4”/);
});

test('the curl command shown with a new secret, run as shown, gets a token; the page shows endpoint, resources and lifetime', async (t) => {
  const { portal, world, a1 } = await setup(t);
  const page = await a1.get(PAGE);
  assert.match(page.text, new RegExp(`<code id="token-endpoint-${world.appA1}">${portal.baseUrl}/oauth/token</code>`));
  assert.match(page.text, /60 minutes; ask for a new token when it expires/);
  assert.match(decodeHtml(page.text), new RegExp(`curl -s -u '${world.appA1}:YOUR_CLIENT_SECRET'`), 'the client ID is filled in');
  const created = await createSecret(a1, world.appA1, 'For curl', addDays(today(portal), 10));
  assert.equal(created.status, 201);
  const command = decodeHtml(/<code id="new-secret-curl">([^<]+)<\/code>/.exec(created.text)![1]!);
  assert.ok(command.includes(secretFrom(created.text)), 'the secret is filled in');
  // Asynchronously: the portal answers from this very process.
  const run = await promisify(execFile)('sh', ['-c', command], { encoding: 'utf8', timeout: 10_000 });
  const answer = JSON.parse(run.stdout) as { access_token: string; token_type: string; expires_in: number };
  assert.equal(answer.token_type, 'Bearer');
  assert.equal(answer.expires_in, 3600);
  assert.match(answer.access_token, /^ey/);
});

test('the delete dialog shows the last use and warns before the last active secret goes', async (t) => {
  const { portal, world, a1 } = await setup(t);
  assert.equal((await createSecret(a1, world.appA1, 'only one', addDays(today(portal), 10))).status, 201);
  const only = portal.deps.db.select().from(clientSecrets).where(eq(clientSecrets.name, 'only one')).get()!;
  const first = await a1.get(`${base(world.appA1)}/secrets/${only.id}/delete`, HX);
  assert.match(first.text, /Never used\./);
  assert.match(first.text, /This is the last active secret of Partner-NL-HospitalA-DM/);
  assert.equal((await createSecret(a1, world.appA1, 'second', addDays(today(portal), 10))).status, 201);
  portal.deps.db.update(clientSecrets).set({ lastUsedAt: portal.clock.now() - 3 * 3600_000 }).where(eq(clientSecrets.id, only.id)).run();
  const again = await a1.get(`${base(world.appA1)}/secrets/${only.id}/delete`, HX);
  assert.match(again.text, /Last used 3 hours ago\./);
  assert.doesNotMatch(again.text, /last active secret/, 'no warning while another secret is active');
});

test('Certificates & public keys on the page: add (no JavaScript), shown with thumbprint and type, a private key refused and not echoed, delete with confirmation', async (t) => {
  const { portal, world, a1 } = await setup(t);
  const { generateKeyPairSync } = await import('node:crypto');
  const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  await a1.get(`${base(world.appA1)}/keys/new`);
  const refused = await a1.post(`${base(world.appA1)}/keys`, { name: 'oops', key: privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(), expires: addDays(today(portal), 30) });
  assert.equal(refused.status, 422);
  assert.match(decodeHtml(refused.text), /This is a private key: upload only the public part/);
  assert.doesNotMatch(refused.text, /PRIVATE KEY/, 'the private key is not sent back');
  const added = await a1.post(`${base(world.appA1)}/keys`, { name: 'Server key', key: publicKey.export({ format: 'pem', type: 'spki' }).toString(), expires: addDays(today(portal), 30) });
  assert.equal(added.status, 201, added.text.slice(0, 500));
  const page = await a1.get(PAGE);
  assert.match(page.text, /Certificates &amp; public keys/);
  assert.match(page.text, /Server key/);
  assert.match(page.text, /EC P-256/);
  const row = portal.deps.db.$client.prepare('select id, thumbprint from client_keys').get() as { id: string; thumbprint: string };
  assert.match(page.text, new RegExp(`<code class="thumbprint">${row.thumbprint}</code>`));
  assert.match((await a1.get(`${base(world.appA1)}/key-help`)).text, /openssl req -x509 -newkey ec/, 'the openssl commands are shown (when opened)');
  const confirm = await a1.get(`${base(world.appA1)}/keys/${row.id}/delete`);
  assert.match(decodeHtml(confirm.text), /Delete “Server key”\?/);
  const done = await a1.post(`${base(world.appA1)}/keys/${row.id}/delete`);
  assert.equal(done.status, 303);
  assert.match((await a1.get(done.location!)).text, /The key was deleted/);
  const other = await a1.get(`${base(world.appB1)}/keys/new`);
  assert.equal(other.status, 404, "another organisation's application");
});

test('a manager of many applications gets one line each with secret counts; an application opens in full (htmx) or as its own page', async (t) => {
  const { portal, world, a1 } = await setup(t);
  const app = findApplicationByClientId(portal.deps.db, world.appA1)!;
  const orgId = app.organisationId;
  const more: string[] = [];
  for (let i = 0; i < 11; i++) more.push(makeApplication(portal, orgId, `Partner-NL-HospitalA-Extra${String(i).padStart(2, '0')}`, ['DM']));
  const manager = portal.deps.db.select().from(users).where(eq(users.email, world.managerA1.email)).get()!;
  for (const clientId of more) {
    const r = assignManager(portal.deps.db, portal.clock, cliActor, findApplicationByClientId(portal.deps.db, clientId)!, String(manager.id));
    assert.ok(r.ok, r.ok ? '' : r.message);
  }
  await createSecret(a1, world.appA1, 'Soon', addDays(today(portal), 5));
  await createSecret(a1, world.appA1, 'Later', addDays(today(portal), 200));
  const page = await a1.get(PAGE);
  assert.equal(page.status, 200);
  assert.match(page.text, /You manage 12 applications\. Open one to see and change its secrets and keys\./);
  assert.equal((page.text.match(/<details class="card application-summary"/g) ?? []).length, 12);
  assert.doesNotMatch(page.text, /<table/, 'no secret tables until an application is opened');
  const line = new RegExp(`<details class="card application-summary" id="app-${world.appA1}">[\\s\\S]*?</details>`).exec(page.text)![0];
  assert.match(line, /2 of 5 active secrets · next expiry /);
  assert.match(line, /1 expiring within 30 days/);
  const base = `${PAGE}/applications/${world.appA1}`;
  assert.match(line, new RegExp(`hx-get="${base}" hx-trigger="toggle from:closest details once"[\\s\\S]*<a href="${base}">Open Partner-NL-HospitalA-DM</a>`));
  const opened = await a1.get(base, { 'HX-Request': 'true' });
  assert.match(opened.text, new RegExp(`^<section class="card application" id="app-${world.appA1}-body"`), 'the section alone, without a second id app-…');
  assert.match(opened.text, /Soon[\s\S]*Expires in 5 days/);
  const own = await a1.get(base);
  assert.match(own.text, /<html/);
  assert.match(own.text, /<h2 id="app-title-[^"]+">Partner-NL-HospitalA-DM<\/h2>/);
  assert.match(own.text, /name="_csrf"/);
  // Another organisation's application stays out of reach.
  assert.equal((await a1.get(`${PAGE}/applications/${world.appB1}`)).status, 404);
});

test('how to make a key pair: loaded when opened, with the application filled in; a page of its own without JavaScript', async (t) => {
  const { world, a1, portal } = await setup(t);
  const page = await a1.get(PAGE);
  const help = `${PAGE}/applications/${world.appA1}/key-help`;
  assert.match(page.text, new RegExp(`<div hx-get="${help}" hx-trigger="toggle from:closest details once" hx-swap="outerHTML"><a href="${help}">`));
  assert.doesNotMatch(page.text, /openssl req -x509/, 'not in the page until opened');
  const part = await a1.get(help, HX);
  assert.match(part.text, /^\s*<p>Make a key pair/);
  assert.match(part.text, /-subj "\/CN=Partner-NL-HospitalA-DM"/);
  assert.match(decodeHtml(part.text), new RegExp(`discovery\\(new URL\\('${portal.baseUrl}'\\), '${world.appA1}'`));
  assert.match(decodeHtml(part.text), /resource: 'https:\/\/api\.example\.org\/dm'/, 'the first granted API in production');
  const own = await a1.get(help);
  assert.match(own.text, /<h1>Keys and assertions for Partner-NL-HospitalA-DM<\/h1>/);
  assert.equal((await a1.get(`${PAGE}/applications/${world.appB1}/key-help`)).status, 404);
});

test('the page is UTF-8 with an exact Content-Length: names outside ASCII come back as typed', async (t) => {
  const { portal, world, a1 } = await setup(t);
  const name = 'Clé de Zoë — 東京 ✓';
  const created = await createSecret(a1, world.appA1, name, addDays(today(portal), 90));
  assert.equal(created.status, 201);
  const res = await fetch(a1.baseUrl + PAGE, { headers: { Cookie: a1.cookieHeader } });
  const bytes = Buffer.from(await res.arrayBuffer());
  assert.equal(res.status, 200);
  assert.equal(res.headers.get('content-type'), 'text/html; charset=utf-8');
  assert.equal(Number(res.headers.get('content-length')), bytes.length, 'Content-Length counts bytes, not characters');
  assert.ok(bytes.toString('utf8').includes(`<td data-label="Name">${name}</td>`), 'the name as typed, in UTF-8');
});
