// Duplicate names refused (issue 27, point 3): an organisation's name within its country
// and an application's name, compared trimmed and without regard to case; the console
// answers 422 with the message next to the field, the command line exit code 2; both
// name a free name; the console never suggests an application name that exists.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startPortal } from '../helpers/portal.ts';
import { createAdmin, signIn } from '../helpers/accounts.ts';
import { makeApplication, makeOrganisation } from '../helpers/fixtures.ts';
import { cliInProcess } from '../helpers/cli.ts';
import { decodeHtml } from '../helpers/http.ts';
import { applications, organisations } from '../../db/schema.ts';
import { createOrganisation, renameOrganisation } from '../../server/admin/organisations.ts';
import { createApplication } from '../../server/admin/applications.ts';
import { cliActor } from '../../server/audit/audit.ts';

test('duplicate organisation and application names are refused in the domain, the console and the CLI, with a free name suggested', async (t) => {
  const portal = await startPortal(t);
  const { db } = portal.deps;
  const erasmus = makeOrganisation(portal, 'Erasmus MC');
  makeApplication(portal, erasmus, 'Partner-NL-ErasmusMC-DM');

  // The domain: name and country, trimmed, any case, spaces collapsed; another country is another organisation.
  for (const name of ['Erasmus MC', '  erasmus mc ', 'ERASMUS  MC']) {
    const r = createOrganisation(db, portal.clock, cliActor, { name, countryCode: 'nl' });
    assert.ok(!r.ok, name);
    assert.equal(r.status, 422);
    assert.equal(r.errors.name, `An organisation named “Erasmus MC” in NL already exists (id ${erasmus}). Choose another name, for example “${name.trim()} (2)”.`);
  }
  assert.ok(createOrganisation(db, portal.clock, cliActor, { name: 'Erasmus MC', countryCode: 'BE' }).ok, 'the same name in another country is another organisation');
  assert.ok(createOrganisation(db, portal.clock, cliActor, { name: 'Érasmus MC', countryCode: 'NL' }).ok, 'a different letter is a different name');
  const accented = createOrganisation(db, portal.clock, cliActor, { name: 'érasmus mc', countryCode: 'NL' });
  assert.ok(!accented.ok && /“Érasmus MC” in NL already exists/.test(accented.message), 'case is ignored beyond ASCII too');
  const other = makeOrganisation(portal, 'Radboudumc');
  const rename = renameOrganisation(db, portal.clock, cliActor, other, { name: 'erasmus mc' });
  assert.ok(!rename.ok && /already exists/.test(rename.message), 'a rename cannot make a duplicate either');
  assert.ok(renameOrganisation(db, portal.clock, cliActor, erasmus, { name: 'Erasmus mc' }).ok, 'an organisation may change the case of its own name');

  const app = createApplication(db, portal.clock, cliActor, { organisationId: other, name: 'partner-nl-erasmusmc-dm ', apiCodes: ['DM'], sandboxOnly: false });
  assert.ok(!app.ok);
  assert.match(app.errors.name!, /^An application named “Partner-NL-ErasmusMC-DM” already exists \(client ID [0-9a-f-]{36}\)\. Choose another name, for example “partner-nl-erasmusmc-dm-2”\.$/);
  assert.equal(db.select().from(organisations).all().length, 4);
  assert.equal(db.select().from(applications).all().length, 1);

  // The console: 422, the message next to the field, and a suggestion that is free.
  const admin = await createAdmin(portal);
  const c = await signIn(portal, admin);
  await c.get('/admin');
  const dup = await c.post('/admin/organisations', { name: ' Erasmus mc', country: 'NL' });
  assert.equal(dup.status, 422);
  assert.match(decodeHtml(dup.text), /<p class="field-error" id="org-name-error">An organisation named “Erasmus mc” in NL already exists \(id \d+\)\. Choose another name, for example “Erasmus mc \(2\)”\.<\/p>/);
  const orgPage = decodeHtml((await c.get(`/admin/organisations/${erasmus}`)).text);
  assert.match(orgPage, /id="app-name" name="name" type="text" value="Partner-NL-Erasmusmc-DM-2"/, 'the convention’s name is taken: the next free one is suggested');
  const dupApp = await c.post(`/admin/organisations/${erasmus}/applications`, { name: 'Partner-NL-ErasmusMC-DM', api: 'DM' });
  assert.equal(dupApp.status, 422);
  assert.match(decodeHtml(dupApp.text), /<p class="field-error" id="app-name-error">An application named “Partner-NL-ErasmusMC-DM” already exists \(client ID [0-9a-f-]{36}\)\. Choose another name, for example “Partner-NL-ErasmusMC-DM-2”\.<\/p>/);

  // The command line: exit code 2 and the message, nothing made.
  const env = { DATA_DIR: portal.dataDir, BASE_URL: portal.baseUrl };
  const org = await cliInProcess(['create-organisation', '--name', 'ERASMUS MC', '--country', 'NL'], env);
  assert.equal(org.code, 2);
  assert.match(org.stderr, /^create-organisation: --name: An organisation named “Erasmus mc” in NL already exists \(id \d+\)\. Choose another name, for example “ERASMUS MC \(2\)”\./);
  const cliApp = await cliInProcess(['create-application', '--organisation', String(erasmus), '--name', 'Partner-NL-ErasmusMC-DM', '--api', 'DM'], env);
  assert.equal(cliApp.code, 2);
  assert.match(cliApp.stderr, /--name: An application named “Partner-NL-ErasmusMC-DM” already exists .* for example “Partner-NL-ErasmusMC-DM-2”/);
  assert.equal(db.select().from(organisations).all().length, 4);
  assert.equal(db.select().from(applications).all().length, 1);
});
