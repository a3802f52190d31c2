// "Your password was changed" and its siblings: told to the user whose account changed,
// with who did it, when and from where, and whom to contact if it was not them.
import type { users } from '../../db/schema.ts';
import type { Deps } from '../deps.ts';
import type { AuditActor } from '../audit/audit.ts';
import { formatDateTime } from '../lib/dates.ts';
import { renderEmail } from '../mail/emails.ts';

export type AccountChange = 'password' | 'password-reset' | 'authenticator' | 'recovery-codes' | 'passkey-added' | 'passkey-removed' | 'sessions-ended';

const SUBJECTS: Record<AccountChange, string> = {
  password: 'Your password was changed',
  'password-reset': 'Your password was reset',
  authenticator: 'Your authenticator app was replaced',
  'recovery-codes': 'New recovery codes were made for your account',
  'passkey-added': 'A passkey was added to your account',
  'passkey-removed': 'A passkey was removed from your account',
  'sessions-ended': 'Your other sessions were ended',
};

// Once the change is committed, in the background (mailer.sendAfter): a mail failure is
// logged, never felt by the request.
export function sendAccountNotice(deps: Pick<Deps, 'config' | 'clock' | 'mailer'>, user: typeof users.$inferSelect, change: AccountChange, actor: AuditActor, detail = ''): void {
  const { config } = deps;
  const subject = SUBJECTS[change];
  const model = {
    subject,
    lead: `${subject} on the Credentials Portal${detail ? `: ${detail}` : ''}.`,
    when: formatDateTime(deps.clock.now(), config.timezone),
    ip: actor.ip ?? 'unknown',
    link: `${config.baseUrl}/account`,
    supportEmail: config.supportEmail,
    footer: 'You receive this because your account changed.',
  };
  deps.mailer.sendAfter(() => ({ to: [{ name: user.displayName, address: user.email }], subject, ...renderEmail('account', model) }), 'account notice', { userId: user.id });
}
