import type { Config } from '../config.ts';
import { setupUrl } from '../auth/invitations.ts';
import { renderEmail } from './emails.ts';
import type { Mailer } from './mailer.ts';

export type InvitationKind = 'invite' | 'resend' | 'reset';

// The mail that carries a one-time setup link.
export function sendInvitationMail(deps: { mailer: Mailer; config: Config }, user: { email: string; displayName: string }, token: string, kind: InvitationKind): Promise<void> {
  const subject = kind === 'reset' ? 'Set up your authenticator again for the Credentials Portal' : 'Your invitation to the Credentials Portal';
  const lead =
    kind === 'reset'
      ? 'An administrator reset the two-step verification of your Credentials Portal account. Use the link below to choose a password and connect your authenticator app again.'
      : 'You have been invited to the Credentials Portal, where you manage the client secrets of your organisation’s API applications.';
  const model = { subject, lead, name: user.displayName, url: setupUrl(deps.config.baseUrl, token), supportEmail: deps.config.supportEmail };
  return deps.mailer.send({ to: [{ name: user.displayName, address: user.email }], subject, ...renderEmail('invitation', model) });
}
