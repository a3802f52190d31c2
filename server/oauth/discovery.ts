// GET /.well-known/jwks.json (public signing keys) and
// GET /.well-known/oauth-authorization-server (RFC 8414 metadata). Not
// /.well-known/openid-configuration: OpenID Connect Discovery requires an authorization
// endpoint and ID token algorithms, and this server has neither (see the README).
import type { IncomingMessage, ServerResponse } from 'node:http';
import { asc } from 'drizzle-orm';
import { apis } from '../../db/schema.ts';
import type { Db } from '../../db/client.ts';
import type { Clock } from '../lib/clock.ts';
import type { Config } from '../lib/config.ts';
import { sendJson, sendPublicJson } from './http.ts';
import { publishedKeys } from './keys.ts';
import { ASSERTION_ALGORITHMS } from './client-assertion.ts';

export function createDiscoveryEndpoints(db: Db, clock: Clock, config: Config) {
  return {
    jwks(_req: IncomingMessage, res: ServerResponse): void {
      sendPublicJson(res, { keys: publishedKeys(db, clock, config.tokenLifetimeSeconds) });
    },
    metadata(_req: IncomingMessage, res: ServerResponse): void {
      const scopes = db.select({ code: apis.code }).from(apis).orderBy(asc(apis.code)).all().map((a) => a.code);
      sendPublicJson(res, {
        issuer: config.baseUrl,
        token_endpoint: `${config.baseUrl}/oauth/token`,
        jwks_uri: `${config.baseUrl}/.well-known/jwks.json`,
        introspection_endpoint: `${config.baseUrl}/oauth/introspect`,
        grant_types_supported: ['client_credentials'],
        token_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post', 'private_key_jwt'],
        token_endpoint_auth_signing_alg_values_supported: ASSERTION_ALGORITHMS,
        introspection_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post', 'private_key_jwt'],
        introspection_endpoint_auth_signing_alg_values_supported: ASSERTION_ALGORITHMS,
        // REQUIRED by RFC 8414, and validators refuse an empty list. There is no
        // authorization endpoint: "none" is the registered response type that returns
        // nothing from one.
        response_types_supported: ['none'],
        scopes_supported: scopes,
        resource_indicators_supported: true,
      });
    },
    notAnOpenIdProvider(_req: IncomingMessage, res: ServerResponse): void {
      sendJson(res, 404, {
        error: 'not_found',
        error_description: `This server is not an OpenID Provider (it signs in no people and issues no ID tokens). Its OAuth 2.0 metadata (RFC 8414) is at ${config.baseUrl}/.well-known/oauth-authorization-server.`,
      });
    },
  };
}
