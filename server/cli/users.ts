// The command line's people commands (issue 27, points 4 and 5): invitations and the user
// lifecycle, with the admin console's domain functions, audited as the command line.
// `invite-admin`, `invite-user`, `resend-invitation` and `reset-mfa` print the setup URL
// and mail it, and say on stderr what became of the mail: sent, not sent (and why), or
// written to the outbox because no SMTP_URL is set.
import type { Deps } from '../deps.ts';
import { cliActor } from '../audit/audit.ts';
import { setupUrl } from '../auth/invitations.ts';
import { findUserByEmail, inviteAdmin, inviteUser, isSetUp, reissueInvitation, resetMfa, setUserDisabled } from '../admin/users.ts';
import { assignManager, findApplicationByClientId, removeManager } from '../admin/applications.ts';
import { invitationMail, type InvitationKind } from '../admin/invitation-mail.ts';
import { sendRoleNotice } from '../admin/role-mail.ts';
import { parseEmail } from '../lib/validation.ts';
import { deliveryNote } from '../mail/mailer.ts';
import { applicationOf, fail, one, requireMailableBaseUrl, unwrap, type CommandSpec, type Flags, type Say } from './args.ts';

// The user named by --email, or exit code 2.
function userOf(deps: Deps, flags: Flags) {
  const raw = one(flags, 'email')!;
  const email = parseEmail(raw);
  if (!email.ok) return fail(`--email: ${email.message}`);
  return findUserByEmail(deps.db, email.value) ?? fail(`--email: no user has the email ${email.value}`);
}

// Mails the setup link and says what became of it; the link is printed either way.
async function mailSetupLink(deps: Deps, say: Say, userId: number, token: string, kind: InvitationKind): Promise<string> {
  const message = invitationMail(deps, userId, token, kind, cliActor);
  const to = message.to[0]!.address;
  const what = kind === 'invite' ? 'The invitation' : 'The new setup link';
  try {
    await deps.mailer.send(message);
    say(deps.mailer.kind === 'smtp' ? `${what} was sent to ${to}.` : `${what} for ${to} was ${deliveryNote(deps.mailer)}: give them the setup link below yourself.`);
  } catch (err) {
    say(`${what} could not be sent to ${to} (${(err as Error).message}): give them the setup link below yourself.`);
  }
  return setupUrl(deps.config.baseUrl, token);
}

async function inviteAdminCommand(deps: Deps, flags: Flags, say: Say): Promise<string> {
  requireMailableBaseUrl(deps);
  const existing = findUserByEmail(deps.db, one(flags, 'email') ?? '');
  if (existing) {
    // A pending administrator gets a new link; anyone else is said to exist.
    if (!existing.isAdmin) fail(`--email: ${existing.email} is a user of an organisation, not an administrator`);
    if (existing.disabledAt !== null) fail(`--email: the administrator ${existing.email} is disabled; enable-user --email ${existing.email} first`);
    if (isSetUp(existing)) fail(`--email: ${existing.email} is already an administrator and has finished setup (for a lost authenticator: reset-mfa --email ${existing.email})`);
    const { token } = unwrap(reissueInvitation(deps.db, deps.clock, cliActor, existing.id));
    say(`${existing.email} was invited before and has not finished setup: a new setup link replaces the earlier one.`);
    return mailSetupLink(deps, say, existing.id, token, 'resend');
  }
  const r = unwrap(inviteAdmin(deps.db, deps.clock, cliActor, { email: one(flags, 'email'), name: one(flags, 'name') }));
  return mailSetupLink(deps, say, r.userId, r.token, 'invite');
}

async function inviteUserCommand(deps: Deps, flags: Flags, say: Say): Promise<string> {
  requireMailableBaseUrl(deps);
  const r = unwrap(
    inviteUser(deps.db, deps.clock, cliActor, { organisationId: one(flags, 'organisation'), email: one(flags, 'email'), name: one(flags, 'name'), managerOf: flags.get('manager-of') ?? [] }),
  );
  return mailSetupLink(deps, say, r.userId, r.token, 'invite');
}

async function resendInvitationCommand(deps: Deps, flags: Flags, say: Say): Promise<string> {
  requireMailableBaseUrl(deps);
  const user = userOf(deps, flags);
  const { token } = unwrap(reissueInvitation(deps.db, deps.clock, cliActor, user.id), { user: 'email' });
  return mailSetupLink(deps, say, user.id, token, 'resend');
}

async function resetMfaCommand(deps: Deps, flags: Flags, say: Say): Promise<string> {
  requireMailableBaseUrl(deps);
  const user = userOf(deps, flags);
  if (!isSetUp(user) && user.disabledAt === null) fail(`--email: ${user.email} has not finished setup; resend-invitation --email ${user.email} sends a new setup link`);
  const { token } = unwrap(resetMfa(deps.db, deps.clock, cliActor, user.id), { user: 'email' });
  say(`Two-step verification of ${user.email} was reset: password, authenticator app, recovery codes and passkeys removed, sessions ended.`);
  return mailSetupLink(deps, say, user.id, token, 'reset');
}

function setDisabledCommand(disabled: boolean) {
  return (deps: Deps, flags: Flags, say: Say): string => {
    const user = userOf(deps, flags);
    if ((user.disabledAt !== null) === disabled) {
      say(`${user.email} was already ${disabled ? 'disabled' : 'enabled'}.`);
      return '';
    }
    unwrap(setUserDisabled(deps.db, deps.clock, cliActor, user.id, disabled), { user: 'email' });
    say(disabled ? `${user.email} is disabled and signed out everywhere.` : `${user.email} is enabled.`);
    return '';
  };
}

function grantManagerCommand(deps: Deps, flags: Flags, say: Say): string {
  const user = userOf(deps, flags);
  const app = applicationOf(deps, flags);
  const r = unwrap(assignManager(deps.db, deps.clock, cliActor, app, user.id), { user: 'email' });
  if (!r.added) {
    say(`${user.email} was already a credential manager of ${app.name}.`);
    return '';
  }
  sendRoleNotice(deps, user.id, app, 'granted', cliActor);
  say(`${user.email} is now a credential manager of ${app.name}.`);
  return '';
}

function revokeManagerCommand(deps: Deps, flags: Flags, say: Say): string {
  const user = userOf(deps, flags);
  const clientId = one(flags, 'client-id')!;
  // A disabled application's managers may still be removed.
  const app = findApplicationByClientId(deps.db, clientId) ?? fail(`--client-id: no application has the client ID "${clientId}"`);
  unwrap(removeManager(deps.db, deps.clock, cliActor, app, user.id), { user: 'email' });
  sendRoleNotice(deps, user.id, app, 'revoked', cliActor);
  say(`${user.email} is no longer a credential manager of ${app.name}.`);
  return '';
}

const byEmail = { flags: { email: 'value' as const }, required: ['email'] };
const byEmailAndApp = { flags: { email: 'value' as const, 'client-id': 'value' as const }, required: ['email', 'client-id'] };

export const userCommands: Record<string, CommandSpec> = {
  'invite-admin': { usage: 'invite-admin --email E [--name N]', flags: { email: 'value', name: 'value' }, required: ['email'], run: inviteAdminCommand },
  'invite-user': {
    usage: 'invite-user --organisation ID --email E [--name N] [--manager-of CLIENT_ID ...]',
    flags: { organisation: 'value', email: 'value', name: 'value', 'manager-of': 'repeat' },
    required: ['organisation', 'email'],
    run: inviteUserCommand,
  },
  'resend-invitation': { usage: 'resend-invitation --email E', ...byEmail, run: resendInvitationCommand },
  'reset-mfa': { usage: 'reset-mfa --email E', ...byEmail, run: resetMfaCommand },
  'disable-user': { usage: 'disable-user --email E', ...byEmail, run: setDisabledCommand(true) },
  'enable-user': { usage: 'enable-user --email E', ...byEmail, run: setDisabledCommand(false) },
  'grant-manager': { usage: 'grant-manager --email E --client-id ID', ...byEmailAndApp, run: grantManagerCommand },
  'revoke-manager': { usage: 'revoke-manager --email E --client-id ID', ...byEmailAndApp, run: revokeManagerCommand },
};
