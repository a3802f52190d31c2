// Per-request protections shared by every page: security headers with a CSP that
// allows no inline script, CSRF tokens (synchronizer pattern, kept in the session),
// and an Origin check on every state-changing request.
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import helmet from 'helmet';
import { constantTimeEqual, randomToken } from '../crypto.ts';
import { HttpError } from './errors.ts';
import { formField } from './form.ts';

export function securityHeaders(secure: boolean): RequestHandler {
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

declare module 'express-session' {
  interface SessionData {
    csrfToken?: string;
    pendingUserId?: number;
    pendingAt?: number;
    authAt?: number;
    setup?: { invitationId: number; seed: string };
  }
}

export function ensureCsrfToken(req: Request): string {
  if (!req.session) return '';
  req.session.csrfToken ??= randomToken();
  return req.session.csrfToken;
}

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

// Same-origin only: the Origin (when sent) must be the portal's own, and the browser
// must not call the request cross-site. `Origin: null` is refused.
export function originCheck(baseUrl: string): RequestHandler {
  const allowed = new URL(baseUrl).origin;
  return (req: Request, _res: Response, next: NextFunction) => {
    if (SAFE_METHODS.has(req.method)) return next();
    const origin = req.get('Origin');
    const site = req.get('Sec-Fetch-Site');
    const hostOrigin = `${req.protocol}://${req.get('Host') ?? ''}`;
    if (origin !== undefined && origin !== allowed && origin !== hostOrigin) {
      return next(new HttpError(403, 'This request came from another site and was refused.'));
    }
    if (site === 'cross-site') return next(new HttpError(403, 'This request came from another site and was refused.'));
    next();
  };
}

export function csrfCheck(): RequestHandler {
  return (req: Request, _res: Response, next: NextFunction) => {
    if (SAFE_METHODS.has(req.method)) return next();
    const sent = formField(req.body, '_csrf') ?? req.get('X-CSRF-Token');
    const expected = req.session?.csrfToken;
    if (!sent || !expected || !constantTimeEqual(sent, expected)) {
      return next(new HttpError(403, 'This form has expired or did not come from this site. Reload the page and try again.'));
    }
    next();
  };
}
