// The machine-facing endpoints, on plain node:http (the token endpoint is the hot
// path and needs none of the web pages' middleware):
//   POST /oauth/token                          RFC 6749 §4.4 client_credentials
//   POST /oauth/introspect                     RFC 7662
//   GET  /.well-known/jwks.json                public signing keys
//   GET  /.well-known/oauth-authorization-server  RFC 8414 metadata
// Every answer is JSON with Cache-Control: no-store and Pragma: no-cache.
import crypto from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { asc } from 'drizzle-orm';
import { apis } from '../../db/schema.ts';
import type { Deps } from '../deps.ts';
import { recordAudit } from '../audit/audit.ts';
import { RateLimiter } from '../http/rate-limit.ts';
import { createClientAuthenticator, presentedCredentials, type AuthenticatedClient, type Grant } from './client-auth.ts';
import { openConnection } from '../../db/client.ts';
import { OAuthError, invalidClient, invalidRequest, invalidScope, invalidTarget, slowDown, unsupportedGrantType } from './errors.ts';
import { createTokenSigner, createTokenVerifier } from './jwt.ts';
import { publishedKeys } from './keys.ts';

const MAX_BODY = 16 * 1024;
const NO_CACHE = { 'Cache-Control': 'no-store', Pragma: 'no-cache' };

function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) {
  const json = JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': Buffer.byteLength(json), ...NO_CACHE, ...headers });
  res.end(json);
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    let size = 0;
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY) {
        reject(new OAuthError(413, 'invalid_request', 'The request body is too large.'));
        req.resume();
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

async function readForm(req: IncomingMessage): Promise<URLSearchParams> {
  const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
  if (type !== 'application/x-www-form-urlencoded') {
    req.resume();
    throw invalidRequest('The body must be application/x-www-form-urlencoded.');
  }
  const raw = await readBody(req);
  return new URLSearchParams(raw);
}

// Both POST endpoints: POST only, parameters in a form body and never in the URL.
async function readPostForm(req: IncomingMessage): Promise<URLSearchParams> {
  if (req.method !== 'POST') throw new OAuthError(405, 'invalid_request', 'Use POST.', { Allow: 'POST' });
  if ((req.url ?? '').includes('?')) {
    req.resume();
    throw invalidRequest('Send parameters in the request body, never in the URL.');
  }
  return readForm(req);
}

export function createOAuthEndpoints(deps: Deps) {
  const { db, clock, config, logger } = deps;
  // A connection of our own: its data_version tells the client cache about every commit
  // made elsewhere, and the last-use writes made here do not disturb that cache.
  const sqlite = openConnection(db.$client.name);
  const authenticate = createClientAuthenticator(sqlite);
  const sign = createTokenSigner(db, deps.masterKey, clock);
  const verify = createTokenVerifier(db, clock, config.baseUrl, config.tokenLifetimeSeconds);
  const secretLive = sqlite.prepare<[string, string], { one: number }>(
    `select 1 as one from client_secrets s join applications a on a.id = s.application_id
     where s.id = ? and a.client_id = ? and s.deleted_at is null and a.disabled_at is null`,
  );
  const touchSecret = sqlite.prepare<[number, string]>('update client_secrets set last_used_at = ? where id = ?');

  // Failed authentications: limited per client id and per address; successes are not counted.
  const perIp = new RateLimiter(config.tokenFailuresPerMinute, 60_000, clock);
  const perClient = new RateLimiter(config.tokenFailuresPerMinute, 60_000, clock);
  // Audit events for failures are themselves limited, so a flood cannot fill the disk.
  const auditPerClient = new RateLimiter(3, 60_000, clock);
  const auditGlobal = new RateLimiter(60, 60_000, clock);

  // last_used_at: written at most once a minute per secret, after the response.
  const lastWritten = new Map<string, number>();
  function noteUse(secretId: string) {
    const now = clock.now();
    if (now - (lastWritten.get(secretId) ?? 0) < 60_000) return;
    lastWritten.set(secretId, now);
    setImmediate(() => {
      try {
        touchSecret.run(now, secretId);
      } catch (err) {
        logger.warn('could not record last use', { error: String(err) });
      }
    });
  }

  function authenticateClient(req: IncomingMessage, params: URLSearchParams): AuthenticatedClient {
    const ip = req.socket.remoteAddress ?? 'unknown';
    const creds = presentedCredentials(req.headers.authorization, params);
    const ipLimit = perIp.check(ip);
    const clientLimit = perClient.check(creds.clientId);
    if (!ipLimit.allowed || !clientLimit.allowed) {
      throw slowDown(Math.max(ipLimit.allowed ? 0 : ipLimit.retryAfterSeconds, clientLimit.allowed ? 0 : clientLimit.retryAfterSeconds));
    }
    const client = authenticate(creds.clientId, creds.secret, clock.now());
    if (!client) {
      perIp.hit(ip);
      perClient.hit(creds.clientId);
      if (auditPerClient.hit(creds.clientId).allowed && auditGlobal.hit('all').allowed) {
        setImmediate(() =>
          recordAudit(db, clock, { label: `client:${creds.clientId.slice(0, 100)}`, ip }, { action: 'token.auth_failed', target: creds.clientId.slice(0, 100), details: { path: req.url?.split('?')[0] } }),
        );
      }
      throw invalidClient(creds.basic);
    }
    noteUse(client.secretId);
    return client;
  }

  // Which resource identifiers the token is for (RFC 8707 `resource`, and/or `scope` as API codes).
  function audience(client: AuthenticatedClient, params: URLSearchParams): { aud: string[]; scope: string } {
    const grants = client.grants;
    const defaultResource = (g: Grant) => (client.sandboxOnly ? g.sandbox : g.production);
    const resources = params.getAll('resource');
    const scopeParam = params.get('scope');
    const scopes = scopeParam === null ? [] : scopeParam.split(' ').filter(Boolean);
    if (scopeParam !== null && scopes.length === 0) throw invalidScope('The scope is empty.');
    for (const s of scopes) if (!grants.some((g) => g.code === s)) throw invalidScope(`The scope "${s.slice(0, 50)}" is not granted to this client.`);

    if (resources.length === 0) {
      const chosen = scopes.length ? grants.filter((g) => scopes.includes(g.code)) : grants;
      return { aud: chosen.map(defaultResource), scope: chosen.map((g) => g.code).join(' ') };
    }
    const aud: string[] = [];
    const codes: string[] = [];
    for (const r of resources) {
      const grant = grants.find((g) => g.sandbox === r || (!client.sandboxOnly && g.production === r));
      if (!grant) throw invalidTarget(`The resource "${r.slice(0, 200)}" is not granted to this client.`);
      if (!aud.includes(r)) aud.push(r);
      if (!codes.includes(grant.code)) codes.push(grant.code);
    }
    for (const s of scopes) if (!codes.includes(s)) throw invalidScope(`The scope "${s}" does not match the requested resources.`);
    return { aud, scope: codes.join(' ') };
  }

  async function token(req: IncomingMessage, res: ServerResponse) {
    const params = await readPostForm(req);
    for (const name of ['grant_type', 'scope']) if (params.getAll(name).length > 1) throw invalidRequest(`${name} may be sent only once.`);
    const grantType = params.get('grant_type');
    if (!grantType) throw invalidRequest('grant_type is missing.');
    if (grantType !== 'client_credentials') throw unsupportedGrantType('Only grant_type=client_credentials is supported.');
    const client = authenticateClient(req, params);
    const { aud, scope } = audience(client, params);
    if (aud.length === 0) throw invalidScope('This client has no API granted.');
    const iat = Math.floor(clock.now() / 1000);
    const accessToken = sign({
      iss: config.baseUrl,
      sub: client.clientId,
      client_id: client.clientId,
      aud,
      scope,
      iat,
      exp: iat + config.tokenLifetimeSeconds,
      jti: crypto.randomUUID(),
      secret_id: client.secretId,
    });
    sendJson(res, 200, { access_token: accessToken, token_type: 'Bearer', expires_in: config.tokenLifetimeSeconds, scope });
  }

  async function introspect(req: IncomingMessage, res: ServerResponse) {
    const params = await readPostForm(req);
    authenticateClient(req, params);
    const token = params.get('token');
    if (!token) throw invalidRequest('token is missing.');
    const claims = verify(token);
    // Active only while the secret that minted it exists and its application is enabled.
    if (!claims || !secretLive.get(claims.secret_id, claims.client_id)) return sendJson(res, 200, { active: false });
    sendJson(res, 200, {
      active: true,
      token_type: 'Bearer',
      client_id: claims.client_id,
      sub: claims.sub,
      aud: claims.aud,
      scope: claims.scope,
      iss: claims.iss,
      iat: claims.iat,
      exp: claims.exp,
      jti: claims.jti,
    });
  }

  function jwks(_req: IncomingMessage, res: ServerResponse) {
    const body = JSON.stringify({ keys: publishedKeys(db, clock, config.tokenLifetimeSeconds) });
    res.writeHead(200, { 'Content-Type': 'application/json; charset=utf-8', 'Cache-Control': 'public, max-age=300' });
    res.end(body);
  }

  function metadata(_req: IncomingMessage, res: ServerResponse) {
    const scopes = db.select({ code: apis.code }).from(apis).orderBy(asc(apis.code)).all().map((a) => a.code);
    const body = JSON.stringify({
      issuer: config.baseUrl,
      token_endpoint: `${config.baseUrl}/oauth/token`,
      jwks_uri: `${config.baseUrl}/.well-known/jwks.json`,
      introspection_endpoint: `${config.baseUrl}/oauth/introspect`,
      grant_types_supported: ['client_credentials'],
      token_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post'],
      introspection_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post'],
      scopes_supported: scopes,
      resource_indicators_supported: true,
    });
    res.writeHead(200, { 'Content-Type': 'application/json; charset=utf-8', 'Cache-Control': 'public, max-age=300' });
    res.end(body);
  }

  const routes: Record<string, (req: IncomingMessage, res: ServerResponse) => void | Promise<void>> = {
    '/oauth/token': token,
    '/oauth/introspect': introspect,
    '/.well-known/jwks.json': jwks,
    '/.well-known/oauth-authorization-server': metadata,
  };

  // Handles the request when the path is one of ours; false otherwise.
  function handle(req: IncomingMessage, res: ServerResponse): boolean {
    const path = (req.url ?? '').split('?')[0]!;
    const route = routes[path];
    if (!route) return false;
    const started = performance.now();
    const fail = (err: unknown) => {
      if (res.headersSent) return;
      if (err instanceof OAuthError) return sendJson(res, err.status, { error: err.error, error_description: err.description }, err.headers);
      logger.error('oauth endpoint failed', { path, error: String((err as Error)?.message ?? err), stack: String((err as Error)?.stack ?? '') });
      sendJson(res, 500, { error: 'server_error', error_description: 'The server could not handle the request. Try again.' });
    };
    res.once('finish', () => logger.info('request', { method: req.method, path, status: res.statusCode, ms: Math.round((performance.now() - started) * 10) / 10 }));
    try {
      const pending = route(req, res);
      if (pending) pending.catch(fail);
    } catch (err) {
      fail(err);
    }
    return true;
  }

  return { handle, close: () => sqlite.close() };
}
