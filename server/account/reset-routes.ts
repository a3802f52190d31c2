// "Forgot your password?" (password-reset.ts): ask for a link, open it, prove the second
// factor, choose the new password. The token leaves the URL at once: GET
// /password/reset/:token keeps the link's id in the (server-side) session and redirects to
// /password/reset, so it stays out of history, Referer headers and the request log.
import express, { Router, type Request, type Response } from 'express';
import { and, eq, isNull } from 'drizzle-orm';
import { passkeys, recoveryCodes } from '../../db/schema.ts';
import type { Deps } from '../deps.ts';
import { formField } from '../http/form.ts';
import { layoutModel, sendHtml } from '../http/views.ts';
import { RateLimiter } from '../http/rate-limit.ts';
import { parseEmail } from '../lib/validation.ts';
import { recordAudit } from '../audit/audit.ts';
import { authenticationOptions, takeChallenge, verifyPasskey } from './passkeys.ts';
import { completePasswordReset, findPasswordReset, requestPasswordReset, RESET_LIFETIME_MS, RESET_PATH } from './password-reset.ts';
import { regenerate, saveSession } from '../auth/sessions.ts';
import { verifySecondStep, wrongCodeMessage } from '../auth/second-step.ts';

declare module '../auth/session.ts' {
  interface SessionData {
    // The reset link opened in this session, and whether its second factor was proven.
    passwordReset?: { id: number; proven: boolean };
  }
}

// Requests for a link per address: a person who mistypes, not someone mailing strangers.
export const RESET_REQUESTS_PER_IP = 5;
const RESET_WINDOW_MS = 15 * 60 * 1000;

const LINK_PROBLEMS = {
  unknown: 'This link is not valid. Check that you copied the whole link, or ask for a new one.',
  used: 'This link has already been used (a password reset with any of your links ends them all). Ask for a new link.',
  expired: `This link has expired (links work for ${RESET_LIFETIME_MS / 60_000} minutes). Ask for a new one.`,
};

export function passwordResetRoutes(deps: Deps): Router {
  const { db, clock, config, views } = deps;
  const router = Router();
  const limiter = new RateLimiter(RESET_REQUESTS_PER_IP, RESET_WINDOW_MS, clock);
  // In production without SMTP_URL a link would never arrive: the page says so instead of
  // pretending (in the sandbox the outbox is where mail is read).
  const noMail = config.portalEnv === 'production' && deps.mailer.kind === 'outbox';
  const page = (req: Request, res: Response, template: string, title: string, model: object, status = 200) => {
    res.set('Cache-Control', 'no-store');
    sendHtml(res, views.render(`/pages/auth/${template}`, { ...layoutModel(req, config, title), error: '', noMail, ...model }), status);
  };

  // GET /password/forgot — the address to mail a link to.
  router.get('/password/forgot', (req, res) => page(req, res, 'forgot', 'Forgot your password?', { email: '', sent: false }));

  // POST /password/forgot — the same answer whether or not the address has an account.
  router.post('/password/forgot', (req, res) => {
    const email = formField(req.body, 'email') ?? '';
    if (noMail) return page(req, res, 'forgot', 'Forgot your password?', { email, sent: false }, 503);
    const limit = limiter.hit(req.ip ?? 'unknown');
    if (!limit.allowed) {
      res.set('Retry-After', String(limit.retryAfterSeconds));
      return page(req, res, 'forgot', 'Forgot your password?', { email, sent: false, error: `Too many requests from your network. Try again in ${Math.ceil(limit.retryAfterSeconds / 60)} minutes.` }, 429);
    }
    const parsed = parseEmail(email);
    if (!parsed.ok) {
      limiter.release(req.ip ?? 'unknown');
      return page(req, res, 'forgot', 'Forgot your password?', { email, sent: false, error: parsed.message }, 422);
    }
    // Answered first, the work done after: an address with an account must not answer
    // slower than one without (its transaction, commit and mail would tell).
    page(req, res, 'forgot', 'Check your mail', { email: parsed.value, sent: true, minutes: RESET_LIFETIME_MS / 60_000 });
    const ip = req.ip ?? null;
    setImmediate(() => {
      try {
        requestPasswordReset(deps, email, ip);
      } catch (err) {
        deps.logger.error('password reset request failed', { error: String((err as Error)?.message ?? err) });
      }
    });
  });

  // GET /password/reset/:token — the link in the mail: a page with a Continue button. A GET
  // changes nothing (following someone's link must not end the session of whoever follows it).
  router.get(`${RESET_PATH}/:token`, (req, res) => {
    const found = findPasswordReset(deps, { token: String(req.params.token) });
    if (found.status !== 'valid') return page(req, res, 'reset-invalid', 'Link not valid', { message: LINK_PROBLEMS[found.status] }, 410);
    page(req, res, 'reset-continue', 'Choose a new password', { action: `${RESET_PATH}/${String(req.params.token)}`, email: found.user.email });
  });

  // POST /password/reset/:token — Continue: the link moves into a new session, and the token
  // leaves the address bar.
  router.post(`${RESET_PATH}/:token`, async (req, res, next) => {
    // /password/reset/verify, /password/reset/passkey…: the routes below, not a token.
    if (!/^[A-Za-z0-9_-]{20,100}$/.test(String(req.params.token))) return next();
    const found = findPasswordReset(deps, { token: String(req.params.token) });
    if (found.status !== 'valid') return page(req, res, 'reset-invalid', 'Link not valid', { message: LINK_PROBLEMS[found.status] }, 410);
    await regenerate(req);
    req.session.passwordReset = { id: found.resetId, proven: false };
    await saveSession(req);
    res.redirect(303, RESET_PATH);
  });

  // The link opened in this session, still valid; or the page that says why not.
  const current = (req: Request, res: Response) => {
    const held = req.session?.passwordReset;
    const found = held ? findPasswordReset(deps, { id: held.id }) : ({ status: 'unknown' } as const);
    if (held && found.status === 'valid') return { held, found };
    delete req.session?.passwordReset;
    page(req, res, 'reset-invalid', 'Link not valid', { message: LINK_PROBLEMS[found.status === 'valid' ? 'unknown' : found.status] }, 410);
    return null;
  };

  const renderReset = (req: Request, res: Response, r: NonNullable<ReturnType<typeof current>>, model: { error?: string }, status = 200) => {
    const userId = r.found.user.id;
    const hasPasskeys = !!db.select({ id: passkeys.id }).from(passkeys).where(eq(passkeys.userId, userId)).get();
    const hasRecoveryCodes = !!db.select({ id: recoveryCodes.id }).from(recoveryCodes).where(and(eq(recoveryCodes.userId, userId), isNull(recoveryCodes.usedAt))).get();
    page(req, res, 'reset', 'Choose a new password', {
      email: r.found.user.email,
      proven: r.held.proven,
      hasCode: r.found.user.totpSecret !== null,
      hasPasskeys,
      hasRecoveryCodes,
      supportEmail: config.supportEmail,
      ...model,
    }, status);
  };

  // GET /password/reset — the second factor first, then the new password.
  router.get(RESET_PATH, (req, res) => {
    const r = current(req, res);
    if (r) renderReset(req, res, r, {});
  });

  // POST /password/reset/verify — a code or a recovery code, with the sign-in's lock-out.
  router.post(`${RESET_PATH}/verify`, async (req, res) => {
    const r = current(req, res);
    if (!r) return;
    const user = r.found.user;
    const actor = { userId: user.id, label: user.email, ip: req.ip ?? null };
    const outcome = verifySecondStep(deps, user, formField(req.body, 'code'), actor);
    if (outcome.kind === 'locked') {
      res.set('Retry-After', String(outcome.retryAfterSeconds));
      return renderReset(req, res, r, { error: `Too many wrong codes. Verification is locked; try again in ${Math.ceil(outcome.retryAfterSeconds / 60)} minutes.` }, 429);
    }
    if (outcome.kind === 'wrong') return renderReset(req, res, r, { error: wrongCodeMessage(outcome) }, 401);
    r.held.proven = true;
    await saveSession(req);
    res.redirect(303, RESET_PATH);
  });

  // POST /password/reset/passkey/options, POST /password/reset/passkey — a passkey instead
  // of a code (public/passkeys.js; JSON).
  const json = express.json({ limit: '64kb' });
  router.post(`${RESET_PATH}/passkey/options`, json, async (req, res) => {
    const held = req.session?.passwordReset;
    const found = held ? findPasswordReset(deps, { id: held.id }) : null;
    if (found?.status !== 'valid') return res.status(410).json({ error: 'invalid_request', error_description: 'This link is no longer valid. Ask for a new one.' });
    const { options, pending } = await authenticationOptions(deps, found.user.id);
    req.session.webauthn = pending;
    res.set('Cache-Control', 'no-store').json(options);
  });
  router.post(`${RESET_PATH}/passkey`, json, async (req, res) => {
    const pending = takeChallenge(req.session.webauthn, 'second-step', clock.now());
    delete req.session.webauthn;
    const held = req.session?.passwordReset;
    const found = held ? findPasswordReset(deps, { id: held.id }) : null;
    if (!held || found?.status !== 'valid' || pending?.userId !== found.user.id) return res.status(410).json({ error: 'invalid_request', error_description: 'This link is no longer valid. Ask for a new one.' });
    const result = await verifyPasskey(deps, pending, (req.body as { response?: unknown } | undefined)?.response);
    if (!result.ok) {
      recordAudit(db, clock, { userId: found.user.id, label: found.user.email, ip: req.ip ?? null }, { action: 'password.reset_passkey_failed', organisationId: found.user.organisationId });
      return res.status(result.status).json({ error: 'invalid_grant', error_description: result.message });
    }
    held.proven = true;
    await saveSession(req);
    res.json({ ok: true, redirect: RESET_PATH });
  });

  // POST /password/reset — the new password, once the second factor was proven.
  router.post(RESET_PATH, async (req, res) => {
    const r = current(req, res);
    if (!r) return;
    if (!r.held.proven) return renderReset(req, res, r, { error: 'Enter a code from your authenticator app, a recovery code or use a passkey first.' }, 403);
    const user = r.found.user;
    const outcome = await completePasswordReset(deps, r.found, { password: formField(req.body, 'password'), confirm: formField(req.body, 'password_confirm') }, { userId: user.id, label: user.email, ip: req.ip ?? null });
    if (!outcome.ok && outcome.status === 410) return current(req, res);
    if (!outcome.ok) return renderReset(req, res, r, { error: outcome.errors.password ?? outcome.message }, outcome.status);
    delete req.session.passwordReset;
    await saveSession(req);
    res.redirect(303, '/login?reset=1');
  });
  return router;
}
