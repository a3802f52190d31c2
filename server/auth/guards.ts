// Guards at the top of protected routes, in a fixed order: signed in -> second
// factor done -> (admin). A half-signed-in session is sent back to the second step.
import type { NextFunction, Request, Response } from 'express';
import type { Deps } from '../deps.ts';
import type { users } from '../../db/schema.ts';
import type { AuditActor } from '../audit/audit.ts';
import { redirectTo } from '../http/htmx.ts';
import { CREDENTIALS_PAGE } from '../lib/paths.ts';
import { ABSOLUTE_TIMEOUT_MS } from './session-store.ts';

export interface SessionUser {
  id: number;
  email: string;
  displayName: string;
  isAdmin: boolean;
  organisationId: number | null;
}

export function currentUser(req: Request): SessionUser | null {
  return (req.user as SessionUser | undefined) ?? null;
}

// What a session keeps of a user row (the whole row at sign-in, or the columns Passport reads
// on every request).
export function toSessionUser(u: Pick<typeof users.$inferSelect, 'id' | 'email' | 'displayName' | 'isAdmin' | 'organisationId'>): SessionUser {
  return { id: u.id, email: u.email, displayName: u.displayName, isAdmin: u.isAdmin, organisationId: u.organisationId };
}

// Who did it, for the audit log and notices: the signed-in user (or anonymous) and the
// client address (req.ip, from TRUST_PROXY: http/client-address.ts).
export function actorOf(req: Request): AuditActor {
  const u = currentUser(req);
  return { userId: u?.id ?? null, label: u?.email ?? 'anonymous', name: u?.displayName, ip: req.ip ?? null };
}

export function requireSignedIn(deps: Deps) {
  return (req: Request, res: Response, next: NextFunction) => {
    const user = currentUser(req);
    const authAt = req.session?.authAt;
    if (user && authAt !== undefined && deps.clock.now() - authAt < ABSOLUTE_TIMEOUT_MS) return next();
    if (user) {
      // Past the absolute lifetime: end the session and start over.
      return req.session.destroy(() => redirectTo(req, res, '/login?expired=1'));
    }
    if (req.session?.pendingUserId !== undefined) return redirectTo(req, res, '/login/verify');
    redirectTo(req, res, '/login');
  };
}

export function homeFor(user: SessionUser): string {
  return user.isAdmin ? '/admin' : CREDENTIALS_PAGE;
}
