// What the console's confirmations say (issue 27, point 2): what stops at once, and for
// whom, before an administrator disables an application or a user, or resets a user's MFA.
import { and, eq, isNull, sql } from 'drizzle-orm';
import type { Db } from '../../db/client.ts';
import { applications, clientKeys, clientSecrets, credentialManagers, passkeys, users } from '../../db/schema.ts';
import type { Confirmation } from '../http/confirm.ts';
import { managersOf } from '../credentials/applications.ts';
import { findOrganisation } from './organisations.ts';

type App = typeof applications.$inferSelect;
type User = typeof users.$inferSelect;

const plural = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;
const list = (items: string[]) => (items.length <= 1 ? (items[0] ?? '') : `${items.slice(0, -1).join(', ')} and ${items.at(-1)}`);

export const userHome = (u: { organisationId: number | null }) => (u.organisationId === null ? '/admin/administrators' : `/admin/organisations/${u.organisationId}`);

function homeLabel(db: Db, u: User): string {
  return u.organisationId === null ? 'Administrators' : (findOrganisation(db, u.organisationId)?.name ?? 'Organisation');
}

export function disableApplicationConfirmation(db: Db, app: App): Confirmation {
  const secrets = db.select({ n: sql<number>`count(*)` }).from(clientSecrets).where(and(eq(clientSecrets.applicationId, app.id), isNull(clientSecrets.deletedAt))).get()?.n ?? 0;
  const keys = db.select({ n: sql<number>`count(*)` }).from(clientKeys).where(and(eq(clientKeys.applicationId, app.id), isNull(clientKeys.deletedAt))).get()?.n ?? 0;
  const managers = managersOf(db, app.id, { organisationId: app.organisationId }).map((m) => m.email);
  const org = findOrganisation(db, app.organisationId)?.name ?? '';
  const path = `/admin/applications/${app.id}`;
  return {
    title: `Disable the application ${app.name}?`,
    lead: `${app.name} of ${org}, client ID ${app.clientId}: ${plural(secrets, 'client secret')} and ${plural(keys, 'key')}.`,
    stops: [
      'Every system of the member that uses this application stops working at once: its secrets and keys get no new tokens, and tokens it already has are reported inactive to APIs that check them.',
      managers.length
        ? `Its credential managers (${list(managers)}) no longer see it on their page and cannot make new credentials for it; they are told by mail.`
        : 'It has no credential manager to tell.',
      'Enable application undoes this; the credentials are kept.',
    ],
    action: `${path}/disable`,
    button: 'Disable application',
    cancel: path,
    back: { href: path, label: app.name },
  };
}

// The applications a user manages, each with how many other enabled managers it keeps.
function managedWithOthers(db: Db, user: User): string[] {
  const apps = db.select({ id: applications.id, name: applications.name, organisationId: applications.organisationId }).from(credentialManagers).innerJoin(applications, eq(applications.id, credentialManagers.applicationId)).where(eq(credentialManagers.userId, user.id)).all();
  return apps.map((a) => {
    const others = managersOf(db, a.id, { organisationId: a.organisationId }).filter((m) => m.id !== user.id).length;
    return others ? `${a.name} (${plural(others, 'other manager')})` : `${a.name} (no other manager: nobody gets its reminders)`;
  });
}

export function disableUserConfirmation(db: Db, user: User): Confirmation {
  const managed = managedWithOthers(db, user);
  return {
    title: `Disable ${user.email}?`,
    lead: `${user.displayName ? `${user.displayName}, ` : ''}${user.isAdmin ? 'an administrator' : `a user of ${homeLabel(db, user)}`}.`,
    stops: [
      `${user.email} is signed out everywhere at once and cannot sign in, nor use a setup link, until enabled again.`,
      ...(managed.length ? [`They no longer get expiry reminders or notices for ${list(managed)}.`] : []),
      'The applications and their credentials keep working; Enable undoes this.',
    ],
    action: `/admin/users/${user.id}/disable`,
    button: 'Disable',
    cancel: userHome(user),
    back: { href: userHome(user), label: homeLabel(db, user) },
  };
}

export function resetMfaConfirmation(db: Db, user: User, mail: 'smtp' | 'outbox'): Confirmation {
  const keys = db.select({ n: sql<number>`count(*)` }).from(passkeys).where(eq(passkeys.userId, user.id)).get()?.n ?? 0;
  return {
    title: `Reset MFA of ${user.email}?`,
    lead: 'For someone who lost their authenticator app and recovery codes.',
    stops: [
      `Their password, authenticator app, recovery codes${keys ? ` and ${plural(keys, 'passkey')}` : ''} are removed, and every session of theirs ends at once.`,
      `They cannot sign in until they set up again with a new setup link, ${mail === 'smtp' ? `which is mailed to ${user.email}` : 'which is written to the outbox, not sent (no SMTP_URL is set): pass it on from the outbox page'}. Check first that the request really comes from them.`,
    ],
    action: `/admin/users/${user.id}/reset-mfa`,
    button: 'Reset MFA',
    cancel: userHome(user),
    back: { href: userHome(user), label: homeLabel(db, user) },
  };
}
