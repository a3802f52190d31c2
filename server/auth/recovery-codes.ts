// Ten single-use recovery codes per user, shown once and stored as SHA-256 hashes
// (each has 50 random bits and the second step is throttled, so a fast hash suffices).
import { and, eq, isNull } from 'drizzle-orm';
import type { Db } from '../../db/client.ts';
import { recoveryCodes } from '../../db/schema.ts';
import { randomString, sha256Hex } from '../lib/crypto.ts';

export const RECOVERY_CODE_COUNT = 10;
// No 0/o, 1/l/i: codes get read off paper.
const RECOVERY_ALPHABET = 'abcdefghjkmnpqrstuvwxyz23456789';

export function generateRecoveryCodes(): string[] {
  return Array.from({ length: RECOVERY_CODE_COUNT }, () => {
    const raw = randomString(10, RECOVERY_ALPHABET);
    return `${raw.slice(0, 5)}-${raw.slice(5)}`;
  });
}

export function normaliseRecoveryCode(input: string): string | null {
  const compact = input.trim().toLowerCase().replace(/[\s-]/g, '');
  if (!/^[a-z0-9]{10}$/.test(compact)) return null;
  return `${compact.slice(0, 5)}-${compact.slice(5)}`;
}

export function replaceRecoveryCodes(db: Db, userId: number, codes: string[]): void {
  db.delete(recoveryCodes).where(eq(recoveryCodes.userId, userId)).run();
  db.insert(recoveryCodes)
    .values(codes.map((c) => ({ userId, codeHash: sha256Hex(c) })))
    .run();
}

// Marks the code used; of two simultaneous uses exactly one sees `changes === 1`.
export function useRecoveryCode(db: Db, userId: number, code: string, now: number): boolean {
  const normalised = normaliseRecoveryCode(code);
  if (!normalised) return false;
  const result = db
    .update(recoveryCodes)
    .set({ usedAt: now })
    .where(and(eq(recoveryCodes.userId, userId), eq(recoveryCodes.codeHash, sha256Hex(normalised)), isNull(recoveryCodes.usedAt)))
    .run();
  return result.changes === 1;
}
