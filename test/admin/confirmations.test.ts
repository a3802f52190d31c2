// Actions that stop things at once ask first (issue 27, point 2), and invitations that
// leave nobody confused (point 4), over real HTTP: each confirmation is a page without
// JavaScript and a <dialog> fragment for htmx, says what stops and for whom, with Cancel
// focused; disabling or enabling an application mails its credential managers; the invite
// form grants applications; granting or revoking the role mails the person; people who
// have not finished setup get no credential notices; "Resend" says nothing untrue.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { eq } from 'drizzle-orm';
import { startPortal, type TestPortal } from '../helpers/portal.ts';
import { startSmtp, readable, header } from '../helpers/smtp.ts';
import { createAdmin, createUser, signIn } from '../helpers/accounts.ts';
import { makeApplication, makeOrganisation } from '../helpers/fixtures.ts';
import { decodeHtml, type Client } from '../helpers/http.ts';
import { applications, clientJwksUrls, credentialManagers, users } from '../../db/schema.ts';
import { cliActor } from '../../server/audit/audit.ts';
import { findApplicationByClientId } from '../../server/admin/applications.ts';
import { inviteUser } from '../../server/admin/users.ts';
import { createClientSecret } from '../../server/credentials/secrets.ts';
import { addDays, dateInZone } from '../../server/lib/dates.ts';

type Smtp = Awaited<ReturnType<typeof startSmtp>>;

async function settled(portal: TestPortal, smtp: Smtp, n: number) {
  for (let i = 0; i < 200 && smtp.messages.length < n; i++) await new Promise((r) => setTimeout(r, 20));
  await portal.deps.mailer.idle();
  assert.equal(smtp.messages.length, n, smtp.messages.map((m) => header(m.raw, 'Subject')).join(' | '));
}
const subjectsTo = (smtp: Smtp) => smtp.messages.map((m) => `${m.to.join(',')}: ${header(m.raw, 'Subject')}`);

// The confirmation both ways: a page (no JavaScript) and a dialog fragment (htmx); Cancel
// carries autofocus and goes back; nothing changes by looking.
async function confirmation(c: Client, path: string, title: RegExp, cancel: string) {
  const page = await c.get(path);
  assert.equal(page.status, 200, path);
  assert.equal(page.headers.get('cache-control'), 'no-store');
  const html = decodeHtml(page.text);
  assert.match(html, /<title>[^<]*\?/, 'the page is titled with the question');
  assert.match(html, title);
  assert.match(html, new RegExp(`<form method="post" action="${path.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}"`));
  assert.ok(html.includes(`<a class="button" href="${cancel}" data-close-dialog autofocus>Cancel</a>`), `Cancel, focused, back to ${cancel}`);
  const dialog = await c.get(path, { 'HX-Request': 'true', 'HX-Target': 'dialog-host' });
  assert.equal(dialog.status, 200);
  assert.match(dialog.text, /^<dialog class="modal" aria-labelledby="dialog-title" aria-modal="true">/);
  assert.doesNotMatch(dialog.text, /<html/);
  return html;
}

// A portal with SMTP on loopback, an administrator signed in, and an organisation.
async function signedInAdmin(t: TestContext) {
  const smtp = await startSmtp(t);
  const portal = await startPortal(t, { SMTP_URL: smtp.url });
  const admin = await createAdmin(portal);
  const c = await signIn(portal, admin);
  await c.get('/admin');
  return { smtp, portal, db: portal.deps.db, c, org: makeOrganisation(portal, 'Erasmus MC') };
}

test('console confirmations: disable an application (its managers mailed, and again on enable), disable a user, reset MFA', async (t) => {
  const { smtp, portal, db, c, org } = await signedInAdmin(t);
  const clientId = makeApplication(portal, org, 'Partner-NL-ErasmusMC-DM');
  const app = findApplicationByClientId(db, clientId)!;
  await createUser(portal, org, 'vera@erasmusmc.example', [clientId]);
  await createUser(portal, org, 'jan@erasmusmc.example', [clientId]);
  // A manager invited but not set up: told nothing (cannot sign in to look).
  assert.ok(inviteUser(db, portal.clock, cliActor, { organisationId: org, email: 'pending@erasmusmc.example', managerOf: [clientId] }).ok);
  createClientSecret(portal.deps, cliActor, app, { name: 'Production', expires: addDays(dateInZone(portal.clock.now(), 'UTC'), 90) });
  await settled(portal, smtp, 1); // the notice of the new secret: to the two set-up managers only
  assert.deepEqual(smtp.messages[0]!.to.sort(), ['jan@erasmusmc.example', 'vera@erasmusmc.example']);
  assert.equal(header(smtp.messages[0]!.raw, 'Subject'), 'Client secret created for Partner-NL-ErasmusMC-DM');

  const appPage = decodeHtml((await c.get(`/admin/applications/${app.id}`)).text);
  assert.ok(appPage.includes(`<a class="button danger" href="/admin/applications/${app.id}/disable" data-opens-dialog>Disable application</a>`), 'a link that opens the confirmation, not a one-click form');
  const html = await confirmation(c, `/admin/applications/${app.id}/disable`, /<h2 id="dialog-title">Disable the application Partner-NL-ErasmusMC-DM\?<\/h2>/, `/admin/applications/${app.id}`);
  assert.match(html, /1 client secret and 0 keys/);
  assert.match(html, /stops working at once/);
  assert.match(html, /Its credential managers \(jan@erasmusmc\.example, pending@erasmusmc\.example and vera@erasmusmc\.example\)/);
  assert.equal(db.select().from(applications).get()!.disabledAt, null, 'looking changes nothing');

  const disabled = await c.post(`/admin/applications/${app.id}/disable`);
  assert.equal(disabled.status, 303);
  assert.notEqual(db.select().from(applications).get()!.disabledAt, null);
  assert.match(decodeHtml((await c.get(disabled.location!)).text), /Application disabled: its secrets and keys no longer get tokens\. The mail to its 2 credential managers was sent\./);
  await settled(portal, smtp, 2);
  const off = smtp.messages[1]!;
  assert.deepEqual(off.to.sort(), ['jan@erasmusmc.example', 'vera@erasmusmc.example']);
  assert.equal(header(off.raw, 'Subject'), 'Partner-NL-ErasmusMC-DM was disabled');
  assert.match(readable(off.raw), /Ada Admin \(admin@example\.org\) disabled the application Partner-NL-ErasmusMC-DM\. From now on its client secrets and keys get no tokens/);
  const enabled = await c.post(`/admin/applications/${app.id}/enable`);
  assert.equal(enabled.status, 303);
  await settled(portal, smtp, 3);
  assert.equal(header(smtp.messages[2]!.raw, 'Subject'), 'Partner-NL-ErasmusMC-DM was enabled again');

  // Disable a user: what stops, and the applications left with fewer managers.
  const vera = db.select().from(users).where(eq(users.email, 'vera@erasmusmc.example')).get()!;
  const orgPage = decodeHtml((await c.get(`/admin/organisations/${org}`)).text);
  assert.match(orgPage, new RegExp(`<a class="button small danger-outline" href="/admin/users/${vera.id}/disable" data-opens-dialog>Disable<span class="visually-hidden"> vera@erasmusmc\\.example</span></a>`));
  const userHtml = await confirmation(c, `/admin/users/${vera.id}/disable`, /<h2 id="dialog-title">Disable vera@erasmusmc\.example\?<\/h2>/, `/admin/organisations/${org}`);
  assert.match(userHtml, /signed out everywhere at once and cannot sign in/);
  assert.match(userHtml, /expiry reminders or notices for Partner-NL-ErasmusMC-DM \(2 other managers\)/);
  assert.equal((await c.post(`/admin/users/${vera.id}/disable`)).status, 303);
  assert.notEqual(db.select().from(users).where(eq(users.id, vera.id)).get()!.disabledAt, null);

  // Reset MFA: what is removed, and where the new link goes.
  const jan = db.select().from(users).where(eq(users.email, 'jan@erasmusmc.example')).get()!;
  const resetHtml = await confirmation(c, `/admin/users/${jan.id}/reset-mfa`, /<h2 id="dialog-title">Reset MFA of jan@erasmusmc\.example\?<\/h2>/, `/admin/organisations/${org}`);
  assert.match(resetHtml, /Their password, authenticator app, recovery codes are removed, and every session of theirs ends at once\./);
  assert.match(resetHtml, /a new setup link, which is mailed to jan@erasmusmc\.example\. Check first that the request really comes from them\./);
  assert.equal((await c.post(`/admin/users/${jan.id}/reset-mfa`)).status, 303);
  assert.equal(db.select().from(users).where(eq(users.id, jan.id)).get()!.totpSecret, null);
  await settled(portal, smtp, 4);

  // After the reset, jan has not finished setup: no credential notices for him either.
  createClientSecret(portal.deps, cliActor, findApplicationByClientId(db, clientId)!, { name: 'Second', expires: addDays(dateInZone(portal.clock.now(), 'UTC'), 90) });
  await portal.deps.mailer.idle();
  assert.equal(smtp.messages.length, 4, 'nobody set up and enabled is left to tell: vera is disabled, jan and pending have not set up');
});

test('invitations: the invite form grants applications, the role mails the person when granted or revoked, resend is honest; without SMTP the console says not sent', async (t) => {
  const { smtp, portal, db, c, org } = await signedInAdmin(t);
  const dm = makeApplication(portal, org, 'Partner-NL-ErasmusMC-DM');
  const smc = makeApplication(portal, org, 'Partner-NL-ErasmusMC-SMC', ['SMC']);
  const other = makeApplication(portal, makeOrganisation(portal, 'Radboudumc'), 'Partner-NL-Radboudumc-DM');

  const form = decodeHtml((await c.get(`/admin/organisations/${org}`)).text);
  assert.match(form, /<legend>Credential manager of<\/legend>/);
  assert.ok(form.includes(`<label class="check"><input type="checkbox" name="manager_of" value="${dm}"> Partner-NL-ErasmusMC-DM</label>`));
  const refused = await c.post(`/admin/organisations/${org}/users`, { email: 'x@erasmusmc.example', manager_of: [dm, other] });
  assert.equal(refused.status, 422);
  assert.match(decodeHtml(refused.text), /<p class="field-error" id="user-apps-error">The application Partner-NL-Radboudumc-DM belongs to another organisation\.<\/p>/);
  assert.ok(decodeHtml(refused.text).includes(`value="${dm}" checked>`), 'the choice is kept');
  assert.equal(db.select().from(users).where(eq(users.email, 'x@erasmusmc.example')).get(), undefined);

  const invited = await c.post(`/admin/organisations/${org}/users`, { email: 'Vera@ErasmusMC.example', name: 'Vera', manager_of: [dm, smc] });
  assert.equal(invited.status, 303);
  assert.match(decodeHtml((await c.get(invited.location!)).text), /Invitation sent to vera@erasmusmc\.example\./);
  const vera = db.select().from(users).where(eq(users.email, 'vera@erasmusmc.example')).get()!;
  assert.equal(db.select().from(credentialManagers).where(eq(credentialManagers.userId, vera.id)).all().length, 2, 'the role granted with the invitation');
  await settled(portal, smtp, 1);
  assert.match(readable(smtp.messages[0]!.raw), /as credential manager of Partner-NL-ErasmusMC-DM, Partner-NL-ErasmusMC-SMC\./);

  // Resend: nothing about a link "sent before".
  assert.equal((await c.post(`/admin/users/${vera.id}/resend`)).status, 303);
  assert.match(decodeHtml((await c.get(`/admin/organisations/${org}`)).text), /A new setup link for vera@erasmusmc\.example was sent; any earlier link no longer works\./);
  await settled(portal, smtp, 2);
  assert.match(readable(smtp.messages[1]!.raw), /This is a new link: any setup link you may have had before no longer works\./);
  assert.doesNotMatch(readable(smtp.messages[1]!.raw), /replaces the one sent before/);

  // Revoke, then grant on the application's page: a mail to the person each time.
  const smcApp = findApplicationByClientId(db, smc)!;
  assert.equal((await c.post(`/admin/applications/${smcApp.id}/managers/${vera.id}/remove`)).status, 303);
  assert.match(decodeHtml((await c.get(`/admin/applications/${smcApp.id}`)).text), /vera@erasmusmc\.example is no longer a credential manager of Partner-NL-ErasmusMC-SMC; the mail telling them was sent\./);
  assert.equal((await c.post(`/admin/applications/${smcApp.id}/managers`, { user_id: String(vera.id) })).status, 303);
  await settled(portal, smtp, 4);
  assert.deepEqual(subjectsTo(smtp).slice(2), [
    'vera@erasmusmc.example: You are no longer a credential manager of Partner-NL-ErasmusMC-SMC',
    'vera@erasmusmc.example: You are now a credential manager of Partner-NL-ErasmusMC-SMC',
  ]);
  assert.match(readable(smtp.messages[3]!.raw), /Your account is not set up yet: finish setup with the link in your invitation/);
  // Pending: no "Client secret created" notice, though the role is hers.
  createClientSecret(portal.deps, cliActor, findApplicationByClientId(db, dm)!, { name: 'Production', expires: addDays(dateInZone(portal.clock.now(), 'UTC'), 90) });
  await portal.deps.mailer.idle();
  assert.equal(smtp.messages.length, 4, 'no credential notice to someone who has not finished setup');

  // Without SMTP the console does not say "sent".
  const outboxPortal = await startPortal(t);
  const admin2 = await createAdmin(outboxPortal);
  const c2 = await signIn(outboxPortal, admin2);
  await c2.get('/admin');
  const org2 = makeOrganisation(outboxPortal, 'Erasmus MC');
  const r = await c2.post(`/admin/organisations/${org2}/users`, { email: 'tech@erasmusmc.example' });
  const said = decodeHtml((await c2.get(r.location!)).text);
  assert.match(said, /Invitation for tech@erasmusmc\.example written to the outbox, not sent \(no SMTP_URL is set\)\./);
  assert.doesNotMatch(said, /Invitation sent/);
  await createUser(outboxPortal, org2, 'set-up@erasmusmc.example');
  const setUp = outboxPortal.deps.db.select().from(users).where(eq(users.email, 'set-up@erasmusmc.example')).get()!;
  assert.match(decodeHtml((await c2.get(`/admin/users/${setUp.id}/reset-mfa`)).text), /a new setup link, which is written to the outbox, not sent \(no SMTP_URL is set\): pass it on from the outbox page\./);
});

test('credentials page: removing the JWKS URL asks first; the account page: removing a passkey asks first, with the proof in the confirmation', async (t) => {
  const smtp = await startSmtp(t);
  const portal = await startPortal(t, { SMTP_URL: smtp.url });
  const { db } = portal.deps;
  const org = makeOrganisation(portal, 'Erasmus MC');
  const clientId = makeApplication(portal, org, 'Partner-NL-ErasmusMC-DM');
  const app = findApplicationByClientId(db, clientId)!;
  const account = await createUser(portal, org, 'vera@erasmusmc.example', [clientId]);
  db.insert(clientJwksUrls).values({ applicationId: app.id, url: 'https://keys.erasmusmc.example/jwks.json', createdAt: portal.clock.now() } as typeof clientJwksUrls.$inferInsert).run();
  const c = await signIn(portal, account);
  const page = decodeHtml((await c.get('/manage-api-credentials')).text);
  const base = `/manage-api-credentials/applications/${clientId}`;
  assert.ok(page.includes(`<a class="button small" href="${base}/jwks-url/remove" data-opens-dialog>Remove the JWKS URL<span class="visually-hidden"> of Partner-NL-ErasmusMC-DM</span></a>`));
  const html = await confirmation(c, `${base}/jwks-url/remove`, /<h2 id="dialog-title">Remove the JWKS URL of Partner-NL-ErasmusMC-DM\?<\/h2>/, `/manage-api-credentials#app-${clientId}`);
  assert.match(html, /The registered JWKS URL is https:\/\/keys\.erasmusmc\.example\/jwks\.json\./);
  assert.match(html, /stop getting tokens at once/);
  assert.equal((await c.post(`${base}/jwks-url/remove`)).status, 303);
  assert.equal(db.select().from(clientJwksUrls).all().length, 0);
  assert.equal((await c.get(`${base}/jwks-url/remove`)).status, 404, 'nothing left to remove');
});
