// Server-side sessions, kept in the portal's SQLite file (session-store.ts), and the signed-in
// user read for each request. This replaces express-session and Passport's per-request
// session strategy (Passport still checks passwords and signs people in: req.login calls this
// session's regenerate() and save(); signing out is destroy()), and keeps what they did:
// - the cookie `portal.sid` holds `s:<id>.<HMAC-SHA256 of the id>` (the same format, so
//   sessions survive the change), HttpOnly, SameSite=Lax, Path=/, Secure with an https
//   BASE_URL and then withheld from a request Express sees as plain http;
// - rolling: each answer to a request with a live session renews the cookie's 30 minutes
//   (Max-Age);
// - a session with nothing in it is never stored and gets no cookie;
// - a changed session is stored before the answer's headers go out; an unchanged one only
//   has its idle timeout extended (at most once a minute: the store's touch());
// - regenerate() revokes the old id and starts an empty session under a new one;
//   destroy() revokes it and leaves the request without a session;
// - a session whose user is gone or disabled loses its user (the request is then anonymous).
// What it does not do: hash every session twice per request to see whether it changed (its
// JSON is compared with the JSON it was stored as), sign the cookie again when the request
// already sent the same one, or walk Passport's strategy chain on every request. A signed-in
// request cost about a quarter less server time (README, "Pages").
import crypto from 'node:crypto';
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import type { Logger } from '../lib/log.ts';
import { IDLE_TIMEOUT_MS, type SqliteSessionStore } from './session-store.ts';
import type { SessionUser } from './guards.ts';
import { rawCookie } from '../http/cookies.ts';

export const SESSION_COOKIE = 'portal.sid';

// What a session may hold. Each feature adds its own fields (`declare module
// '../auth/session.ts' { interface SessionData { ... } }`), as it did for express-session.
export interface SessionData {
  passport?: { user?: unknown }; // Passport's: the signed-in user's id
}

type Callback = (err?: unknown) => void;
const STATE = Symbol('session state');

interface State {
  req: Request;
  store: SqliteSessionStore;
  id: string; // this session's own id (req.sessionID while it is the request's session)
  // Whether the id has a row (read from the cookie, or saved since), and the JSON it holds.
  stored: boolean;
  storedJson: string;
}

// The session's own enumerable properties are its data (what JSON.stringify stores and
// Passport's keepSessionInfo copies); the methods live on the prototype and the state under a
// symbol, which neither sees. Each method acts on the session's own id: a session object kept
// across regenerate() can never write its data under the new id.
export class Session {
  declare [STATE]: State;

  constructor(state: State) {
    Object.defineProperty(this, STATE, { value: state, enumerable: false, writable: true });
  }

  // A new, empty session under a new id, which becomes the request's; the old id is revoked
  // when it has a row (an id never stored was never sent to anyone: nothing to revoke, and an
  // anonymous request writes nothing).
  regenerate(cb: Callback): void {
    const { req, store, id, stored } = this[STATE];
    let error: unknown;
    try {
      if (stored) store.revoke(id);
    } catch (err) {
      error = err;
    }
    startEmpty(req, store);
    cb(error);
  }

  // Stores the session now (a route whose outcome depends on it saves before answering).
  save(cb?: Callback): void {
    const state = this[STATE];
    const json = JSON.stringify(this);
    try {
      state.store.save(state.id, this as SessionData, json);
      state.stored = true;
      state.storedJson = json;
      cb?.();
    } catch (err) {
      cb?.(err);
    }
  }

  // Revokes the session (when it has a row); a request whose session this is has none after.
  destroy(cb?: Callback): void {
    const state = this[STATE];
    const { req } = state;
    if (req.session === (this as unknown)) delete (req as { session?: unknown }).session;
    try {
      if (state.stored) state.store.revoke(state.id);
      cb?.();
    } catch (err) {
      cb?.(err);
    }
  }
}

export type RequestSession = Session & Partial<SessionData>;

declare global {
  // eslint-disable-next-line @typescript-eslint/no-namespace
  namespace Express {
    interface Request {
      session: RequestSession;
      sessionID: string;
    }
  }
}

// An empty session under a new id, never stored yet, as the request's session.
function startEmpty(req: Request, store: SqliteSessionStore): void {
  req.sessionID = crypto.randomBytes(24).toString('base64url');
  req.session = new Session({ req, store, id: req.sessionID, stored: false, storedJson: '{}' }) as RequestSession;
}

export interface SessionOptions {
  store: SqliteSessionStore;
  secret: string; // the HMAC key of the cookie's signature
  secure: boolean; // Secure cookie, withheld from a request that is not HTTPS
  logger: Logger;
  // The signed-in user for a session's user id, or null when there is none to sign in
  // (unknown or disabled); may throw (the request then fails as a database error).
  userOf: (id: unknown) => SessionUser | null;
}

export function sessions(options: SessionOptions): RequestHandler {
  const { store, secret, secure, logger, userOf } = options;
  const mac = (id: string) => crypto.createHmac('sha256', secret).update(id).digest('base64').replace(/=+$/, '');
  const cookieValueOf = (id: string) => encodeURIComponent(`s:${id}.${mac(id)}`);
  // The id in a signed cookie value, or undefined when its signature is wrong.
  const idIn = (raw: string): string | undefined => {
    let value: string;
    try {
      value = raw.includes('%') ? decodeURIComponent(raw) : raw;
    } catch {
      return undefined;
    }
    if (!value.startsWith('s:')) return undefined;
    const dot = value.lastIndexOf('.');
    if (dot < 2) return undefined;
    const id = value.slice(2, dot);
    const sent = Buffer.from(value.slice(dot + 1));
    const expected = Buffer.from(mac(id));
    return sent.length === expected.length && crypto.timingSafeEqual(sent, expected) ? id : undefined;
  };
  // Max-Age, not Expires: the browser counts the 30 minutes on its own clock (express-session
  // sent an Expires date from the server's, and a portal on a test clock days behind the
  // browser's would have set a cookie already expired).
  const attributes = `; Path=/; Max-Age=${IDLE_TIMEOUT_MS / 1000}; HttpOnly; SameSite=Lax${secure ? '; Secure' : ''}`;

  return (req: Request, res: Response, next: NextFunction) => {
    const raw = rawCookie(req.headers.cookie, SESSION_COOKIE);
    const cookieId = raw ? idIn(raw) : undefined;
    let loaded: ReturnType<SqliteSessionStore['load']> = null;
    try {
      if (cookieId) loaded = store.load(cookieId);
    } catch (err) {
      return next(err);
    }
    if (loaded) {
      req.sessionID = cookieId!;
      req.session = Object.assign(new Session({ req, store, id: cookieId!, stored: true, storedJson: loaded.json }), loaded.data) as RequestSession;
    } else {
      startEmpty(req, store);
    }

    // The signed-in user (Passport's session strategy did this): one read by id.
    const passport = req.session.passport;
    if (passport && passport.user !== undefined && passport.user !== null) {
      let user: SessionUser | null;
      try {
        user = userOf(passport.user);
      } catch (err) {
        return next(err);
      }
      if (user) req.user = user;
      else delete passport.user;
    }

    // Before the headers go out: store what changed, extend what did not, renew the cookie.
    const writeHead = res.writeHead;
    res.writeHead = function (this: Response, ...args: unknown[]) {
      res.writeHead = writeHead;
      finish(req, res);
      return (writeHead as (...a: unknown[]) => Response).apply(this, args);
    } as Response['writeHead'];
    next();

    function finish(req: Request, res: Response): void {
      const session = req.session as RequestSession | undefined;
      if (!session) return; // destroyed
      const state = session[STATE];
      const id = state.id;
      const json = JSON.stringify(session);
      try {
        if (state.stored ? json !== state.storedJson : json !== '{}') {
          store.save(id, session as SessionData, json);
          state.stored = true;
          state.storedJson = json;
        } else if (state.stored && id === cookieId) {
          store.touch(id);
        }
      } catch (err) {
        // Routes whose outcome depends on the session saved it themselves first (and failed
        // with 503); here the answer is already decided, so this is only logged.
        logger.warn('session not saved', { id: res.locals.requestId, error: String((err as Error)?.message ?? err) });
        return;
      }
      if (!state.stored) return; // nothing stored: no cookie
      if (secure && !req.secure) return; // a Secure cookie over plain http would be dropped
      const cookie = `${SESSION_COOKIE}=${id === cookieId && raw!.startsWith('s%3A') ? raw : cookieValueOf(id)}${attributes}`;
      const prev = res.getHeader('Set-Cookie');
      res.setHeader('Set-Cookie', prev === undefined ? cookie : Array.isArray(prev) ? [...prev, cookie] : [String(prev), cookie]);
    }
  };
}
