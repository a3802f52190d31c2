// What the mails say (issue 27, point 7): one hint format everywhere (`i9B•••••`), the
// button's own words ("Create new secret"), a calendar file with an alarm and a title that
// says what to do, and in the sandbox the banner inside the HTML document.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { simpleParser, type ParsedMail } from 'mailparser';
import { startPortal } from '../helpers/portal.ts';
import { createUser } from '../helpers/accounts.ts';
import { makeApplication, makeOrganisation } from '../helpers/fixtures.ts';
import { findApplicationByClientId } from '../../server/admin/applications.ts';
import { createClientSecret } from '../../server/credentials/secrets.ts';
import { sendExpiryReminders } from '../../server/reminders/run.ts';
import { SANDBOX_LINE, withSandboxBanner } from '../../server/mail/mailer.ts';
import { addDays, dateInZone } from '../../server/lib/dates.ts';

async function outbox(dir: string): Promise<ParsedMail[]> {
  const files = fs.existsSync(dir) ? fs.readdirSync(dir).filter((f) => f.endsWith('.eml')).sort() : [];
  return Promise.all(files.map((f) => simpleParser(fs.readFileSync(path.join(dir, f)))));
}

test('notices and reminders: one hint format, the button\'s words, an .ics with an alarm and a title saying what to do, the sandbox line inside <body>', async (t) => {
  const portal = await startPortal(t, { PORTAL_ENV: 'sandbox', PORTAL_TIMEZONE: 'UTC' });
  const org = makeOrganisation(portal, 'Hospital A');
  const clientId = makeApplication(portal, org, 'Partner-NL-A-DM');
  const app = findApplicationByClientId(portal.deps.db, clientId)!;
  // Two managers who finished setup: the second hears of the first's new secret.
  const vera = await createUser(portal, org, 'vera@a.example', [clientId]);
  await createUser(portal, org, 'max@a.example', [clientId]);
  const veraId = (portal.deps.db.$client.prepare('select id from users where email = ?').get(vera.email) as { id: number }).id;
  const expires = addDays(dateInZone(portal.clock.now(), 'UTC'), 10);
  const created = createClientSecret(portal.deps, { userId: veraId, label: vera.email, name: 'Vera', ip: '192.0.2.7' }, app, { name: 'Secret by VM', expires });
  assert.ok(created.ok);
  const hint = created.value.row.hint;
  await portal.deps.mailer.idle();
  assert.equal((await sendExpiryReminders(portal.deps)).sent, 1);

  const mails = await outbox(`${portal.dataDir}/outbox`);
  const notice = mails.find((m) => m.subject === '[Sandbox] Client secret created for Partner-NL-A-DM');
  const reminder = mails.find((m) => m.subject === '[Sandbox] Client secret of Partner-NL-A-DM expires in 10 days');
  assert.ok(notice && reminder, mails.map((m) => m.subject).join(' | '));
  for (const [label, mail] of [['notice', notice], ['reminder', reminder]] as const) {
    const html = String(mail.html);
    assert.ok(mail.text!.includes(`(${hint}•••••)`), `${label}: the text part shows ${hint}•••••`);
    assert.ok(html.includes(`<code>${hint}•••••</code>`), `${label}: the HTML part too`);
    assert.doesNotMatch(`${mail.text}${html}`, new RegExp(`${hint}(\\*|…)`), `${label}: no other hint format`);
    assert.match(html, /^<!doctype html>/i, `${label}: nothing before the document`);
    const body = html.indexOf('<body');
    assert.ok(body > 0 && html.indexOf(SANDBOX_LINE) > body, `${label}: the sandbox line inside <body>`);
    assert.ok(mail.text!.startsWith(SANDBOX_LINE), `${label}: and first in the text part`);
  }
  assert.match(reminder.text!, /1\. Choose "Create new secret" on Manage API credentials:/);
  assert.match(String(reminder.html), /Choose <strong>Create new secret<\/strong> on <a href="[^"]+\/manage-api-credentials">Manage API credentials<\/a>/);

  const ics = reminder.attachments.find((a) => a.filename === 'secret-expiry.ics')!.content.toString('utf8').replace(/\r\n[ \t]/g, '');
  assert.match(ics, /^SUMMARY:Rotate client secret “Secret by VM” of Partner-NL-A-DM: last valid day\r?$/m);
  const alarm = /BEGIN:VALARM\r?\n([\s\S]*?)END:VALARM/.exec(ics);
  assert.ok(alarm, 'the event carries an alarm');
  assert.match(alarm[1]!, /^ACTION:DISPLAY\r?$/m);
  assert.match(alarm[1]!, /^TRIGGER(;RELATED=START)?:-P(7D|1W|T604800S)\r?$/m, 'a week before, with 10 days left');
  assert.match(alarm[1]!, /^DESCRIPTION:Client secret “Secret by VM” of Partner-NL-A-DM expires in 7 days: rotate it\.\r?$/m);
  assert.match(ics, new RegExp(`DESCRIPTION:.*\\(${hint}•••••\\).*Create new secret on Manage API credentials`));
});

test('the sandbox line goes after <body>, or first when there is no document around the part', () => {
  assert.equal(withSandboxBanner('<!doctype html><html><body style="x">Hi</body></html>').indexOf(SANDBOX_LINE) > '<!doctype html><html><body style="x">'.length, true);
  assert.ok(withSandboxBanner('<p>Hi</p>').startsWith('<p style='));
  assert.ok(withSandboxBanner('<p>Hi</p>').endsWith('<p>Hi</p>'));
});
