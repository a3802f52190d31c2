// The command line covers the user lifecycle (issue 27, points 4 and 5): invitations mailed
// and said plainly when not, resend-invitation, reset-mfa, disable-user, enable-user,
// grant-manager, revoke-manager (the console's domain functions, audited as the command
// line; exit 0 when done, 2 and a message on bad input); invite-admin for someone invited
// before; the listings' header row; a first production start that says how to invite the
// first administrator. In-process (test/helpers/cli.ts), and once as real processes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { spawn, spawnSync } from 'node:child_process';
import { and, eq } from 'drizzle-orm';
import { startPortal } from '../helpers/portal.ts';
import { startSmtp, readable, header } from '../helpers/smtp.ts';
import { cliInProcess } from '../helpers/cli.ts';
import { completeSetup, createUser } from '../helpers/accounts.ts';
import { makeApplication, makeOrganisation } from '../helpers/fixtures.ts';
import { tempDir } from '../helpers/temp.ts';
import { auditEvents, credentialManagers, sessions, users } from '../../db/schema.ts';

const SETUP = /^https?:\/\/[^\s]+\/setup\/[A-Za-z0-9_-]{43}$/;

async function mailCount(smtp: { messages: unknown[] }, n: number) {
  for (let i = 0; i < 200 && smtp.messages.length < n; i++) await new Promise((r) => setTimeout(r, 20));
  assert.equal(smtp.messages.length, n);
}

test('CLI user lifecycle with SMTP: invitations mailed, resend, reset-mfa, disable, enable, grant and revoke the role, all audited as the command line', async (t) => {
  const smtp = await startSmtp(t);
  const portal = await startPortal(t, { SMTP_URL: smtp.url });
  const { db } = portal.deps;
  const env = { DATA_DIR: portal.dataDir, BASE_URL: portal.baseUrl, SMTP_URL: smtp.url };
  const org = makeOrganisation(portal, 'Erasmus MC');
  const app = makeApplication(portal, org, 'Partner-NL-ErasmusMC-DM');
  const subjects = () => smtp.messages.map((m) => `${m.to.join(',')}: ${header(m.raw, 'Subject')}`);

  // invite-user --manager-of mails the invitation, naming the application, and says so.
  const invited = await cliInProcess(['invite-user', '--organisation', String(org), '--email', 'Tech@ErasmusMC.example', '--manager-of', app], env);
  assert.equal(invited.code, 0, invited.stderr);
  assert.match(invited.stdout, SETUP);
  assert.equal(invited.stderr, 'The invitation was sent to tech@erasmusmc.example.');
  await mailCount(smtp, 1);
  assert.deepEqual(subjects(), ['tech@erasmusmc.example: Your invitation to the Credentials Portal']);
  assert.match(readable(smtp.messages[0]!.raw), /credential manager of Partner-NL-ErasmusMC-DM/);
  assert.ok(readable(smtp.messages[0]!.raw).includes(invited.stdout), 'the mail carries the printed link');

  // resend-invitation: a new link, mailed; the old one dies; honest wording.
  const resent = await cliInProcess(['resend-invitation', '--email', 'tech@erasmusmc.example'], env);
  assert.equal(resent.code, 0, resent.stderr);
  assert.match(resent.stdout, SETUP);
  assert.notEqual(resent.stdout, invited.stdout);
  assert.equal(resent.stderr, 'The new setup link was sent to tech@erasmusmc.example.');
  await mailCount(smtp, 2);
  const resentText = readable(smtp.messages[1]!.raw);
  assert.match(resentText, /This is a new link: any setup link you may have had before no longer works\./);
  assert.doesNotMatch(resentText, /replaces the one sent before/);
  assert.equal((await portal.client().get(new URL(invited.stdout).pathname)).status, 410, 'the first link no longer works');

  // Not set up yet: reset-mfa points to resend-invitation.
  const early = await cliInProcess(['reset-mfa', '--email', 'tech@erasmusmc.example'], env);
  assert.equal(early.code, 2);
  assert.match(early.stderr, /has not finished setup; resend-invitation --email tech@erasmusmc\.example/);

  const account = await completeSetup(portal, new URL(resent.stdout).pathname, 'tech@erasmusmc.example');
  const again = await cliInProcess(['resend-invitation', '--email', 'tech@erasmusmc.example'], env);
  assert.equal(again.code, 2);
  assert.match(again.stderr, /--email: This user has finished setup/);

  // reset-mfa: factors gone, sessions ended, a setup link printed and mailed.
  const user = () => db.select().from(users).where(eq(users.email, 'tech@erasmusmc.example')).get()!;
  assert.ok(db.select().from(sessions).all().length > 0, 'setup signed the user in');
  const reset = await cliInProcess(['reset-mfa', '--email', 'tech@erasmusmc.example'], env);
  assert.equal(reset.code, 0, reset.stderr);
  assert.match(reset.stdout, SETUP);
  assert.match(reset.stderr, /^Two-step verification of tech@erasmusmc\.example was reset: .*\nThe new setup link was sent to tech@erasmusmc\.example\.$/);
  assert.equal(user().passwordHash, null);
  assert.equal(user().totpSecret, null);
  assert.equal(db.select().from(sessions).where(eq(sessions.userId, user().id)).all().filter((s) => s.revokedAt === null).length, 0, 'every session ended');
  await mailCount(smtp, 3);
  assert.equal(header(smtp.messages[2]!.raw, 'Subject'), 'Set up your authenticator again for the Credentials Portal');
  await completeSetup(portal, new URL(reset.stdout).pathname, account.email);

  // disable-user / enable-user, twice each: done, then "already".
  const disabled = await cliInProcess(['disable-user', '--email', 'tech@erasmusmc.example'], env);
  assert.deepEqual([disabled.code, disabled.stdout, disabled.stderr], [0, '', 'tech@erasmusmc.example is disabled and signed out everywhere.']);
  assert.ok(user().disabledAt !== null);
  assert.equal((await cliInProcess(['disable-user', '--email', 'tech@erasmusmc.example'], env)).stderr, 'tech@erasmusmc.example was already disabled.');
  const enabled = await cliInProcess(['enable-user', '--email', 'tech@erasmusmc.example'], env);
  assert.deepEqual([enabled.code, enabled.stderr], [0, 'tech@erasmusmc.example is enabled.']);
  assert.equal(user().disabledAt, null);

  // revoke-manager / grant-manager: the role, and a mail to the person each time.
  const isManager = () => db.select().from(credentialManagers).where(and(eq(credentialManagers.userId, user().id))).all().length === 1;
  const revoked = await cliInProcess(['revoke-manager', '--email', 'tech@erasmusmc.example', '--client-id', app], env);
  assert.deepEqual([revoked.code, revoked.stderr], [0, 'tech@erasmusmc.example is no longer a credential manager of Partner-NL-ErasmusMC-DM.']);
  assert.equal(isManager(), false);
  const granted = await cliInProcess(['grant-manager', '--email', 'tech@erasmusmc.example', '--client-id', app], env);
  assert.deepEqual([granted.code, granted.stderr], [0, 'tech@erasmusmc.example is now a credential manager of Partner-NL-ErasmusMC-DM.']);
  assert.equal(isManager(), true);
  assert.equal((await cliInProcess(['grant-manager', '--email', 'tech@erasmusmc.example', '--client-id', app], env)).stderr, 'tech@erasmusmc.example was already a credential manager of Partner-NL-ErasmusMC-DM.');
  await mailCount(smtp, 5);
  assert.deepEqual(subjects().slice(3), [
    'tech@erasmusmc.example: You are no longer a credential manager of Partner-NL-ErasmusMC-DM',
    'tech@erasmusmc.example: You are now a credential manager of Partner-NL-ErasmusMC-DM',
  ]);
  assert.match(readable(smtp.messages[4]!.raw), /The IT team \(command line\) made you a credential manager of Partner-NL-ErasmusMC-DM/);

  // Every change audited as the command line.
  const audited = db.select().from(auditEvents).where(eq(auditEvents.target, 'tech@erasmusmc.example')).all();
  for (const action of ['user.invite', 'user.invite_resend', 'user.reset_mfa', 'user.disable', 'user.enable', 'manager.remove', 'manager.assign']) {
    const e = audited.find((a) => a.action === action);
    assert.ok(e, action);
    assert.equal(e.actor, 'cli', `${action} by the command line`);
  }

  // Bad input: exit code 2, a message, nothing changed.
  const other = makeOrganisation(portal, 'Radboudumc');
  const otherApp = makeApplication(portal, other, 'Partner-NL-Radboudumc-DM');
  const bad: Array<[string[], RegExp]> = [
    [['reset-mfa'], /--email is required/],
    [['disable-user', '--email', 'nobody@example.org'], /--email: no user has the email nobody@example\.org/],
    [['enable-user', '--email', 'not an email'], /--email: Enter a valid email address/],
    [['grant-manager', '--email', 'tech@erasmusmc.example'], /--client-id is required/],
    [['grant-manager', '--email', 'tech@erasmusmc.example', '--client-id', 'nope'], /--client-id: no application has the client ID "nope"/],
    [['grant-manager', '--email', 'tech@erasmusmc.example', '--client-id', otherApp], /--email: Choose a user of the application’s organisation/],
    [['revoke-manager', '--email', 'tech@erasmusmc.example', '--client-id', otherApp], /--email: That user is not a credential manager of this application/],
    [['resend-invitation', '--email', 'tech@erasmusmc.example', '--now', 'x'], /unknown option --now/],
  ];
  for (const [args, message] of bad) {
    const r = await cliInProcess(args, env);
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, message, args.join(' '));
    assert.doesNotMatch(r.stderr, /\n\s+at /);
  }
  await portal.deps.mailer.idle();
  assert.equal(smtp.messages.length, 5, 'no mail from refused commands');
});

test('CLI without SMTP: the invitation is written to the outbox and the command says it was not sent; a mail the SMTP server refuses is said too', async (t) => {
  const portal = await startPortal(t);
  const org = makeOrganisation(portal, 'Erasmus MC');
  const env = { DATA_DIR: portal.dataDir, BASE_URL: portal.baseUrl };
  const r = await cliInProcess(['invite-user', '--organisation', String(org), '--email', 'tech@erasmusmc.example'], env);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, SETUP);
  assert.equal(r.stderr, 'The invitation for tech@erasmusmc.example was written to the outbox, not sent (no SMTP_URL is set): give them the setup link below yourself.');
  assert.equal(fs.readdirSync(`${portal.dataDir}/outbox`).length, 1);

  const smtp = await startSmtp(t);
  smtp.setMode('refuse');
  const refused = await cliInProcess(['invite-user', '--organisation', String(org), '--email', 'other@erasmusmc.example'], { ...env, SMTP_URL: smtp.url });
  assert.equal(refused.code, 0, 'the user exists and the link is printed');
  assert.match(refused.stdout, SETUP);
  assert.match(refused.stderr, /^The invitation could not be sent to other@erasmusmc\.example \(.*Mailbox unavailable.*\): give them the setup link below yourself\.$/);
});

test('CLI invite-admin: a pending administrator gets a new link, a set-up one is said to exist; without a known BASE_URL it refuses; listings print a header row', async (t) => {
  const portal = await startPortal(t);
  const env = { DATA_DIR: portal.dataDir, BASE_URL: portal.baseUrl };
  const first = await cliInProcess(['invite-admin', '--email', 'ops@example.org', '--name', 'Ops'], env);
  assert.equal(first.code, 0, first.stderr);
  const second = await cliInProcess(['invite-admin', '--email', 'OPS@example.org'], env);
  assert.equal(second.code, 0, second.stderr);
  assert.match(second.stdout, SETUP);
  assert.notEqual(second.stdout, first.stdout);
  assert.match(second.stderr, /^ops@example\.org was invited before and has not finished setup: a new setup link replaces the earlier one\.\n/);
  assert.equal((await portal.client().get(new URL(first.stdout).pathname)).status, 410);
  assert.equal(portal.deps.db.select().from(users).all().length, 1, 'no second administrator');
  await completeSetup(portal, new URL(second.stdout).pathname, 'ops@example.org');
  const exists = await cliInProcess(['invite-admin', '--email', 'ops@example.org'], env);
  assert.equal(exists.code, 2);
  assert.match(exists.stderr, /--email: ops@example\.org is already an administrator and has finished setup \(for a lost authenticator: reset-mfa --email ops@example\.org\)/);
  const org = makeOrganisation(portal, 'Erasmus MC');
  await createUser(portal, org, 'member@erasmusmc.example');
  const member = await cliInProcess(['invite-admin', '--email', 'member@erasmusmc.example'], env);
  assert.equal(member.code, 2);
  assert.match(member.stderr, /member@erasmusmc\.example is a user of an organisation, not an administrator/);

  // No BASE_URL given and none recorded: refused, like the reminders, instead of a localhost link.
  const fresh = { DATA_DIR: tempDir(t) };
  for (const args of [['invite-admin', '--email', 'it@example.org'], ['invite-user', '--organisation', '1', '--email', 'x@example.org'], ['resend-invitation', '--email', 'it@example.org']]) {
    const r = await cliInProcess(args, fresh);
    assert.equal(r.code, 2, args[0]);
    assert.match(r.stderr, /no BASE_URL: set BASE_URL, or start the portal once/);
    assert.equal(r.stdout, '');
  }

  const listed = await cliInProcess(['list-users'], env);
  const lines = listed.stdout.split('\n');
  assert.equal(lines[0], 'id\temail\tname\torganisationId\tadmin\tsetUp\tdisabled');
  assert.equal(lines.length, 3);
  for (const [command, headerRow] of [
    ['list-organisations', 'id\tcountryCode\tname\tusers\tapplications\tactiveSecrets'],
    ['list-applications', 'clientId\tname\torganisationId\tapis\tsandboxOnly\tdisabled'],
    ['list-apis', 'code\tname\tproductionResource\tsandboxResource\tapplications'],
  ]) {
    assert.equal((await cliInProcess([command!], env)).stdout.split('\n')[0], headerRow, command);
  }
  const app = makeApplication(portal, org, 'Partner-NL-ErasmusMC-DM');
  assert.equal((await cliInProcess(['list-credentials', '--client-id', app], env)).stdout, 'kind\tname\thint\texpires\tlastUsed\tlastAddress\tlastClient\trequests30d\trefusals30d\tstatus\treview', 'list-credentials: the header row, even with no credential');
});

test('real processes: a first production start says how to invite the first administrator; disable-user and enable-user as an operator runs them', async (t) => {
  const dataDir = tempDir(t);
  const port = 40000 + Math.floor(Math.random() * 20000);
  const child = spawn(process.execPath, ['--import', 'tsx', 'server/main.ts'], {
    env: { ...process.env, DATA_DIR: dataDir, PORTAL_ENV: 'production', PORT: String(port), BASE_URL: `http://127.0.0.1:${port}` },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  t.after(() => child.kill('SIGKILL'));
  let out = '';
  let err = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (err += d));
  // Starting compiles the server with tsx: slow on a busy machine, so a generous deadline.
  const deadline = Date.now() + 90_000;
  while (!out.includes('invite-admin') && child.exitCode === null && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  assert.match(out, /No administrator can sign in yet\. Invite one; the setup link is printed, and mailed when SMTP_URL is set:\n {2}npm run -s portal -- invite-admin --email you@example\.org --name "Your Name"\n/, `stdout: ${out}\nstderr: ${err}`);
  // Serving (and so past start-up, its signal handlers in place) before it is stopped.
  assert.equal((await fetch(`http://127.0.0.1:${port}/healthz`)).status, 200);
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  child.kill('SIGTERM');
  assert.equal(await exited, 0);

  // The BASE_URL the server recorded is used: no BASE_URL in the command's environment.
  const run = (args: string[]) => spawnSync(process.execPath, ['--import', 'tsx', 'server/cli/cli.ts', ...args], { env: { ...process.env, DATA_DIR: dataDir, PORTAL_ENV: 'production', BASE_URL: '', SMTP_URL: '' }, encoding: 'utf8' });
  const admin = run(['invite-admin', '--email', 'it@example.org']);
  assert.equal(admin.status, 0, admin.stderr);
  assert.match(admin.stdout.trim(), new RegExp(`^http://127\\.0\\.0\\.1:${port}/setup/[A-Za-z0-9_-]{43}$`));
  assert.match(admin.stderr, /written to the outbox, not sent/);
  const disabled = run(['disable-user', '--email', 'it@example.org']);
  assert.deepEqual([disabled.status, disabled.stdout, disabled.stderr], [0, '', 'it@example.org is disabled and signed out everywhere.\n']);
  const unknown = run(['enable-user', '--email', 'nobody@example.org']);
  assert.equal(unknown.status, 2);
  assert.match(unknown.stderr, /^enable-user: --email: no user has the email nobody@example\.org\nusage: portal enable-user --email E\n$/);
});
