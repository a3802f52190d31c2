// Users are created by invitation only: by the CLI or the admin console.
import { and, eq, inArray, isNotNull, isNull, sql } from 'drizzle-orm';
import type { Db } from '../../db/client.ts';
import { immediate } from '../../db/client.ts';
import { applications, credentialManagers, recoveryCodes, users, passkeys } from '../../db/schema.ts';
import { revokeUserSessions } from '../auth/session-store.ts';
import type { Clock } from '../lib/clock.ts';
import { recordAudit, type AuditActor } from '../audit/audit.ts';
import { createInvitation } from '../auth/invitations.ts';
import { parseEmail, parseId } from '../lib/validation.ts';
import { findOrganisation } from './organisations.ts';
import { failure, type DomainResult } from '../lib/result.ts';

function parseDisplayName(input: unknown): DomainResult<string> {
  if (input === undefined || input === null || input === '') return { ok: true, value: '' };
  if (typeof input !== 'string' || input.trim().length > 100 || /[\u0000-\u001f\u007f-\u009f]/.test(input)) {
    return failure('name', 'A name is at most 100 characters, without control characters.');
  }
  return { ok: true, value: input.trim() };
}

export function inviteAdmin(db: Db, clock: Clock, actor: AuditActor, input: { email: unknown; name?: unknown }): DomainResult<{ userId: number; token: string }> {
  const email = parseEmail(input.email);
  if (!email.ok) return failure('email', email.message);
  const name = parseDisplayName(input.name);
  if (!name.ok) return name;
  return immediate(db, () => {
    if (db.select({ id: users.id }).from(users).where(eq(users.email, email.value)).get()) {
      return failure('email', `A user with the email ${email.value} already exists.`, 409);
    }
    const user = db
      .insert(users)
      .values({ email: email.value, displayName: name.value, isAdmin: true, createdAt: clock.now() })
      .returning({ id: users.id })
      .get();
    const token = createInvitation(db, clock, user.id);
    recordAudit(db, clock, actor, { action: 'user.invite', target: email.value, details: { admin: true } });
    return { ok: true, value: { userId: user.id, token } };
  });
}

export function inviteUser(
  db: Db,
  clock: Clock,
  actor: AuditActor,
  input: { organisationId: unknown; email: unknown; name?: unknown; managerOf?: unknown[] },
): DomainResult<{ userId: number; token: string }> {
  const organisationId = parseId(input.organisationId);
  if (organisationId === null || !findOrganisation(db, organisationId)) {
    return failure('organisation', 'Choose an existing organisation.');
  }
  const email = parseEmail(input.email);
  if (!email.ok) return failure('email', email.message);
  const name = parseDisplayName(input.name);
  if (!name.ok) return name;
  const clientIds = (input.managerOf ?? []).map((c) => (typeof c === 'string' ? c.trim() : ''));
  const apps = clientIds.length
    ? db.select().from(applications).where(inArray(applications.clientId, clientIds)).all()
    : [];
  for (const clientId of clientIds) {
    const app = apps.find((a) => a.clientId === clientId);
    if (!app) return failure('manager-of', `No application has the client ID "${clientId}".`);
    if (app.organisationId !== organisationId) {
      return failure('manager-of', `The application ${app.name} belongs to another organisation.`);
    }
    if (app.disabledAt !== null) return failure('manager-of', `The application ${app.name} is disabled.`);
  }
  return immediate(db, () => {
    if (db.select({ id: users.id }).from(users).where(eq(users.email, email.value)).get()) {
      return failure('email', `A user with the email ${email.value} already exists.`, 409);
    }
    const now = clock.now();
    const user = db
      .insert(users)
      .values({ email: email.value, displayName: name.value, organisationId, createdAt: now })
      .returning({ id: users.id })
      .get();
    for (const app of apps) {
      db.insert(credentialManagers).values({ userId: user.id, applicationId: app.id, createdAt: now }).onConflictDoNothing().run();
      recordAudit(db, clock, actor, { action: 'manager.assign', organisationId, applicationId: app.id, target: email.value });
    }
    const token = createInvitation(db, clock, user.id);
    recordAudit(db, clock, actor, { action: 'user.invite', organisationId, target: email.value });
    return { ok: true, value: { userId: user.id, token } };
  });
}

type UserRow = typeof users.$inferSelect;

export function findUser(db: Db, id: number): UserRow | undefined {
  return db.select().from(users).where(eq(users.id, id)).get();
}

export function findUserByEmail(db: Db, email: string): UserRow | undefined {
  return db.select().from(users).where(eq(users.email, email.trim().toLowerCase())).get();
}

export const isSetUp = (u: UserRow) => u.passwordHash !== null && u.totpSecret !== null;

// Administrators who can sign in: enabled and set up.
function activeAdminCount(db: Db): number {
  return db
    .select({ id: users.id })
    .from(users)
    .where(and(eq(users.isAdmin, true), isNull(users.disabledAt), isNotNull(users.passwordHash), isNotNull(users.totpSecret)))
    .all().length;
}

// What a production start says when no administrator can sign in yet (main.ts): the
// command that invites one (for someone invited before, it issues a new link).
export function firstAdminHint(db: Db, command: string): string | null {
  if (activeAdminCount(db) > 0) return null;
  return `No administrator can sign in yet. Invite one; the setup link is printed, and mailed when SMTP_URL is set:\n  ${command} invite-admin --email you@example.org --name "Your Name"\n`;
}

function wouldLeaveNoAdmin(db: Db, user: UserRow): boolean {
  const counts = user.isAdmin && user.disabledAt === null && user.passwordHash !== null && user.totpSecret !== null;
  return counts && activeAdminCount(db) <= 1;
}

// A new setup link for a user who has not finished setup; the old link dies.
export function reissueInvitation(db: Db, clock: Clock, actor: AuditActor, userId: number): DomainResult<{ token: string; user: UserRow }> {
  const user = findUser(db, userId);
  if (!user) return failure('user', 'No such user.', 404);
  if (user.disabledAt !== null) return failure('user', 'Enable the user before sending a new link.', 409);
  if (user.passwordHash !== null && user.totpSecret !== null) {
    return failure('user', 'This user has finished setup. Use “Reset MFA” to send a new setup link.', 409);
  }
  const token = immediate(db, () => {
    const t = createInvitation(db, clock, user.id);
    recordAudit(db, clock, actor, { action: 'user.invite_resend', organisationId: user.organisationId, target: user.email });
    return t;
  });
  return { ok: true, value: { token, user } };
}

export function setUserDisabled(db: Db, clock: Clock, actor: AuditActor, userId: number, disabled: boolean): DomainResult<UserRow> {
  const user = findUser(db, userId);
  if (!user) return failure('user', 'No such user.', 404);
  return immediate(db, () => {
    if (disabled && wouldLeaveNoAdmin(db, user)) {
      return failure('user', 'This is the last administrator who can sign in; the portal would have none.', 409);
    }
    db.update(users).set({ disabledAt: disabled ? clock.now() : null }).where(eq(users.id, userId)).run();
    // Disabling ends every session of the user at once.
    if (disabled) revokeUserSessions(db, clock, userId);
    recordAudit(db, clock, actor, { action: disabled ? 'user.disable' : 'user.enable', organisationId: user.organisationId, target: user.email });
    return { ok: true, value: user };
  });
}

// Removes the TOTP seed and recovery codes (and the password, which the setup page
// sets again), ends the user's sessions and issues a new setup link.
export function resetMfa(db: Db, clock: Clock, actor: AuditActor, userId: number): DomainResult<{ token: string; user: UserRow }> {
  const user = findUser(db, userId);
  if (!user) return failure('user', 'No such user.', 404);
  if (user.disabledAt !== null) return failure('user', 'Enable the user first.', 409);
  return immediate(db, () => {
    if (wouldLeaveNoAdmin(db, user)) {
      return failure('user', 'This is the last administrator who can sign in; reset MFA after another administrator is set up.', 409);
    }
    db.update(users).set({ totpSecret: null, totpLastStep: null, passwordHash: null, failedTotpCount: 0, totpLockedUntil: null }).where(eq(users.id, userId)).run();
    db.delete(recoveryCodes).where(eq(recoveryCodes.userId, userId)).run();
    db.delete(passkeys).where(eq(passkeys.userId, userId)).run(); // passkeys are factors too
    revokeUserSessions(db, clock, userId);
    const token = createInvitation(db, clock, userId);
    recordAudit(db, clock, actor, { action: 'user.reset_mfa', organisationId: user.organisationId, target: user.email });
    return { ok: true, value: { token, user } };
  });
}

export function listUsers(db: Db, organisationId: number | null) {
  const rows = db
    .select()
    .from(users)
    .where(organisationId === null ? isNull(users.organisationId) : eq(users.organisationId, organisationId))
    .orderBy(users.email)
    .all();
  return rows.map((u) => ({
    id: u.id,
    email: u.email,
    displayName: u.displayName,
    isAdmin: u.isAdmin,
    disabled: u.disabledAt !== null,
    setUp: u.passwordHash !== null && u.totpSecret !== null,
    lastSignInAt: u.lastSignInAt,
    // The factors, shown (not managed) in the console.
    factors: factorsOf(db, u),
  }));
}

// What a user signs in with: an authenticator app, recovery codes left, passkeys.
export function factorsOf(db: Db, u: UserRow): string {
  if (u.totpSecret === null) return 'none yet';
  const codes = db.select({ n: sql<number>`count(*)` }).from(recoveryCodes).where(and(eq(recoveryCodes.userId, u.id), isNull(recoveryCodes.usedAt))).get()?.n ?? 0;
  const keys = db.select({ n: sql<number>`count(*)` }).from(passkeys).where(eq(passkeys.userId, u.id)).get()?.n ?? 0;
  return `authenticator app, ${codes} recovery code${codes === 1 ? '' : 's'} left${keys ? `, ${keys} passkey${keys === 1 ? '' : 's'}` : ''}`;
}
