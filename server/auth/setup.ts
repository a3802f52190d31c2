// Completing an invitation: a password that passes the rules and the first code of the
// authenticator app enrolled on the setup page. In one IMMEDIATE transaction the
// invitation is used, the password, TOTP seed and a fresh set of recovery codes are
// stored and any earlier session of the user ends.
import { eq } from 'drizzle-orm';
import { immediate } from '../../db/client.ts';
import { users } from '../../db/schema.ts';
import type { Deps } from '../deps.ts';
import { encrypt } from '../lib/crypto.ts';
import { recordAudit } from '../audit/audit.ts';
import { hashPassword, newPasswordProblem } from './passwords.ts';
import { matchTotpStep } from './totp.ts';
import { generateRecoveryCodes, replaceRecoveryCodes } from './recovery-codes.ts';
import { consumeInvitation } from './invitations.ts';
import { revokeUserSessions } from './session-store.ts';
import { invalid, refused, success, type DomainResult, type FieldErrors } from '../lib/result.ts';

type UserRow = typeof users.$inferSelect;

export interface SetupInput {
  password: string;
  confirm: string;
  code: string;
  seed: string; // the TOTP seed shown on the setup page (plain, from the session)
}

// The recovery codes (shown once); or the messages for the password and code fields;
// or 410 when another request used the invitation first, or it expired.
export type SetupOutcome = DomainResult<{ recoveryCodes: string[] }>;

export async function completeSetup(deps: Pick<Deps, 'db' | 'clock' | 'masterKey'>, invitation: { invitationId: number; user: UserRow }, input: SetupInput, ip: string | null): Promise<SetupOutcome> {
  const { db, clock } = deps;
  const { user } = invitation;
  const errors: FieldErrors = {};
  const problem = newPasswordProblem(input.password, input.confirm, user.email);
  if (problem) errors.password = problem;
  const step = matchTotpStep(input.seed, input.code.trim(), clock.now());
  if (step === null) errors.code = 'That code is not valid. Enter the 6-digit code your authenticator app shows now.';
  if (Object.keys(errors).length) return invalid(errors);

  const passwordHash = await hashPassword(input.password);
  const recoveryCodes = generateRecoveryCodes();
  const done = immediate(db, () => {
    if (!consumeInvitation(db, clock, invitation.invitationId)) return false;
    db.update(users)
      .set({ passwordHash, totpSecret: encrypt(deps.masterKey, input.seed), totpLastStep: step, failedTotpCount: 0, totpLockedUntil: null })
      .where(eq(users.id, user.id))
      .run();
    replaceRecoveryCodes(db, user.id, recoveryCodes);
    revokeUserSessions(db, clock, user.id);
    recordAudit(db, clock, { userId: user.id, label: user.email, ip }, { action: 'user.setup_complete', organisationId: user.organisationId });
    return true;
  });
  return done ? success({ recoveryCodes }) : refused('This setup link has already been used or has expired.', 410);
}
