// Security notices (server/credentials/notices.ts): the application's other credential
// managers hear of a secret created or deleted on the page, over a real SMTP server; a
// refusing server never touches the web request.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startPortal } from '../helpers/portal.ts';
import { startSmtp, readable, header } from '../helpers/smtp.ts';
import { makeApplication, makeOrganisation } from '../helpers/fixtures.ts';
import { createUser, signIn } from '../helpers/accounts.ts';
import { addDays } from '../../server/lib/dates.ts';

test('security notices go to the other credential managers when a secret is created or deleted', async (t) => {
  const smtp = await startSmtp(t);
  const portal = await startPortal(t, { SMTP_URL: smtp.url });
  const org = makeOrganisation(portal, 'Hospital A');
  const clientId = makeApplication(portal, org, 'Partner-NL-HospitalA-DM');
  const m1 = await createUser(portal, org, 'm1@hospital-a.example', [clientId]);
  await createUser(portal, org, 'm2@hospital-a.example', [clientId]);
  const c = await signIn(portal, m1);
  await c.get('/manage-api-credentials');
  const created = await c.post(`/manage-api-credentials/applications/${clientId}/secrets`, { name: 'Secret by M1', expires: addDays(new Date(portal.clock.now()).toISOString().slice(0, 10), 30) }, { 'HX-Request': 'true' });
  assert.equal(created.status, 201);
  await portal.deps.mailer.idle();
  assert.equal(smtp.messages.length, 1);
  const notice = smtp.messages[0]!;
  assert.deepEqual(notice.to, ['m2@hospital-a.example'], 'the other manager only, not the actor');
  assert.equal(header(notice.raw, 'Subject'), 'Client secret created for Partner-NL-HospitalA-DM');
  const body = readable(notice.raw);
  for (const part of ['m1@hospital-a.example', 'Secret by M1', '127.0.0.1']) assert.ok(body.includes(part), part);

  const id = /secrets\/([0-9a-f-]{36})\/delete/.exec((await c.get('/manage-api-credentials')).text)![1]!;
  await c.post(`/manage-api-credentials/applications/${clientId}/secrets/${id}/delete`, {}, { 'HX-Request': 'true' });
  await portal.deps.mailer.idle();
  assert.equal(smtp.messages.length, 2);
  assert.equal(header(smtp.messages[1]!.raw, 'Subject'), 'Client secret deleted for Partner-NL-HospitalA-DM');

  // A refusing mail server does not touch the web request.
  smtp.setMode('refuse');
  const again = await c.post(`/manage-api-credentials/applications/${clientId}/secrets`, { name: 'While SMTP refuses', expires: addDays(new Date(portal.clock.now()).toISOString().slice(0, 10), 30) }, { 'HX-Request': 'true' });
  assert.equal(again.status, 201);
  await portal.deps.mailer.idle();
  assert.ok(portal.logs.some((l) => l.includes('security notice failed')), 'the failure is logged');
});
