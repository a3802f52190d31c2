// Builds the Express application from its dependencies; never listens.
import express, { type Express } from 'express';
import session from 'express-session';
import crypto from 'node:crypto';
import { htmxFile, resourcePath } from './paths.ts';
import { sql } from 'drizzle-orm';
import type { Deps } from './deps.ts';
import { SqliteSessionStore, IDLE_TIMEOUT_MS } from './auth/session-store.ts';
import { authRoutes, configurePassport } from './auth/routes.ts';
import { credentialRoutes } from './credentials/routes.ts';
import { outboxRoutes } from './notifications/routes.ts';
import { adminRoutes } from './admin/routes.ts';
import { homeFor, currentUser } from './auth/guards.ts';
import { csrfCheck, originCheck, securityHeaders } from './http/security.ts';
import { requestLog } from './http/request-log.ts';
import { errorHandler, notFoundHandler } from './http/error-handler.ts';


export function createApp(deps: Deps): Express & { sessionStore: SqliteSessionStore } {
  const { config, db, clock, views, logger } = deps;
  const app = express();
  app.disable('x-powered-by');
  app.set('trust proxy', 'loopback');
  app.use(requestLog(logger));
  app.use(securityHeaders(config.secureCookies));

  // GET /healthz — 200 "ok" when the database answers.
  app.get('/healthz', (_req, res) => {
    db.get(sql`select 1`);
    res.type('text').set('Cache-Control', 'no-store').send('ok');
  });

  // Static files: our CSS and JS, and htmx from node_modules (never a CDN).
  app.get('/assets/htmx.min.js', (_req, res) => res.sendFile(htmxFile(), { maxAge: '1d' }));
  app.use('/assets', express.static(resourcePath('public'), { maxAge: '1h', index: false }));

  app.use(express.urlencoded({ extended: false, limit: '32kb', parameterLimit: 100 }));

  const sessionStore = new SqliteSessionStore(db, clock);
  app.use(
    session({
      name: 'portal.sid',
      store: sessionStore,
      secret: crypto.createHmac('sha256', deps.masterKey).update('session-cookie').digest('base64'),
      resave: false,
      saveUninitialized: false,
      rolling: true,
      proxy: config.secureCookies,
      cookie: { httpOnly: true, sameSite: 'lax', secure: config.secureCookies, maxAge: IDLE_TIMEOUT_MS, path: '/' },
    }),
  );
  const passport = configurePassport(deps);
  app.use(passport.initialize());
  app.use(passport.session());
  app.use(originCheck(config.baseUrl));
  app.use(csrfCheck());

  app.use(authRoutes(deps, passport));
  app.use(credentialRoutes(deps));
  app.use(adminRoutes(deps));
  app.use(outboxRoutes(deps));

  // GET / — send people where they belong.
  app.get('/', (req, res) => {
    const user = currentUser(req);
    res.redirect(303, user && req.session.authAt ? homeFor(user) : '/login');
  });


  app.use(notFoundHandler);
  app.use(errorHandler(config, views, logger));
  return Object.assign(app, { sessionStore });
}
