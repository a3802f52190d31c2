// The second step of signing in: a TOTP code (the current or previous 30-second step,
// each step once) or a single-use recovery code. Five wrong codes lock the second step
// for 15 minutes, counted on the user (not the session), in one IMMEDIATE transaction.
import { eq, sql } from 'drizzle-orm';
import { immediate } from '../../db/client.ts';
import { users } from '../../db/schema.ts';
import type { Deps } from '../deps.ts';
import { decrypt } from '../lib/crypto.ts';
import { recordAudit, type AuditActor } from '../audit/audit.ts';
import { consumeTotpStep, isTotpCodeShape, matchTotpStep } from './totp.ts';
import { normaliseRecoveryCode, useRecoveryCode } from './recovery-codes.ts';

export const MAX_TOTP_FAILURES = 5;
export const TOTP_LOCK_MS = 15 * 60 * 1000;

type UserRow = typeof users.$inferSelect;

export type SecondStepOutcome =
  | { kind: 'accepted'; method: 'totp' | 'recovery_code' }
  | { kind: 'locked'; retryAfterSeconds: number; justNow: boolean }
  | { kind: 'wrong'; triesLeft: number };

// What a person is told after a wrong code: how many tries are left before the lock.
export function wrongCodeMessage(outcome: { triesLeft: number }): string {
  const n = outcome.triesLeft;
  return `That code is not valid. Enter the current 6-digit code from your authenticator app, or a recovery code. ${n} ${n === 1 ? 'try' : 'tries'} left before verification is locked for ${TOTP_LOCK_MS / 60_000} minutes.`;
}

export function verifySecondStep(deps: Pick<Deps, 'db' | 'clock' | 'masterKey' | 'logger'>, user: UserRow, codeInput: unknown, actor: AuditActor): SecondStepOutcome {
  const { db, clock, logger } = deps;
  const now = clock.now();
  if (user.totpLockedUntil !== null && user.totpLockedUntil > now) {
    logger.warn('second step locked', { userId: user.id });
    recordAudit(db, clock, actor, { action: 'login.mfa_locked', organisationId: user.organisationId });
    return { kind: 'locked', retryAfterSeconds: Math.ceil((user.totpLockedUntil - now) / 1000), justNow: false };
  }
  const code = typeof codeInput === 'string' ? codeInput.trim() : '';
  let accepted = false;
  let method: 'totp' | 'recovery_code' = 'totp';
  if (isTotpCodeShape(code) && user.totpSecret) {
    const step = matchTotpStep(decrypt(deps.masterKey, user.totpSecret), code, now);
    accepted = step !== null && consumeTotpStep(db, user.id, step);
  } else if (normaliseRecoveryCode(code)) {
    method = 'recovery_code';
    accepted = useRecoveryCode(db, user.id, code, now);
  }
  if (accepted) {
    db.update(users).set({ failedTotpCount: 0, totpLockedUntil: null }).where(eq(users.id, user.id)).run();
    return { kind: 'accepted', method };
  }
  let count = 0;
  const locked = immediate(db, () => {
    const row = db
      .update(users)
      .set({ failedTotpCount: sql`${users.failedTotpCount} + 1` })
      .where(eq(users.id, user.id))
      .returning({ count: users.failedTotpCount })
      .get();
    count = row?.count ?? 0;
    if (row && row.count >= MAX_TOTP_FAILURES) {
      db.update(users).set({ failedTotpCount: 0, totpLockedUntil: now + TOTP_LOCK_MS }).where(eq(users.id, user.id)).run();
      return true;
    }
    return false;
  });
  recordAudit(db, clock, actor, { action: 'login.mfa_failed', organisationId: user.organisationId, details: { locked } });
  if (!locked) return { kind: 'wrong', triesLeft: Math.max(1, MAX_TOTP_FAILURES - count) };
  logger.warn('second step locked after failures', { userId: user.id });
  return { kind: 'locked', retryAfterSeconds: TOTP_LOCK_MS / 1000, justNow: true };
}
