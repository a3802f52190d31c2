// One-time setup links: a random token, stored hashed, valid 72 hours, single use.
// A new invitation for a user makes their older, unused links worthless.
import { and, eq, gt, isNull } from 'drizzle-orm';
import type { Db } from '../../db/client.ts';
import { invitations, users } from '../../db/schema.ts';
import type { Clock } from '../lib/clock.ts';
import { randomToken, sha256Hex } from '../lib/crypto.ts';

export const INVITATION_LIFETIME_MS = 72 * 60 * 60 * 1000;

export function createInvitation(db: Db, clock: Clock, userId: number): string {
  const token = randomToken();
  const now = clock.now();
  db.update(invitations)
    .set({ usedAt: now })
    .where(and(eq(invitations.userId, userId), isNull(invitations.usedAt)))
    .run();
  db.insert(invitations)
    .values({ tokenHash: sha256Hex(token), userId, createdAt: now, expiresAt: now + INVITATION_LIFETIME_MS })
    .run();
  return token;
}

export function setupUrl(baseUrl: string, token: string): string {
  return `${baseUrl}/setup/${token}`;
}

export type InvitationLookup =
  | { status: 'valid'; invitationId: number; user: typeof users.$inferSelect }
  | { status: 'unknown' | 'used' | 'replaced' | 'expired' };

export function findInvitation(db: Db, clock: Clock, token: string): InvitationLookup {
  if (!/^[A-Za-z0-9_-]{20,100}$/.test(token)) return { status: 'unknown' };
  const row = db
    .select()
    .from(invitations)
    .innerJoin(users, eq(users.id, invitations.userId))
    .where(eq(invitations.tokenHash, sha256Hex(token)))
    .get();
  if (!row) return { status: 'unknown' };
  if (row.invitations.usedAt !== null) {
    // createInvitation voids the older link at the very instant it makes the newer one.
    const newer = db
      .select({ id: invitations.id })
      .from(invitations)
      .where(and(eq(invitations.userId, row.users.id), eq(invitations.createdAt, row.invitations.usedAt), gt(invitations.id, row.invitations.id)))
      .get();
    return { status: newer ? 'replaced' : 'used' };
  }
  if (row.invitations.expiresAt <= clock.now() || row.users.disabledAt !== null) return { status: 'expired' };
  return { status: 'valid', invitationId: row.invitations.id, user: row.users };
}

// Marks the invitation used; false when another request used it first or it expired.
export function consumeInvitation(db: Db, clock: Clock, invitationId: number): boolean {
  const now = clock.now();
  return (
    db
      .update(invitations)
      .set({ usedAt: now })
      .where(and(eq(invitations.id, invitationId), isNull(invitations.usedAt), gt(invitations.expiresAt, now)))
      .run().changes === 1
  );
}
