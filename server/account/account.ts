// The signed-in user's own account: password, authenticator app, recovery codes,
// sessions and recent activity. Every change needs a fresh proof (the current password
// and/or a code, counted against the same limits as signing in), is audited, and is
// told to the user by mail.
import crypto from 'node:crypto';
import { and, desc, eq, gt, isNull, like, or, sql } from 'drizzle-orm';
import { immediate } from '../../db/client.ts';
import { auditEvents, recoveryCodes, sessions, users } from '../../db/schema.ts';
import type { Deps } from '../deps.ts';
import { encrypt } from '../crypto.ts';
import { recordAudit, type AuditActor } from '../audit/audit.ts';
import { hashPassword, passwordProblem, verifyPassword } from '../auth/passwords.ts';
import { matchTotpStep } from '../auth/totp.ts';
import { generateRecoveryCodes, replaceRecoveryCodes } from '../auth/recovery-codes.ts';
import { verifySecondStep } from '../auth/second-step.ts';
import { IDLE_TIMEOUT_MS } from '../auth/session-store.ts';
import type { RateLimiter } from '../http/rate-limit.ts';
import { failure, invalid, success, type DomainResult, type FieldErrors } from '../result.ts';
import { sendAccountNotice } from './notices.ts';

type UserRow = typeof users.$inferSelect;
export type AccountDeps = Pick<Deps, 'db' | 'clock' | 'config' | 'masterKey' | 'logger' | 'mailer'>;

export function findAccount(deps: Pick<Deps, 'db'>, userId: number): UserRow | undefined {
  return deps.db.select().from(users).where(eq(users.id, userId)).get();
}

// The current password (limited per address like sign-in), then a code from the
// authenticator app or a recovery code (limited per user like the second step).
// `throttled`: a limit (per address or per user) refused the attempt.
async function proveIdentity(deps: AccountDeps, user: UserRow, input: { current?: unknown; code: unknown }, actor: AuditActor, limiter: RateLimiter | null): Promise<{ errors: FieldErrors; throttled: boolean }> {
  const errors: FieldErrors = {};
  if (input.current !== undefined && limiter) {
    const ip = actor.ip ?? 'unknown';
    const limit = limiter.hit(ip);
    if (!limit.allowed) return { errors: { current: `Too many attempts from your network. Try again in ${Math.ceil(limit.retryAfterSeconds / 60)} minutes.` }, throttled: true };
    const ok = typeof input.current === 'string' && user.passwordHash !== null && (await verifyPassword(user.passwordHash, input.current));
    if (ok) limiter.release(ip);
    else {
      errors.current = 'Your current password is not correct.';
      recordAudit(deps.db, deps.clock, actor, { action: 'account.password_check_failed', organisationId: user.organisationId });
    }
  }
  const step = verifySecondStep(deps, user, input.code, actor);
  if (step.kind === 'locked') errors.code = `Too many wrong codes. Verification is locked; try again in ${Math.ceil(step.retryAfterSeconds / 60)} minutes.`;
  else if (step.kind === 'wrong') errors.code = 'That code is not valid. Enter the current 6-digit code from your authenticator app, or a recovery code.';
  return { errors, throttled: step.kind === 'locked' };
}

export async function changePassword(
  deps: AccountDeps,
  user: UserRow,
  input: { current: unknown; code: unknown; password: unknown; confirm: unknown },
  currentSid: string,
  actor: AuditActor,
  limiter: RateLimiter,
): Promise<DomainResult<null>> {
  const password = typeof input.password === 'string' ? input.password : '';
  const errors: FieldErrors = {};
  const problem = passwordProblem(password, user.email);
  if (problem) errors.password = problem;
  else if (password !== input.confirm) errors.password = 'The two new passwords do not match.';
  if (errors.password) return invalid(errors);
  const proof = await proveIdentity(deps, user, input, actor, limiter);
  if (Object.keys(proof.errors).length) return invalid(proof.errors, proof.throttled ? 429 : 401);
  const passwordHash = await hashPassword(password);
  const { db, clock } = deps;
  const ended = immediate(db, () => {
    db.update(users).set({ passwordHash }).where(eq(users.id, user.id)).run();
    const n = endOtherSessions(deps, user.id, currentSid);
    recordAudit(db, clock, actor, { action: 'account.password_changed', organisationId: user.organisationId, details: { endedSessions: n } });
    return n;
  });
  await sendAccountNotice(deps, user, 'password', actor);
  deps.logger.info('password changed', { userId: user.id, endedSessions: ended });
  return success(null);
}

// Replacing the authenticator app, step 1: prove the current factor; a new seed follows.
export async function proveForNewAuthenticator(deps: AccountDeps, user: UserRow, code: unknown, actor: AuditActor): Promise<DomainResult<null>> {
  const { errors } = await proveIdentity(deps, user, { code }, actor, null);
  return Object.keys(errors).length ? invalid(errors, 401) : success(null);
}

// Step 2: the first code of the new app confirms the new seed; the old one is void at once.
export async function confirmNewAuthenticator(deps: AccountDeps, user: UserRow, seed: string, code: unknown, actor: AuditActor): Promise<DomainResult<null>> {
  const { db, clock } = deps;
  const step = typeof code === 'string' ? matchTotpStep(seed, code.trim(), clock.now()) : null;
  if (step === null) return failure('newCode', 'That code is not valid. Enter the 6-digit code the new app shows now.');
  db.update(users).set({ totpSecret: encrypt(deps.masterKey, seed), totpLastStep: step, failedTotpCount: 0, totpLockedUntil: null }).where(eq(users.id, user.id)).run();
  recordAudit(db, clock, actor, { action: 'account.authenticator_replaced', organisationId: user.organisationId });
  await sendAccountNotice(deps, user, 'authenticator', actor);
  return success(null);
}

export async function regenerateRecoveryCodes(deps: AccountDeps, user: UserRow, code: unknown, actor: AuditActor): Promise<DomainResult<string[]>> {
  const { errors } = await proveIdentity(deps, user, { code }, actor, null);
  if (Object.keys(errors).length) return invalid(errors, 401);
  const codes = generateRecoveryCodes();
  immediate(deps.db, () => {
    replaceRecoveryCodes(deps.db, user.id, codes);
    recordAudit(deps.db, deps.clock, actor, { action: 'account.recovery_codes_replaced', organisationId: user.organisationId });
  });
  await sendAccountNotice(deps, user, 'recovery-codes', actor);
  return success(codes);
}

export function remainingRecoveryCodes(deps: Pick<Deps, 'db'>, userId: number): number {
  return deps.db.select({ n: sql<number>`count(*)` }).from(recoveryCodes).where(and(eq(recoveryCodes.userId, userId), isNull(recoveryCodes.usedAt))).get()?.n ?? 0;
}

// Sessions are named to the page by a hash of their id, never the id itself.
export const sessionHandle = (sid: string) => crypto.createHash('sha256').update(sid).digest('base64url').slice(0, 22);

export function listSessions(deps: Pick<Deps, 'db' | 'clock'>, userId: number, currentSid: string) {
  const now = deps.clock.now();
  return deps.db
    .select()
    .from(sessions)
    .where(and(eq(sessions.userId, userId), isNull(sessions.revokedAt), gt(sessions.expiresAt, now)))
    .orderBy(desc(sessions.expiresAt))
    .all()
    .map((s) => ({ handle: sessionHandle(s.sid), current: s.sid === currentSid, startedAt: s.createdAt, lastSeenAt: s.expiresAt - IDLE_TIMEOUT_MS, ip: s.ip ?? '', userAgent: s.userAgent ?? '' }));
}

export function endSession(deps: Pick<Deps, 'db' | 'clock'>, userId: number, handle: string, currentSid: string, actor: AuditActor): boolean {
  const target = deps.db.select({ sid: sessions.sid }).from(sessions).where(and(eq(sessions.userId, userId), isNull(sessions.revokedAt))).all().find((s) => sessionHandle(s.sid) === handle);
  if (!target || target.sid === currentSid) return false;
  deps.db.update(sessions).set({ revokedAt: deps.clock.now() }).where(eq(sessions.sid, target.sid)).run();
  recordAudit(deps.db, deps.clock, actor, { action: 'account.session_ended' });
  return true;
}

export function endOtherSessions(deps: Pick<Deps, 'db' | 'clock'>, userId: number, currentSid: string): number {
  return deps.db
    .update(sessions)
    .set({ revokedAt: deps.clock.now() })
    .where(and(eq(sessions.userId, userId), isNull(sessions.revokedAt), sql`${sessions.sid} <> ${currentSid}`))
    .run().changes;
}

// Sign-ins, failed attempts and account changes of this user, newest first.
export function recentActivity(deps: Pick<Deps, 'db'>, user: UserRow, limit = 20) {
  return deps.db
    .select()
    .from(auditEvents)
    .where(
      or(
        and(eq(auditEvents.actorUserId, user.id), or(like(auditEvents.action, 'login.%'), like(auditEvents.action, 'account.%'), eq(auditEvents.action, 'logout'))),
        and(eq(auditEvents.action, 'login.failed'), eq(auditEvents.target, user.email)),
      ),
    )
    .orderBy(desc(auditEvents.at), desc(auditEvents.id))
    .limit(limit)
    .all();
}
