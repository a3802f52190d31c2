// Per-request protections shared by every page: security headers with a CSP that
// allows no inline script, CSRF tokens (synchronizer pattern, kept in the session),
// and an Origin check on every state-changing request.
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import helmet from 'helmet';
import crypto from 'node:crypto';
import { constantTimeEqual, randomToken } from '../lib/crypto.ts';
import { HttpError } from './errors.ts';
import { formField } from './form.ts';
import { rawCookie } from './cookies.ts';

// Helmet decides the headers (with our CSP); they are the same for every answer, so it runs
// once, here, and each request only sets the list it produced (its twelve middlewares, one
// per header, had cost about 3 % of a signed-in request's server time).
export function securityHeaders(secure: boolean): RequestHandler {
  const headers: [name: string, value: string][] = [];
  const recorder = {
    setHeader: (name: string, value: unknown) => void headers.push([name, String(value)]),
    removeHeader: () => {}, // X-Powered-By: Express never sets it here (app.ts disables it)
  };
  let ran = false;
  helmetWith(secure)({} as Request, recorder as unknown as Response, () => void (ran = true));
  if (!ran || headers.length === 0) throw new Error('helmet did not produce the security headers');
  return (_req: Request, res: Response, next: NextFunction) => {
    for (const [name, value] of headers) res.setHeader(name, value);
    next();
  };
}

function helmetWith(secure: boolean) {
  return helmet({
    contentSecurityPolicy: {
      useDefaults: false,
      directives: {
        defaultSrc: ["'self'"],
        scriptSrc: ["'self'"],
        styleSrc: ["'self'"],
        imgSrc: ["'self'", 'data:'],
        connectSrc: ["'self'"],
        fontSrc: ["'self'"],
        objectSrc: ["'none'"],
        baseUri: ["'none'"],
        formAction: ["'self'"],
        frameAncestors: ["'none'"],
        ...(secure ? { upgradeInsecureRequests: [] } : {}),
      },
    },
    strictTransportSecurity: secure ? { maxAge: 31536000 } : false,
    // same-origin, not no-referrer: under no-referrer Chromium sends `Origin: null` on our own form posts.
    referrerPolicy: { policy: 'same-origin' },
    crossOriginEmbedderPolicy: false,
  });
}

declare module '../auth/session.ts' {
  interface SessionData {
    csrfToken?: string;
    pendingUserId?: number;
    pendingAt?: number;
    authAt?: number;
    setup?: { invitationId: number; seed: string };
  }
}

// CSRF tokens. Anyone with a session (signed in, half-way through signing in, or
// setting up) gets a synchronizer token kept in the session. An anonymous visitor of a
// sign-in page gets no session row: their token is an HMAC of a random value held in a
// short-lived cookie (the signed double-submit pattern), so a page view costs no write.
export const PRE_SESSION_COOKIE = 'portal.pre';
const PRE_SESSION_MAX_AGE_MS = 2 * 60 * 60 * 1000;

function hasSessionState(req: Request): boolean {
  const s = req.session as (typeof req.session & { passport?: unknown }) | undefined;
  return !!s && (s.csrfToken !== undefined || s.passport !== undefined || s.pendingUserId !== undefined || s.setup !== undefined || s.passwordReset !== undefined);
}

function preSessionToken(key: Buffer, value: string): string {
  return crypto.createHmac('sha256', key).update(`csrf:${value}`).digest('base64url');
}


export function ensureCsrfToken(req: Request): string {
  if (!req.session) return '';
  if (hasSessionState(req)) {
    req.session.csrfToken ??= randomToken();
    return req.session.csrfToken;
  }
  const settings = req.res?.locals.csrf as { key: Buffer; secure: boolean } | undefined;
  if (!settings) return '';
  const { key, secure } = settings;
  const res = req.res!;
  let value = (res.locals.preSessionValue as string | undefined) ?? rawCookie(req.headers.cookie, PRE_SESSION_COOKIE);
  if (!value || !/^[A-Za-z0-9_-]{32,64}$/.test(value)) {
    value = randomToken();
    res.cookie(PRE_SESSION_COOKIE, value, { httpOnly: true, sameSite: 'lax', secure, maxAge: PRE_SESSION_MAX_AGE_MS, path: '/' });
  }
  res.locals.preSessionValue = value;
  return preSessionToken(key, value);
}

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

// Same-origin only: the Origin (when sent) must be BASE_URL's origin, and the browser
// must not call the request cross-site. `Origin: null` is refused. The Host header is
// not consulted: a client chooses it.
export function originCheck(baseUrl: string): RequestHandler {
  const allowed = new URL(baseUrl).origin;
  return (req: Request, _res: Response, next: NextFunction) => {
    if (SAFE_METHODS.has(req.method)) return next();
    const origin = req.get('Origin');
    const site = req.get('Sec-Fetch-Site');
    if (origin !== undefined && origin !== allowed) {
      return next(new HttpError(403, 'This request came from another site and was refused.'));
    }
    if (site === 'cross-site') return next(new HttpError(403, 'This request came from another site and was refused.'));
    next();
  };
}

// A signed-in session must send its own session token; a visitor without session state
// (the sign-in form) sends the token derived from the pre-session cookie.
export function csrfCheck(masterKey: Buffer, secure: boolean): RequestHandler {
  const key = crypto.createHmac('sha256', masterKey).update('csrf-pre-session').digest();
  return (req: Request, res: Response, next: NextFunction) => {
    res.locals.csrf = { key, secure };
    if (SAFE_METHODS.has(req.method)) return next();
    const sent = formField(req.body, '_csrf') ?? req.get('X-CSRF-Token');
    let expected = req.session?.csrfToken;
    if (!hasSessionState(req)) {
      const value = rawCookie(req.headers.cookie, PRE_SESSION_COOKIE);
      expected = value ? preSessionToken(key, value) : undefined;
    }
    if (!sent || !expected || !constantTimeEqual(sent, expected)) {
      return next(new HttpError(403, 'This form has expired or did not come from this site. Reload the page and try again.'));
    }
    next();
  };
}
