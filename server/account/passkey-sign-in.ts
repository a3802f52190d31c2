// Signing in with a passkey (JSON endpoints for public/passkeys.js):
//   POST /login/passkey/options, POST /login/passkey          — a passkey alone (user verification)
//   POST /login/verify/passkey/options, POST /login/verify/passkey — the second step after the password
// A refusal is a plain message and an audit event; never a 500.
import { Router } from 'express';
import express from 'express';
import { eq } from 'drizzle-orm';
import { users } from '../../db/schema.ts';
import type { Deps } from '../deps.ts';
import { recordAudit } from '../audit/audit.ts';
import { homeFor, toSessionUser } from '../auth/guards.ts';
import { pendingUserId, startSignedInSession } from '../auth/sessions.ts';
import { authenticationOptions, passkeysUnavailable, takeChallenge, verifyPasskey } from './passkeys.ts';

export function passkeySignInRoutes(deps: Deps): Router {
  const { db, clock } = deps;
  const router = Router();
  const json = express.json({ limit: '64kb' });

  for (const step of ['sign-in', 'second-step'] as const) {
    const base = step === 'sign-in' ? '/login/passkey' : '/login/verify/passkey';

    router.post(`${base}/options`, json, async (req, res) => {
      const unavailable = passkeysUnavailable(deps.config.baseUrl);
      if (unavailable) return res.status(409).json({ error: 'invalid_request', error_description: unavailable });
      const userId = step === 'sign-in' ? null : pendingUserId(req, clock.now());
      if (step === 'second-step' && userId === null) return res.status(401).json({ error: 'invalid_request', error_description: 'Sign in with your password first.' });
      const { options, pending } = await authenticationOptions(deps, userId);
      req.session.webauthn = pending;
      res.set('Cache-Control', 'no-store').json(options);
    });

    router.post(base, json, async (req, res) => {
      const pending = takeChallenge(req.session.webauthn, step, clock.now());
      delete req.session.webauthn; // single use
      if (step === 'second-step' && (pending?.userId ?? null) !== pendingUserId(req, clock.now())) {
        return res.status(401).json({ error: 'invalid_request', error_description: 'Sign in with your password first.' });
      }
      const result = await verifyPasskey(deps, pending, (req.body as { response?: unknown } | undefined)?.response);
      if (!result.ok) {
        recordAudit(db, clock, { label: 'anonymous', ip: req.ip ?? null }, { action: 'login.passkey_failed', details: { step } });
        return res.status(result.status).json({ error: 'invalid_grant', error_description: result.message });
      }
      const user = result.value;
      const sessionUser = toSessionUser(user);
      await startSignedInSession(req, sessionUser, clock.now());
      db.update(users).set({ lastSignInAt: clock.now(), failedTotpCount: 0, totpLockedUntil: null }).where(eq(users.id, user.id)).run();
      recordAudit(db, clock, { userId: user.id, label: user.email, ip: req.ip ?? null }, { action: 'login.success', organisationId: user.organisationId, details: { method: step === 'sign-in' ? 'passkey' : 'passkey_second_step' } });
      res.json({ ok: true, redirect: homeFor(sessionUser) });
    });
  }
  return router;
}
