// The machine-facing endpoints, on plain node:http (the token endpoint is the hot
// path and needs none of the web pages' middleware):
//   POST /oauth/token                             token.ts
//   POST /oauth/introspect                        introspect.ts
//   GET  /.well-known/jwks.json                   discovery.ts
//   GET  /.well-known/oauth-authorization-server  discovery.ts
// This file only wires them up, routes, and turns a thrown OAuthError (or anything
// else) into a JSON answer.
import crypto from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Deps } from '../deps.ts';
import { isBusyError, isStorageError, openConnection, SERVER_BUSY_TIMEOUT_MS, sqliteErrorCode } from '../../db/client.ts';
import { createAuditQueue } from '../audit/queue.ts';
import { createAddressOf } from '../http/client-address.ts';
import { STORAGE_RETRY_AFTER_SECONDS } from '../http/error-handler.ts';
import { createClientAuthentication } from './client-authentication.ts';
import { createDiscoveryEndpoints } from './discovery.ts';
import { OAuthError, temporarilyUnavailable } from './errors.ts';
import { ClientGone, sendJson } from './http.ts';
import { createIntrospectionEndpoint } from './introspect.ts';
import { createTokenSigner, createTokenVerifier } from './jwt.ts';
import { createTokenEndpoint } from './token.ts';
import { createRequestTally } from './request-log.ts';
import { createSignatures, signaturesMode } from './signatures/signatures.ts';

// The status the request log counts for a client that went away before its request was
// in: 408 when the server's deadline closed the connection (Node wrote the 408), else
// 499, nginx's "client closed request". Nothing is written and nothing is logged.
const CLIENT_CLOSED_REQUEST = 499;

// The disk full or failing (SQLITE_FULL, SQLITE_IOERR_*): try again later.
const storageUnavailable = new OAuthError(503, 'temporarily_unavailable', 'The service cannot store data at the moment. Try again later.', { 'Retry-After': String(STORAGE_RETRY_AFTER_SECONDS) });

// The endpoints' own connection waits even less for a lock than the pages' one: it
// only reads on the request path; its writes (audit, last use) are queued and retried.
const ENDPOINT_BUSY_TIMEOUT_MS = Math.min(50, SERVER_BUSY_TIMEOUT_MS);

export function createOAuthEndpoints(deps: Deps) {
  const { db, clock, config, logger } = deps;
  // A connection of our own: its data_version tells the client cache about every commit
  // made elsewhere, and the writes made here do not disturb that cache.
  const sqlite = openConnection(db.$client.name, ENDPOINT_BUSY_TIMEOUT_MS);
  const audit = createAuditQueue(sqlite, clock, logger);
  // This portal's signature thread (SIGNATURES), for tokens and client assertions.
  const signatures = createSignatures(signaturesMode(config.signatures));
  const auth = createClientAuthentication({ sqlite, clock, config, logger, addressOf: createAddressOf(config), audit, verifySignature: signatures.verify });
  const discovery = createDiscoveryEndpoints(db, clock, config);
  const tally = createRequestTally(logger, signatures);

  const routes: Record<string, (req: IncomingMessage, res: ServerResponse) => void | Promise<void>> = {
    '/oauth/token': createTokenEndpoint({
      issuer: config.baseUrl,
      lifetimeSeconds: config.tokenLifetimeSeconds,
      now: () => clock.now(),
      authenticateClient: auth.authenticateClient,
      sign: createTokenSigner(db, deps.masterKey, clock, signatures.sign),
    }),
    '/oauth/introspect': createIntrospectionEndpoint({
      sqlite,
      authenticateClient: auth.authenticateClient,
      verify: createTokenVerifier(db, clock, config.baseUrl, config.tokenLifetimeSeconds),
    }),
    '/.well-known/jwks.json': discovery.jwks,
    '/.well-known/oauth-authorization-server': discovery.metadata,
    // The same with OpenID Connect Discovery's required members: where openid-client,
    // oauth4webapi and ASP.NET's JwtBearer look by default.
    '/.well-known/openid-configuration': discovery.openidConfiguration,
  };

  // The error's JSON answer (no closure made per request: this is the hot path).
  function fail(res: ServerResponse, path: string, err: unknown) {
    if (res.headersSent) return;
    if (err instanceof OAuthError) return sendJson(res, err.status, { error: err.error, error_description: err.description }, err.headers);
    if (err instanceof ClientGone) {
      res.statusCode = err.timedOut ? 408 : CLIENT_CLOSED_REQUEST;
      return;
    }
    if (isBusyError(err)) {
      logger.warn('oauth endpoint: database busy', { path });
      const e = temporarilyUnavailable();
      return sendJson(res, e.status, { error: e.error, error_description: e.description }, e.headers);
    }
    if (isStorageError(err)) {
      logger.warn('oauth endpoint: database full or failing; answered 503', { path, code: sqliteErrorCode(err) });
      const e = storageUnavailable;
      return sendJson(res, e.status, { error: e.error, error_description: e.description }, e.headers);
    }
    const id = crypto.randomUUID().slice(0, 8);
    logger.error('oauth endpoint failed', { id, path, error: String((err as Error)?.message ?? err), stack: String((err as Error)?.stack ?? '') });
    sendJson(res, 500, { error: 'server_error', error_description: `The server could not handle the request. Try again; if it keeps happening, contact support and mention reference ${id}.`, request_id: id });
  }

  // Handles the request when the path is one of ours; false otherwise.
  function handle(req: IncomingMessage, res: ServerResponse): boolean {
    const url = req.url ?? '';
    const q = url.indexOf('?');
    const path = q === -1 ? url : url.slice(0, q);
    const route = routes[path];
    if (!route) return false;
    try {
      const pending = route(req, res);
      if (pending) {
        pending.then(
          () => tally.count(path, res.statusCode),
          (err: unknown) => {
            fail(res, path, err);
            tally.count(path, res.statusCode);
          },
        );
        return true;
      }
    } catch (err) {
      fail(res, path, err);
    }
    tally.count(path, res.statusCode);
    return true;
  }

  return {
    handle,
    // The endpoints' own SQLite connection (the fault drills make its disk full).
    connection: sqlite,
    // Where signatures ran, and the thread (tests).
    signatures,
    // Writes what the background queues hold now (tests; shutdown).
    flush() {
      tally.flush();
      auth.flush(); // before the audit queue: it hands the queue its summaries
      audit.flush();
    },
    close() {
      tally.flush();
      auth.close();
      audit.close();
      signatures.close().catch((err: unknown) => logger.warn('signature thread not ended cleanly', { error: String((err as Error)?.message ?? err) }));
      sqlite.close();
    },
  };
}
