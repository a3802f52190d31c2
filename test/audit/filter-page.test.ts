// The audit log's filter over real HTTP (issue 27, point 7): actions chosen by their
// labels, not codes; From after To said next to From; every action in the log offered,
// a newer one under a label made from its code, found without a scan.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startPortal } from '../helpers/portal.ts';
import { createAdmin, signIn } from '../helpers/accounts.ts';
import { decodeHtml } from '../helpers/http.ts';
import { makeOrganisation } from '../helpers/fixtures.ts';
import { cliActor, recordAudit } from '../../server/audit/audit.ts';
import { actionsInLog } from '../../server/audit/query.ts';

test('the audit filter offers labels, takes a label or a code, and says when From is after To', async (t) => {
  const portal = await startPortal(t);
  const admin = await signIn(portal, await createAdmin(portal));
  makeOrganisation(portal, 'Erasmus MC');
  makeOrganisation(portal, 'Radboudumc');
  recordAudit(portal.deps.db, portal.clock, cliActor, { action: 'mail.delivery_failed', target: 'x@example.org' });

  const page = decodeHtml((await admin.get('/admin/audit')).text);
  const select = page.slice(page.indexOf('<select id="f-action" name="action">'), page.indexOf('</select>', page.indexOf('id="f-action"')));
  assert.ok(select.includes('<optgroup label="Client secrets"><option value="secret.">Any client secret event</option><option value="secret.create">Secret created</option>'), 'grouped, by label');
  assert.ok(select.includes('<option value="mail.delivery_failed">Mail delivery failed</option></optgroup>'), 'an action the list does not name yet, under Other');
  assert.doesNotMatch(select, />[a-z_]+\.[a-z_]*</, 'no code shown as a choice');
  assert.match(page, /<td data-label="Action">Organisation created <code class="muted action-code">organisation\.create<\/code><\/td>/, 'the table says it in words too');
  assert.match(page, /<td data-label="When"><time class="when" datetime=/);

  for (const action of ['organisation.create', 'Organisation created', 'organisation CREATED']) {
    const r = decodeHtml((await admin.get(`/admin/audit?action=${encodeURIComponent(action)}`)).text);
    assert.match(r, /<p class="muted">2 events, newest first\.<\/p>/, action);
    assert.match(r, /<option value="organisation\.create" selected>Organisation created<\/option>/, `${action}: the choice stays selected`);
  }
  const unknown = await admin.get('/admin/audit?action=delete%20everything');
  assert.equal(unknown.status, 200);
  assert.match(decodeHtml(unknown.text), /<p class="field-error" id="f-action-error">No action is called “delete everything”\. Choose one from the list\.<\/p><select id="f-action" name="action" aria-invalid="true" aria-describedby="f-action-error">/);

  const reversed = decodeHtml((await admin.get('/admin/audit?from=2027-02-01&to=2027-01-31')).text);
  assert.ok(
    reversed.includes('<div class="field has-error"><label for="f-from">From</label><p class="field-error" id="f-from-error">From (1 Feb 2027) is after To (31 Jan 2027): no event can match. Choose a From date on or before the To date.</p><input id="f-from" name="from" type="date" value="2027-02-01" aria-invalid="true" aria-describedby="f-from-error"></div>'),
    'the message next to From, the date kept in the field',
  );
  assert.ok(reversed.includes('<input id="f-to" name="to" type="date" value="2027-01-31">'), 'To as given');
});

// Its query plan (a skip through the audit_action index) is checked in test/admin/query-plans.test.ts.
test('actionsInLog: each action once, in order', async (t) => {
  const portal = await startPortal(t);
  const { db } = portal.deps;
  for (const action of ['b.two', 'a.one', 'b.two', 'c', 'a.one']) recordAudit(db, portal.clock, cliActor, { action });
  portal.settle();
  assert.deepEqual(actionsInLog(db), ['a.one', 'b.two', 'c']);
});
