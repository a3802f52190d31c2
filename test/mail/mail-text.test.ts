// Every mail the portal sends, read as a text-only client reads it (parsed with
// mailparser): each "Label: value" on its own line, every link followed by a line break,
// and in the sandbox, "[Sandbox]" in the subject and a line saying so.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { simpleParser } from 'mailparser';
import { startPortal } from '../helpers/portal.ts';
import { cliInProcess } from '../helpers/cli.ts';
import { completeSetup } from '../helpers/accounts.ts';
import { eq } from 'drizzle-orm';
import { users } from '../../db/schema.ts';
import { makeApplication, makeOrganisation } from '../helpers/fixtures.ts';
import { cliActor } from '../../server/audit/audit.ts';
import { inviteUser } from '../../server/admin/users.ts';
import { findApplicationByClientId } from '../../server/admin/applications.ts';
import { createClientSecret, deleteClientSecret, revokeClientSecret } from '../../server/credentials/secrets.ts';
import { sendExpiryReminders } from '../../server/reminders/run.ts';
import { invitationMail } from '../../server/admin/invitation-mail.ts';
import { fixedClock } from '../../server/lib/clock.ts';
import { addDays, dateInZone } from '../../server/lib/dates.ts';
import { recordBaseUrl } from '../../server/settings.ts';
import { SANDBOX_LINE } from '../../server/mail/mailer.ts';

const LABELS = ['Application', 'Client ID', 'Client secret', 'Expires', 'By', 'When', 'From IP address'];

async function outbox(dir: string) {
  const files = fs.existsSync(dir) ? fs.readdirSync(dir).filter((f) => f.endsWith('.eml')).sort() : [];
  return Promise.all(files.map(async (f) => simpleParser(fs.readFileSync(path.join(dir, f)))));
}

function assertReadableText(text: string, label: string) {
  for (const line of text.split('\n')) {
    for (const l of LABELS) assert.doesNotMatch(line, new RegExp(`\\S${l}:`), `${label}: "${l}:" starts its own line, not inside "${line}"`);
    const link = /https?:\/\/\S+/.exec(line);
    if (link) assert.ok(line.trimEnd().endsWith(link[0]), `${label}: the link ends its line: "${line}"`);
  }
}

test('every plain-text mail: one "Label: value" a line, every link on a line of its own, [Sandbox] in the sandbox', async (t) => {
  const portal = await startPortal(t, { PORTAL_ENV: 'sandbox', PORTAL_TIMEZONE: 'UTC' });
  const org = makeOrganisation(portal, 'Hospital A');
  const clientId = makeApplication(portal, org, 'Partner-NL-A-DM');
  const app = findApplicationByClientId(portal.deps.db, clientId)!;
  const ids: number[] = [];
  for (const email of ['m1@a.example', 'm2@a.example']) {
    const r = inviteUser(portal.deps.db, portal.clock, cliActor, { organisationId: org, email, name: email.split('@')[0], managerOf: [clientId] });
    assert.ok(r.ok);
    ids.push(r.value.userId);
    await portal.deps.mailer.send(invitationMail(portal.deps, r.value.userId, r.value.token, 'invite', { userId: null, label: 'it@association.example', name: 'Ida IT' }));
    await completeSetup(portal, `/setup/${r.value.token}`, email); // notices go to people who finished setup
  }
  const person = { userId: ids[0]!, label: 'vm@a.example', name: 'Vera Manager', ip: '192.0.2.7' };
  const expires = addDays(dateInZone(portal.clock.now(), 'UTC'), 10);
  const created = createClientSecret(portal.deps, person, app, { name: 'Secret by VM', expires });
  assert.ok(created.ok);
  const second = createClientSecret(portal.deps, cliActor, app, { name: 'Secret by IT', expires });
  assert.ok(second.ok);
  deleteClientSecret(portal.deps, person, app, second.value.row.id);
  revokeClientSecret(portal.deps, cliActor, app, created.value.row.id, 'Leaked');
  const third = createClientSecret(portal.deps, cliActor, app, { name: 'For the reminder', expires });
  assert.ok(third.ok);
  await portal.deps.mailer.idle();
  await sendExpiryReminders({ ...portal.deps, clock: fixedClock(portal.clock.now() + 86_400_000) });

  const mails = await outbox(path.join(portal.dataDir, 'outbox'));
  const subjects = mails.map((m) => m.subject ?? '');
  for (const kind of ['Your invitation', 'Client secret created', 'Client secret deleted', 'Client secret revoked', 'expires in']) {
    assert.ok(subjects.some((s) => s.includes(kind)), `a "${kind}" mail was sent (${subjects.join(' | ')})`);
  }
  for (const m of mails) {
    const label = m.subject ?? '';
    assert.match(label, /^\[Sandbox\] /, `${label}: [Sandbox] in the subject`);
    assert.ok(m.text?.startsWith(SANDBOX_LINE), `${label}: the sandbox line comes first`);
    assertReadableText(m.text ?? '', label);
  }
  const reminder = mails.find((m) => m.subject?.includes('expires in'))!;
  const ics = reminder.attachments.find((a) => a.filename === 'secret-expiry.ics');
  assert.ok(ics, 'the reminder carries a calendar file');
  const calendar = ics.content.toString('utf8');
  assert.match(calendar, new RegExp(`DTSTART;VALUE=DATE:${expires.replace(/-/g, '')}`), 'an all-day event on the expiry date');
  assert.match(calendar.replace(/\r\n /g, ''), /SUMMARY:Rotate client secret “For the reminder” of Partner-NL-A-DM: last valid day/);
  const invitation = mails.find((m) => m.subject?.includes('Your invitation'))!;
  assert.match(invitation.text!, /^Ida IT \(it@association\.example\) invited you to the Credentials Portal for Hospital A, as credential manager of Partner-NL-A-DM\.$/m, 'who, which organisation, role and applications');
  assert.match(invitation.text!, /^Organisation: Hospital A$/m);
  assert.match(invitation.text!, /invited to manage your organisation’s API credentials/, 'a footer for a member, not an administrator');
  assert.doesNotMatch(invitation.html as string, /If the button does not work/, 'no button that is not there');
  const notice = mails.find((m) => m.subject?.includes('created') && m.text?.includes('Secret by VM'))!;
  assert.match(notice.text!, /^By: +Vera Manager \(vm@a\.example\)$/m, 'a person is named as "Name (email)"');
  assert.match(notice.text!, new RegExp(`^Expires: +.*${expires.slice(0, 4)}`, 'm'), "the new secret's expiry date");
  const byCli = mails.find((m) => m.subject?.includes('created') && m.text?.includes('Secret by IT'))!;
  assert.match(byCli.text!, /^By: +the IT team \(command line\)$/m);
  assert.match(byCli.text!, /^The IT team \(command line\) created a client secret/m);
});

test('a mail sent by the CLI without BASE_URL links to the running server\'s BASE_URL; with none recorded it refuses', async (t) => {
  const portal = await startPortal(t, { BASE_URL: 'https://portal.example.org' });
  const org = makeOrganisation(portal, 'Hospital A');
  const clientId = makeApplication(portal, org, 'Partner-NL-A-DM');
  const r = inviteUser(portal.deps.db, portal.clock, cliActor, { organisationId: org, email: 'm@a.example', name: 'M', managerOf: [clientId] });
  assert.ok(r.ok);
  // Notices go to people who finished setup (this portal's https BASE_URL keeps the setup page's cookie from plain http).
  portal.deps.db.update(users).set({ passwordHash: 'set up', totpSecret: 'set up' }).where(eq(users.id, r.value.userId)).run();
  const env = { DATA_DIR: portal.dataDir }; // no BASE_URL
  const args = ['create-secret', '--client-id', clientId, '--name', 'From the CLI', '--expires', addDays(dateInZone(Date.now(), 'UTC'), 30)];
  const refused = await cliInProcess(args, env);
  assert.equal(refused.code, 2, refused.stderr);
  assert.match(refused.stderr, /no BASE_URL: set BASE_URL, or start the portal once/);
  recordBaseUrl(portal.deps.db, 'https://portal.example.org', Date.now()); // what the server does at start
  const ok = await cliInProcess(args, env);
  assert.equal(ok.code, 0, ok.stderr);
  const [mail] = await outbox(path.join(portal.dataDir, 'outbox'));
  assert.ok(mail, 'the manager was told');
  assert.match(mail.text!, /^https:\/\/portal\.example\.org\/manage-api-credentials$/m);
  assert.doesNotMatch(mail.text!, /localhost/);
});
