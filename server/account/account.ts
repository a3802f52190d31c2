// The signed-in user's own account: password, authenticator app, recovery codes,
// sessions and recent activity. Every change but ending sessions needs a fresh proof
// entered for it (the current password and/or a code, counted against the same limits
// as signing in); every change is audited and told to the user by mail.
import crypto from 'node:crypto';
import { and, desc, eq, gt, isNull, like, or, sql } from 'drizzle-orm';
import { immediate } from '../../db/client.ts';
import { auditEvents, recoveryCodes, sessions, users } from '../../db/schema.ts';
import type { Deps } from '../deps.ts';
import { encrypt } from '../lib/crypto.ts';
import { recordAudit, type AuditActor } from '../audit/audit.ts';
import { hashPassword, MIN_PASSWORD_LENGTH, passwordProblem, verifyPassword } from '../auth/passwords.ts';
import { isTotpCodeShape, matchTotpStep } from '../auth/totp.ts';
import { generateRecoveryCodes, normaliseRecoveryCode, replaceRecoveryCodes } from '../auth/recovery-codes.ts';
import { verifySecondStep } from '../auth/second-step.ts';
import { IDLE_TIMEOUT_MS } from '../auth/session-store.ts';
import type { RateLimiter } from '../http/rate-limit.ts';
import { failure, invalid, success, type DomainResult, type Failure, type FieldErrors } from '../lib/result.ts';
import { sendAccountNotice } from './notices.ts';

type UserRow = typeof users.$inferSelect;
export type AccountDeps = Pick<Deps, 'db' | 'clock' | 'config' | 'masterKey' | 'logger' | 'mailer'>;

export function findAccount(deps: Pick<Deps, 'db'>, userId: number): UserRow | undefined {
  return deps.db.select().from(users).where(eq(users.id, userId)).get();
}

// What a change asks the person to prove, entered for that very change (a sign-in does
// not count): the current password and a code (a password change), a code alone
// (proveCode: the authenticator app, recovery codes), or either one in one field (adding
// or removing a passkey). The password is limited per address like sign-in, a code per
// user like the second step; a missing password is a wrong one. The factors are checked
// in turn, a code only once the password has verified, so a refused request uses up no
// TOTP step and no recovery code.
export type StepUp = { kind: 'password-and-code'; current: unknown; code: unknown } | { kind: 'password-or-code'; proof: unknown };

type Check = { ok: true } | { ok: false; message: string; throttled: boolean };
const PASSED: Check = { ok: true };

const NOT_PASSWORD_NOR_CODE = 'That is neither your current password nor a valid code.';

async function checkPassword(deps: AccountDeps, user: UserRow, input: unknown, actor: AuditActor, limiter: RateLimiter): Promise<Check> {
  const ip = actor.ip ?? 'unknown';
  const limit = limiter.hit(ip);
  if (!limit.allowed) return { ok: false, message: `Too many attempts from your network. Try again in ${Math.ceil(limit.retryAfterSeconds / 60)} minutes.`, throttled: true };
  const ok = typeof input === 'string' && input !== '' && user.passwordHash !== null && (await verifyPassword(user.passwordHash, input));
  if (ok) {
    limiter.release(ip);
    return PASSED;
  }
  recordAudit(deps.db, deps.clock, actor, { action: 'account.password_check_failed', organisationId: user.organisationId });
  return { ok: false, message: 'Your current password is not correct.', throttled: false };
}

function checkCode(deps: AccountDeps, user: UserRow, input: unknown, actor: AuditActor): Check {
  const step = verifySecondStep(deps, user, input, actor);
  if (step.kind === 'accepted') return PASSED;
  if (step.kind === 'locked') return { ok: false, message: `Too many wrong codes. Verification is locked; try again in ${Math.ceil(step.retryAfterSeconds / 60)} minutes.`, throttled: true };
  return { ok: false, message: 'That code is not valid. Enter the current 6-digit code from your authenticator app, or a recovery code.', throttled: false };
}

// In the one-field form, a 6-digit code or a recovery code's shape is a code; anything
// else is a password. The two cannot overlap: a code is at most 11 characters, a
// password at least MIN_PASSWORD_LENGTH.
function looksLikeCode(input: string): boolean {
  return input.length < MIN_PASSWORD_LENGTH && (isTotpCodeShape(input.trim()) || normaliseRecoveryCode(input) !== null);
}

const refusal = (field: string, check: Check & { ok: false }, message = check.message) => invalid({ [field]: message }, check.throttled ? 429 : 401);

export function proveCode(deps: AccountDeps, user: UserRow, code: unknown, actor: AuditActor): Failure | null {
  const check = checkCode(deps, user, code, actor);
  return check.ok ? null : refusal('code', check);
}

// null when proven; otherwise the refusal, its message under the form's field.
export async function proveStepUp(deps: AccountDeps, user: UserRow, stepUp: StepUp, actor: AuditActor, limiter: RateLimiter): Promise<Failure | null> {
  switch (stepUp.kind) {
    case 'password-and-code': {
      const password = await checkPassword(deps, user, stepUp.current, actor, limiter);
      if (!password.ok) return refusal('current', password);
      const code = checkCode(deps, user, stepUp.code, actor);
      return code.ok ? null : refusal('code', code);
    }
    case 'password-or-code': {
      const proof = typeof stepUp.proof === 'string' ? stepUp.proof : '';
      if (proof.trim() === '') return failure('proof', 'Enter your current password or a code from your authenticator app.');
      const check = looksLikeCode(proof) ? checkCode(deps, user, proof, actor) : await checkPassword(deps, user, proof, actor, limiter);
      return check.ok ? null : refusal('proof', check, check.throttled ? check.message : NOT_PASSWORD_NOR_CODE);
    }
  }
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
  const refused = await proveStepUp(deps, user, { kind: 'password-and-code', current: input.current, code: input.code }, actor, limiter);
  if (refused) return refused;
  const passwordHash = await hashPassword(password);
  const { db, clock } = deps;
  const ended = immediate(db, () => {
    db.update(users).set({ passwordHash }).where(eq(users.id, user.id)).run();
    const n = revokeOtherSessions(deps, user.id, currentSid);
    recordAudit(db, clock, actor, { action: 'account.password_changed', organisationId: user.organisationId, details: { endedSessions: n } });
    return n;
  });
  sendAccountNotice(deps, user, 'password', actor);
  deps.logger.info('password changed', { userId: user.id, endedSessions: ended });
  return success(null);
}

// Replacing the authenticator app, step 1: prove the current factor; a new seed follows.
export function proveForNewAuthenticator(deps: AccountDeps, user: UserRow, code: unknown, actor: AuditActor): DomainResult<null> {
  return proveCode(deps, user, code, actor) ?? success(null);
}

// Step 2: the first code of the new app confirms the new seed; the old one is void at once.
export async function confirmNewAuthenticator(deps: AccountDeps, user: UserRow, seed: string, code: unknown, actor: AuditActor): Promise<DomainResult<null>> {
  const { db, clock } = deps;
  const step = typeof code === 'string' ? matchTotpStep(seed, code.trim(), clock.now()) : null;
  if (step === null) return failure('newCode', 'That code is not valid. Enter the 6-digit code the new app shows now.');
  db.update(users).set({ totpSecret: encrypt(deps.masterKey, seed), totpLastStep: step, failedTotpCount: 0, totpLockedUntil: null }).where(eq(users.id, user.id)).run();
  recordAudit(db, clock, actor, { action: 'account.authenticator_replaced', organisationId: user.organisationId });
  sendAccountNotice(deps, user, 'authenticator', actor);
  return success(null);
}

export async function regenerateRecoveryCodes(deps: AccountDeps, user: UserRow, code: unknown, actor: AuditActor): Promise<DomainResult<string[]>> {
  const refused = proveCode(deps, user, code, actor);
  if (refused) return refused;
  const codes = generateRecoveryCodes();
  immediate(deps.db, () => {
    replaceRecoveryCodes(deps.db, user.id, codes);
    recordAudit(deps.db, deps.clock, actor, { action: 'account.recovery_codes_replaced', organisationId: user.organisationId });
  });
  sendAccountNotice(deps, user, 'recovery-codes', actor);
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

// "End all other sessions": one click (it protects), but audited and mailed like every
// other change, since a stolen session could use it to shut the owner out. Nothing
// ended, nothing to tell.
export async function endOtherSessions(deps: AccountDeps, user: UserRow, currentSid: string, actor: AuditActor): Promise<number> {
  const { db, clock } = deps;
  const n = immediate(db, () => {
    const ended = revokeOtherSessions(deps, user.id, currentSid);
    if (ended) recordAudit(db, clock, actor, { action: 'account.sessions_ended', organisationId: user.organisationId, details: { endedSessions: ended } });
    return ended;
  });
  if (n) sendAccountNotice(deps, user, 'sessions-ended', actor, `${n} session${n === 1 ? '' : 's'}`);
  return n;
}

function revokeOtherSessions(deps: Pick<Deps, 'db' | 'clock'>, userId: number, currentSid: string): number {
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
