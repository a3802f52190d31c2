// GET /.well-known/jwks.json (public signing keys) and
// GET /.well-known/oauth-authorization-server (RFC 8414 metadata), and the same document
// with OpenID Connect Discovery's two required members at /.well-known/openid-configuration,
// where openid-client, oauth4webapi and ASP.NET's JwtBearer look by default (see the README).
import type { IncomingMessage, ServerResponse } from 'node:http';
import { asc } from 'drizzle-orm';
import { apis } from '../../db/schema.ts';
import type { Db } from '../../db/client.ts';
import type { Clock } from '../lib/clock.ts';
import type { Config } from '../lib/config.ts';
import { sendPublicJson } from './http.ts';
import { publishedKeys } from './keys.ts';
import { ASSERTION_ALGORITHMS } from './client-assertion.ts';

export function createDiscoveryEndpoints(db: Db, clock: Clock, config: Config) {
  return {
    jwks(_req: IncomingMessage, res: ServerResponse): void {
      sendPublicJson(res, { keys: publishedKeys(db, clock, config.tokenLifetimeSeconds) });
    },
    metadata(_req: IncomingMessage, res: ServerResponse): void {
      sendPublicJson(res, metadata());
    },
    openidConfiguration(_req: IncomingMessage, res: ServerResponse): void {
      sendPublicJson(res, {
        ...metadata(),
        // The `sub` of every token is the client ID, whoever the audience.
        subject_types_supported: ['public'],
        // Describes ID tokens, which this server never issues (no people sign in here);
        // OpenID Connect Discovery requires the member and requires RS256 in it.
        id_token_signing_alg_values_supported: ['RS256'],
      });
    },
  };

  function metadata() {
    const scopes = db.select({ code: apis.code }).from(apis).orderBy(asc(apis.code)).all().map((a) => a.code);
    return {
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
    };
  }
}
