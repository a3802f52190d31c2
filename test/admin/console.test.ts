import { test } from 'node:test';
import assert from 'node:assert/strict';
import { eq } from 'drizzle-orm';
import { startPortal, type TestPortal } from '../helpers/portal.ts';
import { startSmtp, readable, header } from '../helpers/smtp.ts';
import { createAdmin, createUser, completeSetup, signIn } from '../helpers/accounts.ts';
import { makeApplication, makeOrganisation, withoutNotices } from '../helpers/fixtures.ts';
import { applications, auditEvents, clientSecrets, credentialManagers, organisations, passkeys, recoveryCodes, users } from '../../db/schema.ts';
import { cliActor } from '../../server/audit/audit.ts';
import { csvCell } from '../../server/audit/query.ts';
import { createClientSecret } from '../../server/credentials/secrets.ts';
import { findApplicationByClientId } from '../../server/admin/applications.ts';
import { addDays, dateInZone } from '../../server/lib/dates.ts';

async function setup(t: Parameters<typeof startPortal>[0]) {
  const smtp = await startSmtp(t);
  const portal = await startPortal(t, { SMTP_URL: smtp.url });
  const admin = await createAdmin(portal);
  const c = await signIn(portal, admin);
  await c.get('/admin');
  return { smtp, portal, admin, c };
}

const actions = (portal: TestPortal) => portal.deps.db.select().from(auditEvents).all().map((e) => e.action);
const setupLink = (raw: string) => /(\/setup\/[A-Za-z0-9_-]{43})/.exec(readable(raw))![1]!;
async function mailCount(portal: TestPortal, smtp: { messages: unknown[] }, n: number) {
  for (let i = 0; i < 100 && smtp.messages.length < n; i++) await new Promise((r) => setTimeout(r, 20));
  assert.equal(smtp.messages.length, n);
  await portal.deps.mailer.idle();
}

test('from an empty database: organisation, application, manager by emailed invitation, all in the audit log', async (t) => {
  const { smtp, portal, c } = await setup(t);
  const bad = await c.post('/admin/organisations', { name: '', country: 'Netherlands' });
  assert.equal(bad.status, 422);
  assert.match(bad.text, /id="org-name-error">Enter a organisation name|Enter an? organisation name/);

  const created = await c.post('/admin/organisations', { name: 'Erasmus MC', country: 'nl' });
  assert.equal(created.status, 303);
  const orgPath = created.location!;
  const orgPage = await c.get(orgPath);
  assert.match(orgPage.text, /Organisation Erasmus MC created/);
  assert.match(orgPage.text, /value="Partner-NL-ErasmusMC-DM"/, 'the name convention is suggested');

  const app = await c.post(`${orgPath}/applications`, { name: 'Partner-NL-ErasmusMC-DM', api: ['DM', 'SMC'] });
  assert.equal(app.status, 303);
  const appPath = app.location!;
  const appPage = await c.get(appPath);
  assert.match(appPage.text, /Client ID: [0-9a-f-]{36}/);
  assert.match(appPage.text, /no active credential manager/, 'a warning with fewer than two managers');
  const row = portal.deps.db.select().from(applications).get()!;

  const invite = await c.post(`${orgPath}/users`, { email: 'Tech@ErasmusMC.example', name: 'Tech Person' });
  assert.equal(invite.status, 303);
  await mailCount(portal, smtp, 1);
  const mail = smtp.messages[0]!;
  assert.deepEqual(mail.to, ['tech@erasmusmc.example']);
  assert.equal(header(mail.raw, 'Subject'), 'Your invitation to the Credentials Portal');
  const link = setupLink(mail.raw);
  const user = portal.deps.db.select().from(users).where(eq(users.email, 'tech@erasmusmc.example')).get()!;
  const assign = await c.post(`${appPath}/managers`, { user_id: String(user.id) });
  assert.equal(assign.status, 303);
  assert.match((await c.get(appPath)).text, /only one active credential manager/);

  const account = await completeSetup(portal, link, 'tech@erasmusmc.example');
  assert.equal((await portal.client().get(link)).status, 410, 'the emailed link works once');
  const m = await signIn(portal, account);
  const page = await m.get('/manage-api-credentials');
  assert.equal(page.status, 200);
  assert.ok(page.text.includes(row.clientId), 'the new manager sees the application');

  const audit = actions(portal);
  for (const a of ['organisation.create', 'application.create', 'user.invite', 'manager.assign', 'user.setup_complete', 'login.success']) assert.ok(audit.includes(a), a);
  const log = await c.get('/admin/audit?action=manager.assign');
  assert.match(log.text, /tech@erasmusmc\.example/);
  assert.match(log.text, /1 event, newest first/);
});

test('permission boundaries: non-admins, a manager of another organisation, and a disabled admin are refused', async (t) => {
  const { portal, c } = await setup(t);
  const orgA = makeOrganisation(portal, 'A');
  const orgB = makeOrganisation(portal, 'B');
  const appB = makeApplication(portal, orgB, 'Partner-BE-B-DM');
  const manager = await createUser(portal, orgB, 'manager@b.example', [appB]);
  const plain = await createUser(portal, orgA, 'plain@a.example');
  for (const account of [manager, plain]) {
    const u = await signIn(portal, account);
    await u.get('/manage-api-credentials');
    for (const path of ['/admin', '/admin/audit', '/admin/audit.csv', `/admin/organisations/${orgA}`, '/admin/secrets', '/admin/apis']) {
      assert.equal((await u.get(path)).status, 403, `${account.email} GET ${path}`);
    }
    const post = await u.post('/admin/organisations', { name: 'Sneaky', country: 'NL' });
    assert.equal(post.status, 403);
    assert.equal(portal.deps.db.select().from(organisations).where(eq(organisations.name, 'Sneaky')).get(), undefined, 'nothing created');
  }
  const denied = portal.deps.db.select().from(auditEvents).where(eq(auditEvents.action, 'admin.access_denied')).all();
  assert.equal(denied.length, 14, 'every refusal is audited');

  // A second administrator, disabled by the first, is signed out at once.
  const second = await createAdmin(portal, 'second@example.org');
  const s = await signIn(portal, second);
  assert.equal((await s.get('/admin')).status, 200);
  const id = portal.deps.db.select().from(users).where(eq(users.email, 'second@example.org')).get()!.id;
  await c.get('/admin/administrators');
  assert.equal((await c.post(`/admin/users/${id}/disable`)).status, 303);
  const after = await s.get('/admin');
  assert.equal(after.status, 303);
  assert.equal(after.location, '/login', 'the disabled admin\'s session ended');
  const again = portal.client();
  await again.get('/login');
  assert.equal((await again.post('/login', { email: second.email, password: second.password })).status, 401, 'and cannot sign in');
});

test('disable and enable a user; disabling ends every session of theirs at once', async (t) => {
  const { portal, c } = await setup(t);
  const org = makeOrganisation(portal, 'A');
  const app = makeApplication(portal, org, 'Partner-NL-A-DM');
  const manager = await createUser(portal, org, 'm@a.example', [app]);
  const s1 = await signIn(portal, manager);
  const s2 = await signIn(portal, manager);
  assert.equal((await s1.get('/manage-api-credentials')).status, 200);
  const id = portal.deps.db.select().from(users).where(eq(users.email, 'm@a.example')).get()!.id;
  await c.get(`/admin/organisations/${org}`);
  await c.post(`/admin/users/${id}/disable`);
  for (const s of [s1, s2]) assert.equal((await s.get('/manage-api-credentials')).location, '/login');
  await c.get(`/admin/organisations/${org}`);
  await c.post(`/admin/users/${id}/enable`);
  assert.equal((await (await signIn(portal, manager)).get('/manage-api-credentials')).status, 200, 'enabled again');
  const audit = actions(portal);
  assert.ok(audit.includes('user.disable') && audit.includes('user.enable'));
});

test('reset MFA removes the seed and recovery codes, ends sessions, and mails a new setup link; resend kills the old link', async (t) => {
  const { smtp, portal, c } = await setup(t);
  const org = makeOrganisation(portal, 'A');
  const manager = await createUser(portal, org, 'm@a.example');
  const s = await signIn(portal, manager);
  const id = portal.deps.db.select().from(users).where(eq(users.email, 'm@a.example')).get()!.id;
  portal.deps.db.insert(passkeys).values({ id: 'a-passkey', userId: id, name: 'Laptop', publicKey: 'AAAA', createdAt: portal.clock.now() }).run();
  const before = await c.get(`/admin/organisations/${org}`);
  assert.match(before.text, /authenticator app, 10 recovery codes left, 1 passkey/, 'the console shows the factors');
  assert.equal((await c.post(`/admin/users/${id}/reset-mfa`)).status, 303);
  assert.equal(portal.deps.db.select().from(passkeys).where(eq(passkeys.userId, id)).all().length, 0, 'Reset MFA removes passkeys too');
  await mailCount(portal, smtp, 1);
  const row = portal.deps.db.select().from(users).where(eq(users.id, id)).get()!;
  assert.equal(row.totpSecret, null);
  assert.equal(portal.deps.db.select().from(recoveryCodes).where(eq(recoveryCodes.userId, id)).all().length, 0);
  assert.equal((await s.get('/manage-api-credentials')).location, '/login', 'sessions ended');
  const first = setupLink(smtp.messages[0]!.raw);
  assert.match(header(smtp.messages[0]!.raw, 'Subject')!, /authenticator again/);

  await c.get(`/admin/organisations/${org}`);
  assert.equal((await c.post(`/admin/users/${id}/resend`)).status, 303);
  await mailCount(portal, smtp, 2);
  const second = setupLink(smtp.messages[1]!.raw);
  assert.notEqual(first, second);
  assert.equal((await portal.client().get(first)).status, 410, 'the old link is dead');
  const account = await completeSetup(portal, second, 'm@a.example');
  await signIn(portal, account);
  assert.ok(actions(portal).includes('user.reset_mfa') && actions(portal).includes('user.invite_resend'));
});

test('the last administrator cannot be disabled or reset into a portal with none', async (t) => {
  const { portal, c } = await setup(t);
  const self = portal.deps.db.select().from(users).where(eq(users.isAdmin, true)).get()!;
  await c.get('/admin/administrators');
  const r = await c.post(`/admin/users/${self.id}/disable`);
  assert.equal(r.status, 303);
  const page = await c.get(r.location!);
  assert.match(page.text, /last administrator/);
  assert.equal(portal.deps.db.select().from(users).where(eq(users.id, self.id)).get()!.disabledAt, null);
  await c.post(`/admin/users/${self.id}/reset-mfa`);
  assert.ok(portal.deps.db.select().from(users).where(eq(users.id, self.id)).get()!.totpSecret, 'MFA not reset');
  assert.equal((await c.get('/admin')).status, 200, 'still signed in');
});

test('applications: grants, sandbox only, disable; managers only from the same organisation', async (t) => {
  const { portal, c } = await setup(t);
  const orgA = makeOrganisation(portal, 'A');
  const orgB = makeOrganisation(portal, 'B');
  const clientId = makeApplication(portal, orgA, 'Partner-NL-A-DM');
  const app = findApplicationByClientId(portal.deps.db, clientId)!;
  const outsider = await createUser(portal, orgB, 'x@b.example');
  void outsider;
  const base = `/admin/applications/${app.id}`;
  await c.get(base);
  assert.equal((await c.post(`${base}/grants`, { api: 'SMC' })).status, 303);
  assert.equal((await c.post(`${base}/grants/DM/revoke`)).status, 303);
  assert.equal((await c.post(`${base}/sandbox-only`, { sandbox_only: 'on' })).status, 303);
  const outsiderId = portal.deps.db.select().from(users).where(eq(users.email, 'x@b.example')).get()!.id;
  const wrong = await c.post(`${base}/managers`, { user_id: String(outsiderId) });
  assert.equal(wrong.status, 422);
  assert.match(wrong.text, /user of the application’s organisation/);
  assert.equal(portal.deps.db.select().from(credentialManagers).all().length, 0);

  const secret = createClientSecret(portal.deps, cliActor, app, { name: 's', expires: addDays(dateInZone(portal.clock.now(), 'UTC'), 10) });
  assert.ok(secret.ok);
  const token = () =>
    fetch(`${portal.baseUrl}/oauth/token`, { method: 'POST', headers: { 'Content-Type': 'application/x-www-form-urlencoded' }, body: `grant_type=client_credentials&client_id=${clientId}&client_secret=${secret.value.secret}` });
  const ok = await token();
  assert.equal(ok.status, 200);
  assert.equal((await ok.json()).scope, 'SMC');
  await c.post(`${base}/disable`);
  assert.equal((await token()).status, 401, 'a disabled application gets no token');
  await c.post(`${base}/enable`);
  assert.equal((await token()).status, 200);
  const audit = actions(portal);
  for (const a of ['application.grant', 'application.revoke_api', 'application.sandbox_only', 'application.disable', 'application.enable']) assert.ok(audit.includes(a), a);
  assert.ok(portal.deps.db.select().from(applications).where(eq(applications.id, app.id)).get()!.sandboxOnly);
});

test('API catalogue: add with validation; an API in use cannot be deleted', async (t) => {
  const { portal, c } = await setup(t);
  const org = makeOrganisation(portal, 'A');
  makeApplication(portal, org, 'uses DM', ['DM']);
  await c.get('/admin/apis');
  const bad = await c.post('/admin/apis', { code: 'X', name: 'X', sandbox: 'not a url', production: 'https://x.example/' });
  assert.equal(bad.status, 422);
  assert.match(bad.text, /absolute http\(s\) URI/);
  assert.equal((await c.post('/admin/apis', { code: 'NEW', name: 'New API', sandbox: 'https://sb.example/new', production: 'https://api.example/new' })).status, 303);
  const inUse = await c.post('/admin/apis/DM/delete');
  assert.equal(inUse.status, 409);
  assert.match(inUse.text, /granted to applications/);
  assert.equal((await c.post('/admin/apis/NEW/delete')).status, 303);
  assert.ok(actions(portal).includes('api.create') && actions(portal).includes('api.delete'));
});

test('secrets overview: metadata only, filtered by expiry; revoking with a reason notifies the managers', async (t) => {
  const { smtp, portal, c } = await setup(t);
  const org = makeOrganisation(portal, 'A');
  const clientId = makeApplication(portal, org, 'Partner-NL-A-DM');
  await createUser(portal, org, 'm@a.example', [clientId]);
  const app = findApplicationByClientId(portal.deps.db, clientId)!;
  const today = dateInZone(portal.clock.now(), 'UTC');
  const soon = createClientSecret(portal.deps, cliActor, app, { name: 'Soon', expires: addDays(today, 5) });
  const later = createClientSecret(portal.deps, cliActor, app, { name: 'Later', expires: addDays(today, 200) });
  assert.ok(soon.ok && later.ok);
  await mailCount(portal, smtp, 2); // creating secrets tells the managers, whoever creates them
  const all = await c.get('/admin/secrets');
  assert.match(all.text, /Soon/);
  assert.match(all.text, /Later/);
  assert.ok(!all.text.includes(soon.value.secret) && !all.text.includes(later.value.secret), 'never the secret');
  const filtered = await c.get('/admin/secrets?within=30');
  assert.match(filtered.text, /Soon/);
  assert.doesNotMatch(filtered.text, /Later/);

  const noReason = await c.post(`/admin/secrets/${soon.value.row.id}/revoke`, { reason: '' });
  assert.equal(noReason.status, 422);
  const revoked = await c.post(`/admin/secrets/${soon.value.row.id}/revoke`, { reason: 'Leaked in a public repository' });
  assert.equal(revoked.status, 303);
  await mailCount(portal, smtp, 3);
  assert.deepEqual(smtp.messages[2]!.to, ['m@a.example']);
  assert.match(readable(smtp.messages[2]!.raw), /Reason: Leaked in a public repository/);
  // Keys and certificates are in the overview too, and revoked the same way.
  const { generateKeyPairSync } = await import('node:crypto');
  const { addPublicKey } = await import('../../server/credentials/public-keys.ts');
  const key = addPublicKey(portal.deps, cliActor, app, { name: 'Server key', key: generateKeyPairSync('ed25519').publicKey.export({ format: 'pem', type: 'spki' }).toString(), expires: addDays(today, 20) });
  assert.ok(key.ok);
  const overview = await c.get('/admin/secrets');
  assert.match(overview.text, /Certificates &amp; public keys/);
  assert.match(overview.text, new RegExp(key.value.row.thumbprint));
  assert.equal((await c.post(`/admin/keys/${key.value.row.id}/revoke`, { reason: 'Key leaked' })).status, 303);
  assert.ok(actions(portal).includes('key.revoke'));
  const row = portal.deps.db.select().from(clientSecrets).where(eq(clientSecrets.id, soon.value.row.id)).get()!;
  assert.ok(row.deletedAt);
  assert.equal(row.deleteReason, 'Leaked in a public repository');
  const token = await fetch(`${portal.baseUrl}/oauth/token`, { method: 'POST', headers: { 'Content-Type': 'application/x-www-form-urlencoded' }, body: `grant_type=client_credentials&client_id=${clientId}&client_secret=${soon.value.secret}` });
  assert.equal(token.status, 401);
  assert.ok(actions(portal).includes('secret.revoke'));
});

test('audit log: filters, paging, and a CSV export that neutralises formula injection', async (t) => {
  const { portal, c } = await setup(t);
  for (const name of ['=HYPERLINK("http://evil.example","x")', '+1+1', '-2+3', '@SUM(A1)', 'Normal "quoted" org']) makeOrganisation(portal, name);
  for (let i = 0; i < 60; i++) makeOrganisation(portal, `Org ${i}`);
  const page1 = await c.get('/admin/audit?action=organisation.create');
  assert.match(page1.text, /65 events, newest first/);
  assert.equal((page1.text.match(/<tr><td data-label="When">/g) ?? []).length, 50);
  const older = /href="(\/admin\/audit\?action=organisation\.create&amp;before=\d+_\d+)" rel="next"/.exec(page1.text);
  assert.ok(older, 'a link to the older events (keyset: before the last one shown)');
  const page2 = await c.get(older[1]!.replace(/&amp;/g, '&'));
  assert.match(page2.text, /65 events; older ones, newest first/);
  assert.equal((page2.text.match(/<tr><td data-label="When">/g) ?? []).length, 15, 'the remaining 15, none repeated');
  assert.match(page2.text, /Org 0</, 'the oldest is on the last page');
  assert.doesNotMatch(page2.text, /rel="next"/);
  assert.match(page2.text, /href="\/admin\/audit\?action=organisation\.create">← Newest</);
  assert.match((await c.get('/admin/audit?action=organisation.')).text, /65 events/, 'prefix filter');
  assert.match((await c.get('/admin/audit?user=cli&action=organisation.create')).text, /65 events/);
  const future = addDays(dateInZone(portal.clock.now(), 'UTC'), 1);
  assert.match((await c.get(`/admin/audit?from=${future}`)).text, /0 events/, 'date filter');
  assert.equal((await c.get('/admin/audit?from=yesterday')).status, 200, 'a bad date is a message, not a 500');

  const csv = await c.get('/admin/audit.csv?action=organisation.create');
  assert.equal(csv.status, 200);
  assert.match(csv.headers.get('content-type')!, /^text\/csv/);
  assert.match(csv.headers.get('content-disposition')!, /attachment; filename="audit-/);
  const lines = csv.text.trim().split('\r\n');
  assert.equal(lines.length, 66);
  assert.ok(csv.text.includes(`"'=HYPERLINK(""http://evil.example"",""x"")"`));
  assert.ok(csv.text.includes(`"'+1+1"`));
  assert.ok(csv.text.includes(`"'-2+3"`));
  assert.ok(csv.text.includes(`"'@SUM(A1)"`));
  assert.ok(csv.text.includes(`"Normal ""quoted"" org"`));
  assert.ok(!/(^|,)"[=+\-@]/m.test(csv.text), 'no cell starts with a formula character');
  // Spreadsheets skip leading whitespace and control characters and read fullwidth
  // operators as formulas: each is neutralised; ordinary text is left alone.
  const cases: Array<[string, string]> = [
    ['\tcmd', `"'\tcmd"`],
    ['\r=1+1', `"'\r=1+1"`],
    ['\n=1+1', `"'\n=1+1"`],
    [' =1+1', `"' =1+1"`],
    ['\u00a0=1+1', `"'\u00a0=1+1"`],
    ['\u0001=1', `"'\u0001=1"`],
    ['\uff1dSUM(A1)', `"'\uff1dSUM(A1)"`],
    ['\uff0b1', `"'\uff0b1"`],
    ['\uff0d1', `"'\uff0d1"`],
    ['\uff20A1', `"'\uff20A1"`],
    ['Erasmus MC', '"Erasmus MC"'],
    ['a=b', '"a=b"'],
  ];
  for (const [input, expected] of cases) assert.equal(csvCell(input), expected, JSON.stringify(input));
  assert.ok(actions(portal).includes('audit.export'));
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

test('credentials overview: 100 secrets a page, soonest expiry first, the next page after the last one shown; a refused revoke stays on its page', async (t) => {
  const { portal, c } = await setup(t);
  const org = makeOrganisation(portal, 'Large Member');
  const quiet = withoutNotices(portal.deps);
  const today = dateInZone(portal.clock.now(), 'UTC');
  for (let a = 0; a < 22; a++) {
    const app = findApplicationByClientId(portal.deps.db, makeApplication(portal, org, `Partner-NL-Large${a}-DM`))!;
    for (let s = 0; s < 5; s++) assert.ok(createClientSecret(quiet, cliActor, app, { name: `S${a * 5 + s}`, expires: addDays(today, 1 + ((a * 5 + s) % 300)) }).ok);
  }
  const first = await c.get('/admin/secrets');
  assert.match(first.text, /110 secrets, 100 on this page, soonest expiry first/);
  const ids = (html: string) => [...html.matchAll(/<tr id="row-([0-9a-f-]{36})">/g)].map((m) => m[1]!);
  assert.equal(ids(first.text).length, 100);
  const next = /<a href="(\/admin\/secrets\?after=[^"]+)" rel="next">Next 100 secrets →<\/a>/.exec(first.text);
  assert.ok(next);
  const second = await c.get(next[1]!.replace(/&amp;/g, '&'));
  assert.equal(ids(second.text).length, 10);
  assert.equal(new Set([...ids(first.text), ...ids(second.text)]).size, 110, 'every secret once');
  const expiries = (html: string) => [...html.matchAll(/<td data-label="Expires">([^<]+)<\/td>/g)].map((m) => Date.parse(m[1]!));
  const all = [...expiries(first.text), ...expiries(second.text)];
  assert.deepEqual(all, [...all].sort((x, y) => x - y), 'soonest expiry first, across pages');
  assert.match(second.text, /← First page/);
  const target = ids(second.text)[0]!;
  const action = new RegExp(`action="(/admin/secrets/${target}/revoke\\?after=[^"]+)"`).exec(second.text);
  assert.ok(action, 'the revoke form keeps the page');
  const refused = await c.post(action[1]!.replace(/&amp;/g, '&'), { reason: 'x' });
  assert.equal(refused.status, 422);
  assert.match(refused.text, new RegExp(`id="reason-${target}-error">Give a reason`), 'the message beside the row, on the same page');
  assert.match((await c.get('/admin/secrets?after=junk')).text, /110 secrets, 100 on this page/, 'a bad cursor is the first page');
});
