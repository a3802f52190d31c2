// Mail about a person's role and an application's state (issue 27, points 2 and 4): the
// credential manager role granted or revoked (to the person), and an application disabled
// or enabled (to its credential managers who can sign in). Sent once the change is
// committed, in the background (mailer.sendAfter, the message built inside it): a failure
// is logged, never felt by the request or the command.
import { eq } from 'drizzle-orm';
import type { Deps } from '../deps.ts';
import { organisations, users } from '../../db/schema.ts';
import { actorName, type AuditActor } from '../audit/audit.ts';
import { managersOf, type Application } from '../credentials/applications.ts';
import { formatDateTime } from '../lib/dates.ts';
import { CREDENTIALS_PAGE } from '../lib/paths.ts';
import { renderEmail } from '../mail/emails.ts';
import type { MailMessage } from '../mail/mailer.ts';

type MailDeps = Pick<Deps, 'db' | 'clock' | 'config' | 'mailer'>;
type Recipient = { name: string; email: string };

const setUp = (u: { passwordHash: string | null; totpSecret: string | null }) => u.passwordHash !== null && u.totpSecret !== null;
const capitalise = (s: string) => s.charAt(0).toUpperCase() + s.slice(1);

function message(deps: MailDeps, to: Recipient[], subject: string, app: Application, actor: AuditActor, parts: { lead: string; next?: string; footer: string }): MailMessage {
  const { db, clock, config } = deps;
  const organisation = db.select({ name: organisations.name }).from(organisations).where(eq(organisations.id, app.organisationId)).get()?.name ?? '';
  const model = {
    subject,
    name: to.length === 1 ? to[0]!.name : '',
    lead: parts.lead,
    next: parts.next ?? '',
    applicationName: app.name,
    clientId: app.clientId,
    organisation,
    actor: actorName(actor),
    when: formatDateTime(clock.now(), config.timezone),
    linkLabel: 'Manage API credentials',
    link: `${config.baseUrl}${CREDENTIALS_PAGE}`,
    supportEmail: config.supportEmail,
    footer: parts.footer,
  };
  return { to: to.map((r) => ({ name: r.name, address: r.email })), subject, ...renderEmail('role', model) };
}

// "You are now a credential manager of …" or "… no longer …", to the person. Someone who
// has not finished setup is told that the role waits for it.
export function sendRoleNotice(deps: MailDeps, userId: number, app: Application, change: 'granted' | 'revoked', actor: AuditActor): void {
  deps.mailer.sendAfter(
    () => {
      const user = deps.db.select().from(users).where(eq(users.id, userId)).get();
      if (!user) throw new Error(`no user ${userId}`);
      const who = capitalise(actorName(actor));
      const granted = change === 'granted';
      const subject = granted ? `You are now a credential manager of ${app.name}` : `You are no longer a credential manager of ${app.name}`;
      return message(deps, [{ name: user.displayName, email: user.email }], subject, app, actor, {
        lead: granted
          ? `${who} made you a credential manager of ${app.name}: you can create and delete its client secrets and keys, and you receive its expiry reminders and security notices.`
          : `${who} removed your credential manager role for ${app.name}: you can no longer see or change its credentials, and you no longer receive its reminders and notices.`,
        next: granted && !setUp(user) ? 'Your account is not set up yet: finish setup with the link in your invitation (ask your administrator for a new one if it no longer works); the application is on your page after that.' : '',
        footer: 'You receive this because your role on the Credentials Portal changed.',
      });
    },
    'role notice',
    { userId, applicationId: app.id },
  );
}

// "… was disabled" (its credentials get no tokens) or "… enabled again", to the
// application's credential managers who can sign in (enabled, of its organisation, set up).
// Returns how many are told.
export function sendApplicationStateNotice(deps: MailDeps, app: Application, disabled: boolean, actor: AuditActor): number {
  const recipients = managersOf(deps.db, app.id, { organisationId: app.organisationId, setUpOnly: true });
  if (!recipients.length) return 0;
  deps.mailer.sendAfter(
    () => {
      const who = capitalise(actorName(actor));
      const subject = disabled ? `${app.name} was disabled` : `${app.name} was enabled again`;
      return message(deps, recipients, subject, app, actor, {
        lead: disabled
          ? `${who} disabled the application ${app.name}. From now on its client secrets and keys get no tokens, so every system that uses them stops working, and no new credential can be made for it. Its credentials are kept.`
          : `${who} enabled the application ${app.name} again. Its client secrets and keys that have not expired get tokens again.`,
        next: disabled ? `If you did not expect this, contact ${deps.config.supportEmail}.` : '',
        footer: 'You receive this because you are a credential manager.',
      });
    },
    'application state notice',
    { applicationId: app.id },
  );
  return recipients.length;
}
