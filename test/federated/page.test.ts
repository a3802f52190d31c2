// Issue 29, the page: the Federated credentials section (table, usage, review), the Add
// dialog with its presets (htmx, and a page whose preset links pre-fill by query string),
// errors at the fields (422), Delete with confirmation (Cancel focused), Reviewed, the how-to.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startPortal } from '../helpers/portal.ts';
import { makeApplication, makeOrganisation, withoutNotices } from '../helpers/fixtures.ts';
import { createUser, signIn } from '../helpers/accounts.ts';
import { decodeHtml } from '../helpers/http.ts';
import { exchange, loopbackIssuer, SUBJECT } from '../helpers/issuer.ts';
import { addDays, dateInZone, formatDate } from '../../server/lib/dates.ts';
import { cliActor } from '../../server/audit/audit.ts';
import { findApplicationByClientId } from '../../server/admin/applications.ts';
import { createClientSecret } from '../../server/credentials/secrets.ts';
import { addFederatedCredential } from '../../server/credentials/federated.ts';
import { credentialStates } from '../../server/credentials/safe-to-delete.ts';
import { sendSafeToDelete } from '../../server/reminders/safe-to-delete.ts';
import { startSmtp, readable } from '../helpers/smtp.ts';

const HX = { 'HX-Request': 'true', 'HX-Target': 'dialog-content' };
const text = (html: string) => decodeHtml(html.replace(/<[^>]+>/g, ' ').replace(/\s+/g, ' '));

test('Federated credentials on the page: add through the dialog or the page, errors at the fields, usage, Reviewed, delete with confirmation, the how-to', async (t) => {
  const gh = await loopbackIssuer(t);
  const portal = await startPortal(t, { PORTAL_ENV: 'sandbox', PORTAL_TIMEZONE: 'UTC' });
  const org = makeOrganisation(portal, 'Hospital A');
  const clientId = makeApplication(portal, org, 'Partner-NL-HospitalA-DM', ['DM']);
  const c = await signIn(portal, await createUser(portal, org, 'm@hospital-a.example', [clientId]));
  const base = `/manage-api-credentials/applications/${clientId}`;
  const page = async () => (await c.get('/manage-api-credentials')).text;
  const today = dateInZone(portal.clock.now(), 'UTC');

  let html = await page();
  assert.match(html, /<h3>Federated credentials<\/h3>/);
  assert.match(html, /No federated credentials yet/);
  assert.match(html, new RegExp(`href="${base}/federated/new" data-opens-dialog`));

  // The dialog (htmx) lists the presets as links; without JavaScript a preset pre-fills the page.
  const dialog = await c.get(`${base}/federated/new`, { 'HX-Request': 'true' });
  assert.equal(dialog.status, 200);
  assert.match(dialog.text, /<dialog/);
  for (const label of ['GitHub Actions', 'Kubernetes', 'Microsoft Entra managed identity', 'Any other OpenID Connect issuer']) assert.ok(dialog.text.includes(`>${label}</a>`), label);
  const preset = await c.get(`${base}/federated/new?preset=github`);
  assert.equal(preset.status, 200);
  assert.match(preset.text, /<html/);
  assert.match(preset.text, /id="federated-issuer" name="issuer" type="url" value="https:\/\/token.actions.githubusercontent.com"/);
  assert.match(preset.text, /placeholder="repo:OWNER\/REPOSITORY:ref:refs\/heads\/main"/);
  assert.match(decodeHtml(preset.text), /repo:<owner>\/<repository>:ref:refs\/heads\/<branch>/);
  assert.match(preset.text, /data-preset="github"[^>]*aria-current="true"/);

  // Errors at their fields (422), in place with htmx and as a page without; values kept.
  const bad = await c.post(`${base}/federated`, { preset: 'github', name: 'ci', issuer: 'ftp://x', subject: '' }, HX);
  assert.equal(bad.status, 422);
  assert.doesNotMatch(bad.text, /<dialog|<html/);
  assert.match(bad.text, /id="federated-issuer-error">Enter the issuer/);
  assert.match(bad.text, /id="federated-subject-error">Enter the subject/);
  assert.match(bad.text, /id="federated-subject"[^>]*aria-invalid="true"/);
  assert.match(bad.text, /name="name" type="text" value="ci"/);
  const unreachable = await c.post(`${base}/federated`, { name: 'ci', issuer: 'http://127.0.0.1:9', subject: SUBJECT });
  assert.equal(unreachable.status, 422);
  assert.match(unreachable.text, /<html/);
  assert.match(unreachable.text, /id="federated-issuer-error">The issuer/);
  assert.match(unreachable.text, /value="http:\/\/127.0.0.1:9"/);

  // Added with htmx: the result in the dialog, the table behind it out of band.
  const added = await c.post(`${base}/federated`, { preset: 'other', name: 'registry-sync on main', issuer: gh.url, subject: SUBJECT, audience: '' }, HX);
  assert.equal(added.status, 201, added.text.slice(0, 500));
  assert.match(text(added.text), /Added “registry-sync on main”/);
  assert.match(text(added.text), new RegExp(`review it by ${formatDate(addDays(today, 365))}`));
  assert.match(added.text, new RegExp(`id="federated-${clientId}" hx-swap-oob="outerHTML"`));
  // Without JavaScript: Post/Redirect/Get, the flash says so.
  const plain = await c.post(`${base}/federated`, { name: 'k8s sync', issuer: gh.url, subject: 'system:serviceaccount:registry:sync', audience: 'https://portal.example' });
  assert.equal(plain.status, 303);
  html = await page();
  assert.match(text(html), /Federated credential “k8s sync” added: review it by/);
  const id = (portal.deps.db.$client.prepare("select id from federated_credentials where name = 'registry-sync on main'").get() as { id: string }).id;

  // Used: the table shows last use, the sparkline and the refusal.
  assert.equal((await exchange(portal.baseUrl, clientId, await gh.mint({ aud: portal.baseUrl }), { 'User-Agent': 'github-actions/1' })).status, 200);
  assert.equal((await exchange(portal.baseUrl, clientId, await gh.mint({ aud: 'https://elsewhere' }))).status, 401);
  portal.settle();
  html = await page();
  const row = text(html.slice(html.indexOf(`id="federated-${id}"`), html.indexOf('</tr>', html.indexOf(`id="federated-${id}"`))));
  assert.match(row, new RegExp(`registry-sync on main ${gh.url.replace(/[.]/g, '\\.')} ${SUBJECT} ${portal.baseUrl.replace(/[.]/g, '\\.')}`));
  assert.match(row, new RegExp(`${formatDate(addDays(today, 365))} Reviewed Active Last used`));
  assert.match(row, /from 127\.0\.0\.1 \(github-actions\/1\)/);
  assert.match(row, /1 refused/);
  assert.match(html.slice(html.indexOf(`id="federated-${id}"`)), /<svg[^>]*class="sparkline/);

  // Recent activity: the events in words, the refusal under the credential's name.
  const activity = text((await c.get(`${base}/events`, { 'HX-Request': 'true' })).text);
  assert.match(activity, /Added federated credential “registry-sync on main” \(issuer http:\/\/127\.0\.0\.1:\d+, subject repo:acme\/registry-sync:ref:refs\/heads\/main\), review by/);
  assert.match(activity, /the audience \(aud\) must be "[^"]+" , federated credential “registry-sync on main” from 127\.0\.0\.1/);

  // Reviewed: a year from today, audited.
  portal.deps.db.$client.prepare('update federated_credentials set review_on = ?, review_at = ? where id = ?').run(addDays(today, 10), portal.clock.now() + 10 * 86_400_000, id);
  assert.match(text(await page()), /Review due in 10 days/);
  const reviewed = await c.post(`${base}/federated/${id}/review`);
  assert.equal(reviewed.status, 303);
  const next = addDays(dateInZone(portal.clock.now(), 'UTC'), 365);
  assert.equal((portal.deps.db.$client.prepare('select review_on from federated_credentials where id = ?').get(id) as { review_on: string }).review_on, next);
  assert.match(text(await page()), new RegExp(`Reviewed “registry-sync on main”: the next review is due by ${formatDate(next)}`));
  assert.equal((portal.deps.db.$client.prepare("select count(*) as n from audit_events where action = 'federated.review'").get() as { n: number }).n, 1);

  // Delete: the confirmation (Cancel focused) says the workload stops getting tokens.
  const confirm = await c.get(`${base}/federated/${id}/delete`, { 'HX-Request': 'true' });
  assert.equal(confirm.status, 200);
  assert.match(text(confirm.text), /Delete “registry-sync on main”\?/);
  assert.match(text(confirm.text), /The workload stops getting tokens at once/);
  assert.match(confirm.text, /data-close-dialog autofocus>Cancel</);
  assert.match(text(confirm.text), /Used 1 time in the last 24 hours, last from 127\.0\.0\.1 \(github-actions\/1\) .*: deleting it stops that system/);
  const asPage = await c.get(`${base}/federated/${id}/delete`);
  assert.match(asPage.text, /<html/);
  const deleted = await c.post(`${base}/federated/${id}/delete`, {}, HX);
  assert.equal(deleted.status, 200);
  assert.match(deleted.headers.get('HX-Trigger') ?? '', /can no longer get tokens/);
  assert.match(deleted.text, new RegExp(`id="federated-${clientId}" hx-swap-oob`));
  assert.doesNotMatch(deleted.text, new RegExp(`id="federated-${id}"`));
  assert.equal((await c.get(`${base}/federated/${id}/delete`)).status, 404, 'gone');
  assert.equal((await exchange(portal.baseUrl, clientId, await gh.mint({ aud: portal.baseUrl }))).status, 401);
  const other = (portal.deps.db.$client.prepare("select id from federated_credentials where name = 'k8s sync'").get() as { id: string }).id;
  const plainDelete = await c.post(`${base}/federated/${other}/delete`);
  assert.equal(plainDelete.status, 303);
  assert.match(text(await page()), /The federated credential was deleted\. The workload that used it can no longer get tokens\. .*No federated credentials yet/);

  // The how-to: loaded when opened, or a page; the workflow and the Pod spec with our values.
  const help = await c.get(`${base}/federated-help`, { 'HX-Request': 'true' });
  const h = decodeHtml(help.text);
  assert.match(h, /id-token: write/);
  assert.ok(h.includes(`"$ACTIONS_ID_TOKEN_REQUEST_URL&audience=${portal.baseUrl}"`), h);
  assert.match(h, /Authorization: bearer \$ACTIONS_ID_TOKEN_REQUEST_TOKEN/);
  assert.match(h, new RegExp(`-d client_id=${clientId}`));
  assert.match(h, /client_assertion_type=urn:ietf:params:oauth:client-assertion-type:jwt-bearer/);
  assert.match(h, /serviceAccountToken:\n\s+path: token\n\s+audience: http:\/\/127\.0\.0\.1:\d+\n\s+expirationSeconds: 3600/);
  assert.match(h, /resource=https:\/\/sandbox/);
  assert.match((await c.get(`${base}/federated-help`)).text, /<h1>Federated credentials for Partner-NL-HospitalA-DM<\/h1>/);
  // Another manager's application: 404, audited.
  assert.equal((await c.get(`/manage-api-credentials/applications/${makeApplication(portal, makeOrganisation(portal, 'B'), 'B-DM')}/federated/new`)).status, 404);
});

test('Safe to delete: a secret left idle while a newer federated credential has been used since, and the other way round (the mail names the kind)', async (t) => {
  const gh = await loopbackIssuer(t);
  const smtp = await startSmtp(t);
  const portal = await startPortal(t, { PORTAL_ENV: 'sandbox', PORTAL_TIMEZONE: 'UTC', IDLE_DAYS: '7', SMTP_URL: smtp.url });
  const org = makeOrganisation(portal, 'Hospital A');
  const clientId = makeApplication(portal, org, 'Partner-NL-HospitalA-DM', ['DM']);
  const app = findApplicationByClientId(portal.deps.db, clientId)!;
  await createUser(portal, org, 'm@hospital-a.example', [clientId]);
  const secret = createClientSecret(withoutNotices(portal.deps), cliActor, app, { name: 'Old secret', expires: addDays(dateInZone(portal.clock.now(), 'UTC'), 90) });
  assert.ok(secret.ok);
  portal.clock.advance(86_400_000);
  const fed = await addFederatedCredential(withoutNotices(portal.deps), cliActor, app, { name: 'registry-sync', issuer: gh.url, subject: SUBJECT });
  assert.ok(fed.ok);
  portal.clock.advance(7 * 86_400_000);
  const r = await exchange(portal.baseUrl, clientId, await gh.mint({ aud: portal.baseUrl }, undefined, Math.floor(portal.clock.now() / 1000)));
  assert.equal(r.status, 200, JSON.stringify(r.body));
  portal.settle();
  const states = credentialStates(portal.deps, [app.id], portal.clock.now()).get(app.id)!;
  assert.match(states.find((s) => s.kind === 'secret')!.safeText, /^Never used; “registry-sync” took over on .*: safe to delete$/);
  assert.equal(states.find((s) => s.kind === 'federated')!.safeText, '', 'the one in use is not');

  // A newer secret takes over from the federated credential: now that one is safe to delete.
  portal.clock.advance(8 * 86_400_000);
  const newer = createClientSecret(withoutNotices(portal.deps), cliActor, app, { name: 'New secret', expires: addDays(dateInZone(portal.clock.now(), 'UTC'), 90) });
  assert.ok(newer.ok);
  portal.clock.advance(60_000);
  const used = await fetch(`${portal.baseUrl}/oauth/token`, { method: 'POST', headers: { Authorization: `Basic ${Buffer.from(`${clientId}:${newer.value.secret}`).toString('base64')}`, 'Content-Type': 'application/x-www-form-urlencoded' }, body: 'grant_type=client_credentials' });
  assert.equal(used.status, 200);
  portal.settle();
  await sendSafeToDelete({ ...portal.deps });
  // Each mail's HTML title is its subject (the header itself is RFC 2047-encoded).
  const mails = smtp.messages.map((m) => readable(m.raw));
  assert.equal(mails.length, 2);
  assert.ok(mails.some((m) => m.includes('<title>Client secret “Old secret” of Partner-NL-HospitalA-DM is safe to delete</title>')));
  const fedMail = mails.find((m) => m.includes('<title>Federated credential “registry-sync” of Partner-NL-HospitalA-DM is safe to delete</title>'))!;
  assert.ok(fedMail, mails.join('\n----\n').slice(0, 3000));
  assert.match(fedMail, /“New secret” took over on .*: safe to delete/);
  assert.match(fedMail, new RegExp(`Federated credential: registry-sync \\(subject ${SUBJECT}\\)`));
});
