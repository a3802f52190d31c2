// Starting and saving sessions. A signed-in session gets a new id (passport regenerates
// it), the time of the sign-in, and where it came from, which the user sees on their
// account page.
import type { Request } from 'express';
import type { SessionUser } from './guards.ts';

declare module './session.ts' {
  interface SessionData {
    meta?: { ip: string; userAgent: string };
  }
}

// How long a password step stays good for finishing the second step.
export const PENDING_LIFETIME_MS = 10 * 60 * 1000;

// The user who gave the right password in this session and may now finish the second
// step (with a code or a passkey), or null.
export function pendingUserId(req: Request, now: number): number | null {
  const id = req.session?.pendingUserId;
  return typeof id === 'number' && now - (req.session.pendingAt ?? 0) <= PENDING_LIFETIME_MS ? id : null;
}

export function regenerate(req: Request): Promise<void> {
  return new Promise((resolve, reject) => req.session.regenerate((err) => (err ? reject(err) : resolve())));
}

export function saveSession(req: Request): Promise<void> {
  return new Promise((resolve, reject) => req.session.save((err) => (err ? reject(err) : resolve())));
}

export async function startSignedInSession(req: Request, user: SessionUser, now: number): Promise<void> {
  // passport >= 0.6 regenerates the session here: a new id after the second step.
  await new Promise<void>((resolve, reject) => req.login(user, (err) => (err ? reject(err) : resolve())));
  req.session.authAt = now;
  req.session.meta = { ip: req.ip ?? '', userAgent: (req.get('User-Agent') ?? '').slice(0, 300) };
  await saveSession(req);
}
