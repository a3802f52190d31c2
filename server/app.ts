// Builds the Express application from its dependencies; never listens.
import express, { type Express, type RequestHandler } from 'express';
import crypto from 'node:crypto';
import { htmxFile, resourcePath, simpleWebAuthnBrowserFile } from './lib/paths.ts';
import { RateLimiter } from './http/rate-limit.ts';
import { accountRoutes } from './account/routes.ts';
import { passkeySignInRoutes } from './account/passkey-sign-in.ts';
import { passwordResetRoutes } from './account/reset-routes.ts';
import type { Deps } from './deps.ts';
import { SqliteSessionStore } from './auth/session-store.ts';
import { authRoutes, PASSWORD_ATTEMPTS_PER_IP, PASSWORD_WINDOW_MS } from './auth/routes.ts';
import { configurePassport, sessionUserOf } from './auth/passport.ts';
import { sessions } from './auth/session.ts';
import { credentialRoutes } from './credentials/routes.ts';
import { adminRoutes } from './admin/routes.ts';
import { homeFor, currentUser } from './auth/guards.ts';
import { csrfCheck, originCheck, securityHeaders } from './http/security.ts';
import { requestLog } from './http/request-log.ts';
import { errorHandler, notFoundHandler } from './http/error-handler.ts';


// A router entered only for the paths under its prefixes (compared as Express compares
// paths: case-insensitive, a trailing slash allowed): Express tries every route of every
// router it enters, so a request for one page would otherwise be matched against all of
// the portal's routes (about a tenth of a signed-in 404's server time).
function under(prefixes: string[], router: RequestHandler): RequestHandler {
  const lower = prefixes.map((p) => p.toLowerCase());
  return (req, res, next) => {
    const path = req.path.toLowerCase();
    return lower.some((p) => path === p || (path.startsWith(p) && path.charCodeAt(p.length) === 47)) ? router(req, res, next) : next();
  };
}

export function createApp(deps: Deps): Express & { sessionStore: SqliteSessionStore; flush(): void; close(): void } {
  const { config, db, clock, views, logger } = deps;
  const app = express();
  app.disable('x-powered-by');
  // req.ip comes from the same TRUST_PROXY test as the token endpoint's address
  // (http/client-address.ts); without TRUST_PROXY, X-Forwarded-For is ignored.
  app.set('trust proxy', config.trustProxy.length ? config.trustProxyFn : false);
  // Pages are no-store and built per request: an ETag (a SHA-1 over every page) buys nothing.
  app.set('etag', false);
  app.use(requestLog(logger));
  app.use(securityHeaders(config.secureCookies));

  // GET /healthz — 200 "ok" when the database answers (one statement, prepared once).
  const ping = db.$client.prepare('select 1');
  app.get('/healthz', (_req, res) => {
    ping.get();
    res.type('text').set('Cache-Control', 'no-store').send('ok');
  });

  // Static files: our CSS and JS, and htmx from node_modules (never a CDN).
  app.get('/assets/htmx.min.js', (_req, res) => res.sendFile(htmxFile(), { maxAge: '1d' }));
  app.get('/assets/simplewebauthn-browser.js', (_req, res) => res.sendFile(simpleWebAuthnBrowserFile(), { maxAge: '1d' }));
  // GET /favicon.ico — browsers ask for it by name: the same icon, never a 404.
  app.get('/favicon.ico', (_req, res) => res.type('image/svg+xml').sendFile(resourcePath('public', 'favicon.svg'), { maxAge: '1d' }));
  app.use('/assets', express.static(resourcePath('public'), { maxAge: '1h', index: false }));

  // An uploaded key or certificate may be up to 64 KB of text (MAX_UPLOAD_BYTES), so that
  // form may be larger: its own error then shows in the dialog instead of a 413 page.
  // A GET or HEAD carries no form: its request passes without entering the parsers.
  const keyUploadBody = express.urlencoded({ extended: false, limit: '160kb', parameterLimit: 100 });
  const formBody = express.urlencoded({ extended: false, limit: '32kb', parameterLimit: 100 });
  app.use((req, res, next) => {
    if (req.method === 'GET' || req.method === 'HEAD') return next();
    return req.method === 'POST' && /\/applications\/[^/]+\/keys$/.test(req.path) ? keyUploadBody(req, res, next) : formBody(req, res, next);
  });

  const sessionStore = new SqliteSessionStore(db, clock, logger);
  app.use(
    sessions({
      store: sessionStore,
      secret: crypto.createHmac('sha256', deps.masterKey).update('session-cookie').digest('base64'),
      secure: config.secureCookies,
      logger,
      userOf: sessionUserOf(deps),
    }),
  );
  const passport = configurePassport(deps);
  app.use(originCheck(config.baseUrl));
  app.use(csrfCheck(deps.masterKey, config.secureCookies));

  // Failed password attempts per address: sign-in and the account page count together.
  const passwordLimiter = new RateLimiter(PASSWORD_ATTEMPTS_PER_IP, PASSWORD_WINDOW_MS, clock);
  const auth = authRoutes(deps, passport, passwordLimiter);
  app.use(under(['/manage-api-credentials', '/manage-clients'], credentialRoutes(deps)));
  // Passport's req.login, where people sign in.
  app.use(under(['/login', '/setup'], passport.initialize()));
  app.use(under(['/login', '/logout', '/setup'], auth));
  app.use(under(['/login'], passkeySignInRoutes(deps)));
  app.use(under(['/account'], accountRoutes(deps, passwordLimiter)));
  app.use(under(['/password'], passwordResetRoutes(deps)));
  app.use(under(['/admin'], adminRoutes(deps)));

  // GET / — send people where they belong.
  app.get('/', (req, res) => {
    const user = currentUser(req);
    res.redirect(303, user && req.session.authAt ? homeFor(user) : '/login');
  });


  app.use(notFoundHandler);
  app.use(errorHandler(config, views, logger, db.$client));
  return Object.assign(app, { sessionStore, flush: auth.flush, close: auth.close });
}
