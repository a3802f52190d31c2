// The mail that carries a one-time setup link: who invited the person, to which
// organisation, in which role, and for which applications. Sent after the invitation is
// committed, in the background (console.ts, mailer.sendAfter).
import { eq } from 'drizzle-orm';
import type { Db } from '../../db/client.ts';
import { organisations, users } from '../../db/schema.ts';
import type { Config } from '../lib/config.ts';
import { actorName, type AuditActor } from '../audit/audit.ts';
import { setupUrl } from '../auth/invitations.ts';
import { managedApplications } from '../credentials/applications.ts';
import { renderEmail } from '../mail/emails.ts';
import type { MailMessage } from '../mail/mailer.ts';

export type InvitationKind = 'invite' | 'resend' | 'reset';

export function invitationMail(deps: { db: Db; config: Config }, userId: number, token: string, kind: InvitationKind, invitedBy: AuditActor): MailMessage {
  const { db, config } = deps;
  const user = db.select().from(users).where(eq(users.id, userId)).get();
  if (!user) throw new Error(`no user ${userId} to invite`);
  const organisation = user.organisationId === null ? null : (db.select({ name: organisations.name }).from(organisations).where(eq(organisations.id, user.organisationId)).get()?.name ?? null);
  const applications = managedApplications(db, user).map((a) => a.name);
  const role = user.isAdmin
    ? 'an administrator of the Credentials Portal (the IT team)'
    : applications.length
      ? `credential manager of ${applications.join(', ')}`
      : `a member of ${organisation ?? 'your organisation'} (an administrator will assign your applications)`;
  const subject = kind === 'reset' ? 'Set up your authenticator again for the Credentials Portal' : 'Your invitation to the Credentials Portal';
  const who = actorName(invitedBy);
  const lead =
    kind === 'reset'
      ? `${capitalise(who)} reset the two-step verification of your Credentials Portal account. Use the link below to choose a password and connect your authenticator app again.`
      : `${capitalise(who)} invited you to the Credentials Portal${organisation ? ` for ${organisation}` : ''}, as ${role}.${kind === 'resend' ? ' This is a new link: any setup link you may have had before no longer works.' : ''}`;
  const model = {
    subject,
    lead,
    name: user.displayName,
    organisation: organisation ?? '',
    role,
    applications,
    url: setupUrl(config.baseUrl, token),
    supportEmail: config.supportEmail,
    footer: user.isAdmin
      ? 'You receive this because you were invited as an administrator of the Credentials Portal.'
      : 'You receive this because you were invited to manage your organisation’s API credentials.',
  };
  return { to: [{ name: user.displayName, address: user.email }], subject, ...renderEmail('invitation', model) };
}

const capitalise = (s: string) => s.charAt(0).toUpperCase() + s.slice(1);
