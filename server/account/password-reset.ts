// "Forgot your password?": a mailed single-use link, valid RESET_LIFETIME_MS, stored as a
// SHA-256 hash (never the token itself, never logged). Asking gives the same answer
// whether or not the address has an account; an account gets at most
// MAX_LINKS_PER_HOUR links an hour (beyond that, silently none). A newer link does not void
// the older ones (a stranger asking for the owner's address must not kill the link the owner
// is about to use); each works once, and a reset done with any of them voids the rest. The
// link alone changes nothing: the page asks for a code, a recovery code or a passkey first
// (the second step, with its lock-out), then a new password under the same rules as setup
// and the account page. Done: every link is used up, every session of the user ends and a
// notice is mailed.
import { and, eq, gt, isNull, sql } from 'drizzle-orm';
import { immediate } from '../../db/client.ts';
import { passwordResets, users } from '../../db/schema.ts';
import type { Deps } from '../deps.ts';
import { randomToken, sha256Hex } from '../lib/crypto.ts';
import { parseEmail } from '../lib/validation.ts';
import { invalid, refused, success, type DomainResult } from '../lib/result.ts';
import { recordAudit, type AuditActor } from '../audit/audit.ts';
import { renderEmail } from '../mail/emails.ts';
import { sendAccountNotice } from './notices.ts';
import { hashPassword, newPasswordProblem } from '../auth/passwords.ts';
import { revokeUserSessions } from '../auth/session-store.ts';

export const RESET_LIFETIME_MS = 30 * 60 * 1000;
export const MAX_LINKS_PER_HOUR = 3;
export const RESET_PATH = '/password/reset';

type UserRow = typeof users.$inferSelect;
type ResetDeps = Pick<Deps, 'db' | 'clock' | 'config' | 'mailer'>;

// Only an account that finished setup and is not disabled can reset its password.
const canReset = (u: UserRow | undefined): u is UserRow => !!u && u.disabledAt === null && u.passwordHash !== null;

// Mails a link when the address has an account that may have one; otherwise does nothing,
// and says nothing different. Returns whether a link was mailed (audit and tests only).
export function requestPasswordReset(deps: ResetDeps, emailInput: string, ip: string | null): boolean {
  const { db, clock, config } = deps;
  const email = parseEmail(emailInput);
  const user = email.ok ? db.select().from(users).where(eq(users.email, email.value)).get() : undefined;
  const now = clock.now();
  const actor: AuditActor = { userId: null, label: 'anonymous', ip };
  let mailed = false;
  let token = '';
  if (canReset(user)) {
    mailed = immediate(db, () => {
      const recent = db
        .select({ n: sql<number>`count(*)` })
        .from(passwordResets)
        .where(and(eq(passwordResets.userId, user.id), gt(passwordResets.createdAt, now - 3_600_000)))
        .get()!.n;
      if (recent >= MAX_LINKS_PER_HOUR) return false;
      token = randomToken();
      db.insert(passwordResets).values({ userId: user.id, tokenHash: sha256Hex(token), createdAt: now, expiresAt: now + RESET_LIFETIME_MS }).run();
      return true;
    });
  }
  recordAudit(db, clock, actor, { action: 'password.reset_requested', organisationId: user?.organisationId ?? null, target: emailInput.trim().slice(0, 254), details: { mailed } });
  if (mailed && user) {
    const model = {
      subject: 'Choose a new password for the Credentials Portal',
      name: user.displayName,
      url: `${config.baseUrl}${RESET_PATH}/${token}`,
      minutes: RESET_LIFETIME_MS / 60_000,
      ip: ip ?? 'unknown',
      supportEmail: config.supportEmail,
      footer: 'You receive this because someone asked to reset the password of your account.',
    };
    deps.mailer.sendAfter(() => ({ to: [{ name: user.displayName, address: user.email }], subject: model.subject, ...renderEmail('password-reset', model) }), 'password reset mail', { userId: user.id });
  }
  return mailed;
}

export type ResetLookup = { status: 'valid'; resetId: number; user: UserRow } | { status: 'unknown' | 'used' | 'expired' };

export function findPasswordReset(deps: Pick<Deps, 'db' | 'clock'>, by: { token: string } | { id: number }): ResetLookup {
  const { db, clock } = deps;
  if ('token' in by && !/^[A-Za-z0-9_-]{20,100}$/.test(by.token)) return { status: 'unknown' };
  const row = db
    .select()
    .from(passwordResets)
    .innerJoin(users, eq(users.id, passwordResets.userId))
    .where('token' in by ? eq(passwordResets.tokenHash, sha256Hex(by.token)) : eq(passwordResets.id, by.id))
    .get();
  if (!row) return { status: 'unknown' };
  if (row.password_resets.usedAt !== null) return { status: 'used' };
  if (row.password_resets.expiresAt <= clock.now() || !canReset(row.users)) return { status: 'expired' };
  return { status: 'valid', resetId: row.password_resets.id, user: row.users };
}

// The new password, once the second factor was proven: the link is used up, the password
// replaced and every session of the user ended in one transaction; then the notice.
export async function completePasswordReset(
  deps: ResetDeps,
  reset: { resetId: number; user: UserRow },
  input: { password: unknown; confirm: unknown },
  actor: AuditActor,
): Promise<DomainResult<{ endedSessions: number }>> {
  const { db, clock } = deps;
  const { user } = reset;
  const problem = newPasswordProblem(input.password, input.confirm, user.email);
  if (problem) return invalid({ password: problem });
  const passwordHash = await hashPassword(input.password as string);
  const now = clock.now();
  const endedSessions = immediate(db, () => {
    const used = db
      .update(passwordResets)
      .set({ usedAt: now })
      .where(and(eq(passwordResets.id, reset.resetId), isNull(passwordResets.usedAt), gt(passwordResets.expiresAt, now)))
      .run().changes;
    if (used !== 1) return null;
    // The other links of the account die with this reset.
    db.update(passwordResets).set({ usedAt: now }).where(and(eq(passwordResets.userId, user.id), isNull(passwordResets.usedAt))).run();
    db.update(users).set({ passwordHash }).where(eq(users.id, user.id)).run();
    const n = revokeUserSessions(db, clock, user.id);
    recordAudit(db, clock, actor, { action: 'password.reset', organisationId: user.organisationId, details: { endedSessions: n } });
    return n;
  });
  if (endedSessions === null) return refused('This link has already been used or has expired. Ask for a new one.', 410);
  sendAccountNotice(deps, user, 'password-reset', actor, 'with the link mailed to you and your second factor; every session of your account was ended');
  return success({ endedSessions });
}
