// Sign-in (password, then TOTP or a recovery code), sign-out and invitation setup.
import { Router, type Request, type Response } from 'express';
import { Passport } from 'passport';
import { eq } from 'drizzle-orm';
import { passkeys, users } from '../../db/schema.ts';
import type { Deps } from '../deps.ts';
import { decrypt, encrypt } from '../lib/crypto.ts';
import { recordAudit } from '../audit/audit.ts';
import { createTally, OVERFLOW_KEY, summaryDetails, type Summary } from '../audit/tally.ts';
import { immediate } from '../../db/client.ts';
import { formField } from '../http/form.ts';
import { layoutModel, sendHtml } from '../http/views.ts';
import { RateLimiter } from '../http/rate-limit.ts';
import { formatSeedForDisplay, generateTotpSeed, totpQrCode, totpUri } from './totp.ts';
import { findInvitation } from './invitations.ts';
import { actorOf, currentUser, homeFor, toSessionUser } from './guards.ts';
import { verifySecondStep, wrongCodeMessage } from './second-step.ts';
import { completeSetup } from './setup.ts';
import { pendingUserId, regenerate, saveSession, startSignedInSession } from './sessions.ts';
import { SESSION_COOKIE } from './session.ts';

// Password attempts per address: enough for a person who mistypes, far too few for spraying.
export const PASSWORD_ATTEMPTS_PER_IP = 10;
export const PASSWORD_WINDOW_MS = 15 * 60 * 1000;

type UserRow = typeof users.$inferSelect;

export function authRoutes(deps: Deps, passport: InstanceType<typeof Passport>, passwordLimiter: RateLimiter): Router & { flush(): void; close(): void } {
  const { config, db, clock, views, logger } = deps;
  const router = Router();
  // Throttled sign-ins are counted, not stored one by one: one login.throttled row per
  // address and minute, with the count (written when the minute is over).
  const throttled = createTally({
    windowMs: 60_000,
    now: () => clock.now(),
    write: (summaries: Summary[]) =>
      immediate(db, () => {
        for (const s of summaries) {
          recordAudit(db, clock, { label: 'anonymous', ip: s.key === OVERFLOW_KEY ? null : s.key }, { action: 'login.throttled', target: s.sample, details: summaryDetails(s) });
        }
      }),
    onError: (err) => logger.warn('throttled sign-ins not recorded yet; retrying', { error: String((err as Error)?.message ?? err) }),
    everyMs: 10_000,
  });

  const renderLogin = (req: Request, res: Response, model: { email?: string; error?: string; notice?: string }, status = 200) =>
    sendHtml(res, views.render('/pages/auth/login', { ...layoutModel(req, config, 'Sign in'), email: '', error: '', notice: '', ...model }), status);

  const renderVerify = (req: Request, res: Response, model: { error?: string }, status = 200) => {
    const userId = req.session?.pendingUserId;
    const hasPasskeys = typeof userId === 'number' && !!db.select({ id: passkeys.id }).from(passkeys).where(eq(passkeys.userId, userId)).get();
    sendHtml(res, views.render('/pages/auth/verify', { ...layoutModel(req, config, 'Two-step verification'), error: '', hasPasskeys, ...model }), status);
  };

  // GET /login — the email and password form.
  router.get('/login', (req, res) => {
    const user = currentUser(req);
    if (user && req.session.authAt) return res.redirect(303, homeFor(user));
    const notice = req.query.expired
      ? 'Your session ended. Please sign in again.'
      : req.query.signedout
        ? 'You have signed out.'
        : req.query.reset
          ? 'Your password was changed and every session of your account was ended. Sign in with your new password.'
          : '';
    renderLogin(req, res, { notice });
  });

  // POST /login — first step. Failed attempts are limited per address (TRUST_PROXY
  // decides the address); a successful one is not counted, so an office behind one NAT
  // does not lock itself out. The same answer for an unknown email, a wrong password, a
  // disabled account or an unfinished invitation.
  router.post('/login', (req, res, next) => {
    const ip = req.ip ?? 'unknown';
    const emailInput = formField(req.body, 'email') ?? '';
    // Counted up front (so parallel guesses cannot all slip under the limit), taken
    // back when the attempt turns out not to be a failure.
    const limit = passwordLimiter.hit(ip);
    if (!limit.allowed) {
      if (throttled.add(ip, emailInput.slice(0, 254))) logger.warn('password attempts throttled', { ip });
      res.set('Retry-After', String(limit.retryAfterSeconds));
      return renderLogin(
        req,
        res,
        { email: emailInput, error: `Too many sign-in attempts from your network. Try again in ${Math.ceil(limit.retryAfterSeconds / 60)} minutes.` },
        429,
      );
    }
    if (typeof formField(req.body, 'password') !== 'string' || emailInput === '') {
      passwordLimiter.release(ip);
      return renderLogin(req, res, { email: emailInput, error: 'Enter your email address and password.' }, 422);
    }
    passport.authenticate('local', { session: false }, async (err: unknown, user: UserRow | false) => {
      try {
        if (err) return next(err);
        if (!user) {
          recordAudit(db, clock, { label: 'anonymous', ip }, { action: 'login.failed', target: emailInput.slice(0, 254) });
          return renderLogin(req, res, { email: emailInput, error: 'The email address or password is incorrect.' }, 401);
        }
        passwordLimiter.release(ip);
        await regenerate(req); // a new session id after the password
        req.session.pendingUserId = user.id;
        req.session.pendingAt = clock.now();
        await saveSession(req); // stored before the redirect, or a 503 now
        recordAudit(db, clock, { userId: user.id, label: user.email, ip }, { action: 'login.password_ok', organisationId: user.organisationId });
        res.redirect(303, '/login/verify');
      } catch (e) {
        next(e);
      }
    })(req, res, next);
  });

  const pendingUser = (req: Request): UserRow | null => {
    const id = pendingUserId(req, clock.now());
    if (id === null) return null;
    const row = db.select().from(users).where(eq(users.id, id)).get();
    return row && row.disabledAt === null && row.totpSecret ? row : null;
  };

  // GET /login/verify — the second step.
  router.get('/login/verify', (req, res) => {
    if (!pendingUser(req)) return res.redirect(303, '/login');
    renderVerify(req, res, {});
  });

  // POST /login/verify — a 6-digit TOTP code or a recovery code. Five wrong codes lock
  // the second step for 15 minutes, counted on the user (not the session).
  router.post('/login/verify', async (req, res) => {
    const user = pendingUser(req);
    if (!user) return res.redirect(303, '/login');
    const actor = { userId: user.id, label: user.email, ip: req.ip ?? null };
    const outcome = verifySecondStep(deps, user, formField(req.body, 'code'), actor);
    if (outcome.kind === 'locked') {
      if (outcome.justNow) return renderVerify(req, res, { error: 'Too many wrong codes. Verification is locked for 15 minutes.' }, 429);
      res.set('Retry-After', String(outcome.retryAfterSeconds));
      const minutes = Math.ceil(outcome.retryAfterSeconds / 60);
      return renderVerify(req, res, { error: `Too many wrong codes. Verification is locked; try again in ${minutes} minutes.` }, 429);
    }
    if (outcome.kind === 'wrong') {
      return renderVerify(req, res, { error: wrongCodeMessage(outcome) }, 401);
    }
    const now = clock.now();
    db.update(users).set({ lastSignInAt: now }).where(eq(users.id, user.id)).run();
    const sessionUser = toSessionUser(user);
    await startSignedInSession(req, sessionUser, now);
    recordAudit(db, clock, actor, { action: 'login.success', organisationId: user.organisationId, details: { method: outcome.method } });
    res.redirect(303, homeFor(sessionUser));
  });

  // POST /logout — revokes the session on the server (a visitor who never had one writes
  // nothing). Passport's req.logout is not needed: it would store the session once more and
  // regenerate it only for this to revoke it.
  router.post('/logout', (req, res, next) => {
    const actor = actorOf(req);
    req.session.destroy((err) => {
      if (err) return next(err);
      if (actor.userId) recordAudit(db, clock, actor, { action: 'logout' });
      res.clearCookie(SESSION_COOKIE);
      res.redirect(303, '/login?signedout=1');
    });
  });

  // GET /setup/:token — choose a password and enrol an authenticator app.
  router.get('/setup/:token', async (req, res) => {
    await renderSetup(req, res, {});
  });

  const renderSetup = async (req: Request, res: Response, model: { passwordError?: string; codeError?: string }, status = 200) => {
    res.set('Cache-Control', 'no-store');
    const token = String(req.params.token);
    const found = findInvitation(db, clock, token);
    if (found.status !== 'valid') {
      const messages = {
        unknown: 'This setup link is not valid. Check that you copied the whole link, or ask your administrator for a new one.',
        used: 'This setup link has already been used. Sign in with your password and authenticator app, or ask your administrator for a new link.',
        replaced: 'This setup link was replaced by a newer invitation. Use the link in the most recent invitation mail, or ask your administrator to send one again.',
        expired: 'This setup link has expired (links are valid for 72 hours). Ask your administrator to send you a new one.',
      };
      return sendHtml(res, views.render('/pages/auth/setup-invalid', { ...layoutModel(req, config, 'Setup link not valid'), message: messages[found.status] }), 410);
    }
    // The seed lives (encrypted) in the session until the code confirms it.
    let seed: string;
    if (req.session.setup?.invitationId === found.invitationId) {
      seed = decrypt(deps.masterKey, req.session.setup.seed);
    } else {
      seed = generateTotpSeed();
      req.session.setup = { invitationId: found.invitationId, seed: encrypt(deps.masterKey, seed) };
    }
    const uri = totpUri(seed, found.user.email);
    const qr = await totpQrCode(uri, 220);
    sendHtml(
      res,
      views.render('/pages/auth/setup', {
        ...layoutModel(req, config, 'Set up your account'),
        email: found.user.email,
        action: `/setup/${token}`,
        qr,
        key: formatSeedForDisplay(seed),
        passwordError: '',
        codeError: '',
        ...model,
      }),
      status,
    );
  };

  // POST /setup/:token — password + first code; then the recovery codes, once.
  router.post('/setup/:token', async (req, res) => {
    const token = String(req.params.token);
    const found = findInvitation(db, clock, token);
    const setup = req.session.setup;
    if (found.status !== 'valid' || !setup || setup.invitationId !== found.invitationId) return renderSetup(req, res, {});
    const outcome = await completeSetup(
      deps,
      found,
      {
        password: formField(req.body, 'password') ?? '',
        confirm: formField(req.body, 'password_confirm') ?? '',
        code: formField(req.body, 'code') ?? '',
        seed: decrypt(deps.masterKey, setup.seed),
      },
      req.ip ?? null,
    );
    if (!outcome.ok && outcome.status === 410) return renderSetup(req, res, {});
    if (!outcome.ok) return renderSetup(req, res, { passwordError: outcome.errors.password ?? '', codeError: outcome.errors.code ?? '' }, outcome.status);
    // Setup proved the password and the authenticator: the user is signed in (a new
    // session id), sees the recovery codes once, and continues to their own page.
    const sessionUser = toSessionUser(found.user);
    await startSignedInSession(req, sessionUser, clock.now());
    db.update(users).set({ lastSignInAt: clock.now() }).where(eq(users.id, found.user.id)).run();
    recordAudit(db, clock, actorOf(req), { action: 'login.success', organisationId: found.user.organisationId, details: { method: 'setup' } });
    res.set('Cache-Control', 'no-store');
    sendHtml(res, views.render('/pages/auth/recovery-codes', { ...layoutModel(req, config, 'Your recovery codes'), codes: outcome.value.recoveryCodes, next: homeFor(sessionUser) }));
  });

  // flush: what a finished minute counted (tests); close: everything counted (shutdown).
  return Object.assign(router, { flush: throttled.flush, close: throttled.close });
}
