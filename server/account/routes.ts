// GET /account and its forms: the signed-in user's own password, authenticator app,
// recovery codes, sessions, activity and passkeys. Every form works without
// JavaScript; only the passkey ceremonies need it (and the page says so). Every change
// but ending sessions asks for a step-up entered for it (account.ts, passkeys.ts).
import { Router, type Request, type Response } from 'express';
import express from 'express';
import type { Deps } from '../deps.ts';
import { actorOf, currentUser, requireSignedIn } from '../auth/guards.ts';
import { decrypt, encrypt } from '../lib/crypto.ts';
import { formField } from '../http/form.ts';
import { layoutModel, sendHtml, setFlash } from '../http/views.ts';
import { HttpError } from '../http/errors.ts';
import type { RateLimiter } from '../http/rate-limit.ts';
import { formatDateTime } from '../lib/dates.ts';
import { formatSeedForDisplay, generateTotpSeed, totpQrCode, totpUri } from '../auth/totp.ts';
import type { FieldErrors } from '../lib/result.ts';
import { describeAccountEvent } from './activity.ts';
import { showConfirmation } from '../http/confirm.ts';
import { redirectTo } from '../http/htmx.ts';
import { browserName } from './browser-name.ts';
import {
  changePassword,
  confirmNewAuthenticator,
  endOtherSessions,
  endSession,
  findAccount,
  listSessions,
  proveForNewAuthenticator,
  recentActivity,
  regenerateRecoveryCodes,
  remainingRecoveryCodes,
} from './account.ts';
import { listPasskeys, passkeysUnavailable, registerPasskey, removePasskey, startPasskeyRegistration, takeChallenge, type PendingChallenge } from './passkeys.ts';

declare module '../auth/session.ts' {
  interface SessionData {
    newTotpSeed?: string; // encrypted, between the two steps of replacing the app
    webauthn?: PendingChallenge;
  }
}

export function accountRoutes(deps: Deps, passwordLimiter: RateLimiter): Router {
  const { config, clock, views } = deps;
  const router = Router();
  const json = express.json({ limit: '64kb' });
  router.use('/account', requireSignedIn(deps));

  const account = (req: Request) => {
    const user = findAccount(deps, currentUser(req)!.id);
    if (!user) throw new HttpError(404, 'No such account.');
    return user;
  };

  const render = async (req: Request, res: Response, extra: { errors?: FieldErrors; newSeed?: string; codes?: string[] } = {}, status = 200) => {
    const user = account(req);
    const remaining = remainingRecoveryCodes(deps, user.id);
    const seed = extra.newSeed;
    res.set('Cache-Control', 'no-store');
    sendHtml(
      res,
      views.render('/pages/account/index', {
        ...layoutModel(req, config, 'Your account', 'account'),
        email: user.email,
        errors: extra.errors ?? {},
        remaining,
        fewCodes: remaining <= 2,
        codes: extra.codes ?? [],
        newSeed: seed ? { qr: await totpQrCode(totpUri(seed, user.email), 200), key: formatSeedForDisplay(seed) } : null,
        sessions: listSessions(deps, user.id, req.sessionID).map((s) => ({ ...s, browser: browserName(s.userAgent), started: formatDateTime(s.startedAt, config.timezone), lastSeen: formatDateTime(s.lastSeenAt, config.timezone) })),
        activity: recentActivity(deps, user).map((e) => ({ when: formatDateTime(e.at, config.timezone), text: describeAccountEvent(e), ip: e.ip ?? '' })),
        passkeysUnavailable: passkeysUnavailable(config.baseUrl),
        passkeys: listPasskeys(deps, user.id).map((p) => ({ id: p.id, name: p.name, added: formatDateTime(p.createdAt, config.timezone), lastUsed: p.lastUsedAt ? formatDateTime(p.lastUsedAt, config.timezone) : 'never' })),
      }),
      status,
    );
  };
  const done = (req: Request, res: Response, message: string) => {
    setFlash(req, message);
    res.redirect(303, '/account');
  };

  // GET /account — the page.
  router.get('/account', (req, res) => render(req, res));

  // POST /account/password — current password, a fresh code, the new password twice.
  router.post('/account/password', async (req, res) => {
    const r = await changePassword(
      deps,
      account(req),
      { current: formField(req.body, 'current_password'), code: formField(req.body, 'code'), password: formField(req.body, 'password'), confirm: formField(req.body, 'password_confirm') },
      req.sessionID,
      actorOf(req),
      passwordLimiter,
    );
    if (!r.ok) return render(req, res, { errors: r.errors }, r.status);
    done(req, res, 'Your password was changed. Every other session has ended.');
  });

  // POST /account/authenticator — prove the current app (or a recovery code); a new key follows.
  router.post('/account/authenticator', async (req, res) => {
    const r = await proveForNewAuthenticator(deps, account(req), formField(req.body, 'code'), actorOf(req));
    if (!r.ok) return render(req, res, { errors: { authCode: r.errors.code ?? '' } }, r.status);
    const seed = generateTotpSeed();
    req.session.newTotpSeed = encrypt(deps.masterKey, seed);
    render(req, res, { newSeed: seed });
  });

  // POST /account/authenticator/confirm — the new app's first code; the old app stops working.
  router.post('/account/authenticator/confirm', async (req, res) => {
    const sealed = req.session.newTotpSeed;
    if (!sealed) return render(req, res, { errors: { authCode: 'Start again: prove your current authenticator app first.' } }, 409);
    const seed = decrypt(deps.masterKey, sealed);
    const r = await confirmNewAuthenticator(deps, account(req), seed, formField(req.body, 'new_code'), actorOf(req));
    if (!r.ok) return render(req, res, { errors: r.errors, newSeed: seed }, r.status);
    delete req.session.newTotpSeed;
    done(req, res, 'Your new authenticator app is connected. The old one no longer works.');
  });

  // POST /account/recovery-codes — a new set, shown once; the old set is void at once.
  router.post('/account/recovery-codes', async (req, res) => {
    const r = await regenerateRecoveryCodes(deps, account(req), formField(req.body, 'code'), actorOf(req));
    if (!r.ok) return render(req, res, { errors: { codesCode: r.errors.code ?? '' } }, r.status);
    render(req, res, { codes: r.value });
  });

  // POST /account/sessions/:handle/end and /account/sessions/end-others — one click
  // (ending sessions protects), audited and mailed.
  router.post('/account/sessions/end-others', async (req, res) => {
    const n = await endOtherSessions(deps, account(req), req.sessionID, actorOf(req));
    done(req, res, n ? `${n} other session${n === 1 ? '' : 's'} ended.` : 'There was no other session.');
  });
  router.post('/account/sessions/:handle/end', (req, res) => {
    const ok = endSession(deps, account(req).id, String(req.params.handle), req.sessionID, actorOf(req));
    done(req, res, ok ? 'The session was ended.' : 'That session had already ended.');
  });

  // POST /account/passkeys/options (JSON {name, proof}) — the step-up for this change (the
  // current password or a code), then a registration challenge for this browser, marked
  // as proven. A sign-in does not count as the step-up.
  router.post('/account/passkeys/options', json, async (req, res) => {
    const body = (req.body ?? {}) as { name?: unknown; proof?: unknown };
    delete req.session.webauthn; // an earlier challenge never outlives a new request
    const unavailable = passkeysUnavailable(config.baseUrl);
    if (unavailable) return res.status(409).set('Cache-Control', 'no-store').json({ error: 'invalid_request', error_description: unavailable });
    const r = await startPasskeyRegistration(deps, account(req), { name: body.name, proof: body.proof }, actorOf(req), passwordLimiter);
    if (!r.ok) return res.status(r.status).set('Cache-Control', 'no-store').json({ error: 'invalid_request', error_description: r.message, errors: r.errors });
    req.session.webauthn = r.value.pending;
    res.set('Cache-Control', 'no-store').json(r.value.options);
  });

  // POST /account/passkeys (JSON {response}) — verify and store the new passkey, under the
  // name given with the proven challenge.
  router.post('/account/passkeys', json, async (req, res) => {
    const pending = takeChallenge(req.session.webauthn, 'register', clock.now());
    delete req.session.webauthn; // single use, whatever the outcome
    const body = (req.body ?? {}) as { response?: unknown };
    const r = await registerPasskey(deps, account(req), pending, body.response, actorOf(req));
    if (!r.ok) return res.status(r.status).json({ error: 'invalid_request', error_description: r.message, errors: r.errors });
    setFlash(req, 'Your passkey was added.');
    res.json({ ok: true, redirect: '/account' });
  });

  // GET /account/passkeys/:id/remove — the confirmation (a dialog, or a page without
  // JavaScript), with the proof this change asks for.
  const removeConfirmation = (req: Request, res: Response, id: string, errors: FieldErrors = {}, status = 200) => {
    const passkey = listPasskeys(deps, account(req).id).find((p) => p.id === id);
    if (!passkey) throw new HttpError(404, 'That passkey does not exist, or it was already removed.');
    const others = listPasskeys(deps, account(req).id).length - 1;
    showConfirmation(deps, req, res, 'account', {
      title: `Remove the passkey “${passkey.name}”?`,
      lead: `Added ${formatDateTime(passkey.createdAt, config.timezone)}, last used ${passkey.lastUsedAt ? formatDateTime(passkey.lastUsedAt, config.timezone) : 'never'}.`,
      stops: [
        `It stops signing you in at once, on every device that holds it. ${others ? `Your ${others === 1 ? 'other passkey' : `${others} other passkeys`}, your` : 'Your'} password with your authenticator app, and your recovery codes keep working.`,
      ],
      action: `/account/passkeys/${encodeURIComponent(passkey.id)}/remove`,
      button: 'Remove passkey',
      cancel: '/account',
      back: { href: '/account', label: 'Your account' },
      fields: '/partials/account/passkey-proof',
    }, { errors, passkeyName: passkey.name }, status);
  };
  router.get('/account/passkeys/:id/remove', (req, res) => removeConfirmation(req, res, String(req.params.id)));

  // POST /account/passkeys/:id/remove — with the current password or a code in the same form.
  router.post('/account/passkeys/:id/remove', async (req, res) => {
    const id = String(req.params.id);
    const r = await removePasskey(deps, account(req), id, formField(req.body, 'proof'), actorOf(req), passwordLimiter);
    if (!r.ok) return removeConfirmation(req, res, id, { proof: r.message }, r.status);
    setFlash(req, r.value ? 'The passkey was removed.' : 'That passkey was already removed.');
    redirectTo(req, res, '/account');
  });

  return router;
}
