// Sign-in (password, then TOTP or a recovery code), sign-out and invitation setup.
import { Router, type Request, type Response } from 'express';
import { Passport } from 'passport';
import { Strategy as LocalStrategy } from 'passport-local';
import QRCode from 'qrcode';
import { eq, sql } from 'drizzle-orm';
import { immediate } from '../../db/client.ts';
import { users } from '../../db/schema.ts';
import type { Deps } from '../deps.ts';
import { decrypt, encrypt } from '../crypto.ts';
import { recordAudit, type AuditActor } from '../audit/audit.ts';
import { formField } from '../http/form.ts';
import { layoutModel, sendHtml } from '../http/views.ts';
import { RateLimiter } from '../http/rate-limit.ts';
import { parseEmail } from '../validation.ts';
import { burnPasswordCheck, hashPassword, passwordProblem, verifyPassword } from './passwords.ts';
import { consumeTotpStep, formatSeedForDisplay, generateTotpSeed, isTotpCodeShape, matchTotpStep, totpUri } from './totp.ts';
import { generateRecoveryCodes, normaliseRecoveryCode, replaceRecoveryCodes, useRecoveryCode } from './recovery-codes.ts';
import { consumeInvitation, findInvitation } from './invitations.ts';
import { currentUser, homeFor, type SessionUser } from './guards.ts';
import { revokeUserSessions } from './session-store.ts';

export const MAX_TOTP_FAILURES = 5;
export const TOTP_LOCK_MS = 15 * 60 * 1000;
// Password attempts per address: enough for a person who mistypes, far too few for spraying.
export const PASSWORD_ATTEMPTS_PER_IP = 10;
export const PASSWORD_WINDOW_MS = 15 * 60 * 1000;
// How long a password step stays good for finishing the second step.
const PENDING_LIFETIME_MS = 10 * 60 * 1000;

type UserRow = typeof users.$inferSelect;

export function toSessionUser(u: UserRow): SessionUser {
  return { id: u.id, email: u.email, displayName: u.displayName, isAdmin: u.isAdmin, organisationId: u.organisationId };
}

export function actorOf(req: Request): AuditActor {
  const u = currentUser(req);
  return { userId: u?.id ?? null, label: u?.email ?? 'anonymous', ip: req.ip ?? null };
}

function findUserByEmail(deps: Deps, email: string): UserRow | undefined {
  return deps.db.select().from(users).where(eq(users.email, email)).get();
}

// One Passport instance per app, so that apps built side by side (tests) never share state.
export function configurePassport(deps: Deps): InstanceType<typeof Passport> {
  const passport = new Passport();
  passport.use(
    new LocalStrategy({ usernameField: 'email', passwordField: 'password' }, (emailInput, password, done) => {
      const email = parseEmail(emailInput);
      const user = email.ok ? findUserByEmail(deps, email.value) : undefined;
      const check =
        user && user.passwordHash && user.disabledAt === null ? verifyPassword(user.passwordHash, password) : burnPasswordCheck(password);
      check.then(
        (ok) => done(null, ok && user ? user : false),
        (err) => done(err),
      );
    }),
  );
  passport.serializeUser((user, done) => done(null, (user as SessionUser).id));
  passport.deserializeUser((id: unknown, done) => {
    try {
      const row = typeof id === 'number' ? deps.db.select().from(users).where(eq(users.id, id)).get() : undefined;
      // A disabled user is signed out on their next request (their sessions are also revoked).
      done(null, row && row.disabledAt === null ? toSessionUser(row) : false);
    } catch (err) {
      done(err);
    }
  });
  return passport;
}

function regenerate(req: Request): Promise<void> {
  return new Promise((resolve, reject) => req.session.regenerate((err) => (err ? reject(err) : resolve())));
}

function saveSession(req: Request): Promise<void> {
  return new Promise((resolve, reject) => req.session.save((err) => (err ? reject(err) : resolve())));
}

function logIn(req: Request, user: SessionUser): Promise<void> {
  // passport >= 0.6 regenerates the session here: a new id after the second step.
  return new Promise((resolve, reject) => req.login(user, (err) => (err ? reject(err) : resolve())));
}

export function authRoutes(deps: Deps, passport: InstanceType<typeof Passport>): Router {
  const { config, db, clock, views, logger } = deps;
  const router = Router();
  const passwordLimiter = new RateLimiter(PASSWORD_ATTEMPTS_PER_IP, PASSWORD_WINDOW_MS, clock);

  const renderLogin = (req: Request, res: Response, model: { email?: string; error?: string; notice?: string }, status = 200) =>
    sendHtml(res, views.render('/pages/auth/login', { ...layoutModel(req, config, 'Sign in'), email: '', error: '', notice: '', ...model }), status);

  const renderVerify = (req: Request, res: Response, model: { error?: string }, status = 200) =>
    sendHtml(res, views.render('/pages/auth/verify', { ...layoutModel(req, config, 'Two-step verification'), error: '', ...model }), status);

  // GET /login — the email and password form.
  router.get('/login', (req, res) => {
    const user = currentUser(req);
    if (user && req.session.authAt) return res.redirect(303, homeFor(user));
    const notice = req.query.expired ? 'Your session ended. Please sign in again.' : req.query.signedout ? 'You have signed out.' : '';
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
      logger.warn('password attempts throttled', { ip });
      recordAudit(db, clock, { label: 'anonymous', ip }, { action: 'login.throttled', target: emailInput.slice(0, 254) });
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
    const id = req.session?.pendingUserId;
    const at = req.session?.pendingAt ?? 0;
    if (id === undefined || clock.now() - at > PENDING_LIFETIME_MS) return null;
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
  router.post('/login/verify', async (req, res, next) => {
    try {
      const user = pendingUser(req);
      if (!user) return res.redirect(303, '/login');
      const actor = { userId: user.id, label: user.email, ip: req.ip ?? null };
      const now = clock.now();
      if (user.totpLockedUntil !== null && user.totpLockedUntil > now) {
        const minutes = Math.ceil((user.totpLockedUntil - now) / 60000);
        logger.warn('second step locked', { userId: user.id });
        recordAudit(db, clock, actor, { action: 'login.mfa_locked', organisationId: user.organisationId });
        res.set('Retry-After', String(Math.ceil((user.totpLockedUntil - now) / 1000)));
        return renderVerify(req, res, { error: `Too many wrong codes. Verification is locked; try again in ${minutes} minutes.` }, 429);
      }
      const code = (formField(req.body, 'code') ?? '').trim();
      let accepted = false;
      let method = 'totp';
      if (isTotpCodeShape(code)) {
        const step = matchTotpStep(decrypt(deps.masterKey, user.totpSecret!), code, now);
        accepted = step !== null && consumeTotpStep(db, user.id, step);
      } else if (normaliseRecoveryCode(code)) {
        method = 'recovery_code';
        accepted = useRecoveryCode(db, user.id, code, now);
      }
      if (!accepted) {
        const locked = immediate(db, () => {
          const row = db
            .update(users)
            .set({ failedTotpCount: sql`${users.failedTotpCount} + 1` })
            .where(eq(users.id, user.id))
            .returning({ count: users.failedTotpCount })
            .get();
          if (row && row.count >= MAX_TOTP_FAILURES) {
            db.update(users).set({ failedTotpCount: 0, totpLockedUntil: now + TOTP_LOCK_MS }).where(eq(users.id, user.id)).run();
            return true;
          }
          return false;
        });
        recordAudit(db, clock, actor, { action: 'login.mfa_failed', organisationId: user.organisationId, details: { locked } });
        if (locked) {
          logger.warn('second step locked after failures', { userId: user.id });
          return renderVerify(req, res, { error: 'Too many wrong codes. Verification is locked for 15 minutes.' }, 429);
        }
        return renderVerify(req, res, { error: 'That code is not valid. Enter the current 6-digit code from your authenticator app, or a recovery code.' }, 401);
      }
      db.update(users)
        .set({ failedTotpCount: 0, totpLockedUntil: null, lastSignInAt: now })
        .where(eq(users.id, user.id))
        .run();
      const sessionUser = toSessionUser(user);
      await logIn(req, sessionUser);
      req.session.authAt = now;
      recordAudit(db, clock, actor, { action: 'login.success', organisationId: user.organisationId, details: { method } });
      res.redirect(303, homeFor(sessionUser));
    } catch (err) {
      next(err);
    }
  });

  // POST /logout — destroys the session on the server.
  router.post('/logout', (req, res, next) => {
    const actor = actorOf(req);
    req.logout({ keepSessionInfo: true }, (err) => {
      if (err) return next(err);
      req.session.destroy((err2) => {
        if (err2) return next(err2);
        if (actor.userId) recordAudit(db, clock, actor, { action: 'logout' });
        res.clearCookie('portal.sid');
        res.redirect(303, '/login?signedout=1');
      });
    });
  });

  // GET /setup/:token — choose a password and enrol an authenticator app.
  router.get('/setup/:token', async (req, res, next) => {
    try {
      await renderSetup(req, res, {});
    } catch (err) {
      next(err);
    }
  });

  const renderSetup = async (req: Request, res: Response, model: { passwordError?: string; codeError?: string }, status = 200) => {
    res.set('Cache-Control', 'no-store');
    const token = String(req.params.token);
    const found = findInvitation(db, clock, token);
    if (found.status !== 'valid') {
      const messages = {
        unknown: 'This setup link is not valid. Check that you copied the whole link, or ask your administrator for a new one.',
        used: 'This setup link has already been used. Sign in with your password and authenticator app, or ask your administrator for a new link.',
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
    const qr = await QRCode.toDataURL(uri, { errorCorrectionLevel: 'M', margin: 1, width: 220 });
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
  router.post('/setup/:token', async (req, res, next) => {
    try {
      const token = String(req.params.token);
      const found = findInvitation(db, clock, token);
      const setup = req.session.setup;
      if (found.status !== 'valid' || !setup || setup.invitationId !== found.invitationId) return renderSetup(req, res, {});
      const password = formField(req.body, 'password') ?? '';
      const confirm = formField(req.body, 'password_confirm') ?? '';
      const code = (formField(req.body, 'code') ?? '').trim();
      let passwordError = passwordProblem(password, found.user.email) ?? '';
      if (!passwordError && password !== confirm) passwordError = 'The two passwords do not match.';
      const seed = decrypt(deps.masterKey, setup.seed);
      const step = matchTotpStep(seed, code, clock.now());
      const codeError = step === null ? 'That code is not valid. Enter the 6-digit code your authenticator app shows now.' : '';
      if (passwordError || codeError) return renderSetup(req, res, { passwordError, codeError }, 422);

      const passwordHash = await hashPassword(password);
      const codes = generateRecoveryCodes();
      const done = immediate(db, () => {
        if (!consumeInvitation(db, clock, found.invitationId)) return false;
        db.update(users)
          .set({ passwordHash, totpSecret: encrypt(deps.masterKey, seed), totpLastStep: step, failedTotpCount: 0, totpLockedUntil: null })
          .where(eq(users.id, found.user.id))
          .run();
        replaceRecoveryCodes(db, found.user.id, codes);
        revokeUserSessions(db, clock, found.user.id);
        recordAudit(db, clock, { userId: found.user.id, label: found.user.email, ip: req.ip ?? null }, {
          action: 'user.setup_complete',
          organisationId: found.user.organisationId,
        });
        return true;
      });
      if (!done) return renderSetup(req, res, {});
      delete req.session.setup;
      res.set('Cache-Control', 'no-store');
      sendHtml(res, views.render('/pages/auth/recovery-codes', { ...layoutModel(req, config, 'Your recovery codes'), codes }));
    } catch (err) {
      next(err);
    }
  });

  return router;
}
