// POST /oauth/introspect — RFC 7662. The caller authenticates with its own client
// credentials and may only learn about tokens of its own organisation's applications
// (RFC 7662 §4): any other token, and any token whose secret has been deleted or whose
// application is disabled, is simply {"active": false}.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type Database from 'better-sqlite3';
import type { AuthenticatedClient } from './client-registry.ts';
import { invalidRequest } from './errors.ts';
import { readPostForm, sendJson } from './http.ts';
import type { AccessTokenClaims } from './jwt.ts';

export interface IntrospectionDeps {
  sqlite: Database.Database;
  authenticateClient(req: IncomingMessage, params: URLSearchParams): AuthenticatedClient | Promise<AuthenticatedClient>;
  verify(token: string): Promise<AccessTokenClaims | null>;
}

export function createIntrospectionEndpoint({ sqlite, authenticateClient, verify }: IntrospectionDeps) {
  // The organisation of the application whose live secret minted the token, if any.
  // (The credential is a client secret, a registered public key, the JWKS URL or a
  // federated credential.)
  const liveCredentialOrganisation = sqlite.prepare<{ credential: string; client: string }, { organisation_id: number }>(
    `select a.organisation_id from applications a where a.client_id = @client and a.disabled_at is null and (
       exists (select 1 from client_secrets s where s.id = @credential and s.application_id = a.id and s.deleted_at is null)
       or exists (select 1 from client_keys k where k.id = @credential and k.application_id = a.id and k.deleted_at is null)
       or (@credential = 'jwks' and exists (select 1 from client_jwks_urls j where j.application_id = a.id))
       or exists (select 1 from federated_credentials f where f.id = @credential and f.application_id = a.id and f.deleted_at is null))`,
  );
  return async function introspect(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const params = await readPostForm(req);
    const caller = await authenticateClient(req, params);
    const token = params.get('token');
    if (!token) throw invalidRequest('token is missing.');
    const claims = await verify(token);
    const owner = claims ? liveCredentialOrganisation.get({ credential: claims.secret_id, client: claims.client_id }) : undefined;
    if (!claims || !owner || owner.organisation_id !== caller.organisationId) return sendJson(res, 200, { active: false });
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
  };
}
