// POST /oauth/token — RFC 6749 §4.4 client_credentials. Each step passes on or throws
// an OAuthError; the router writes the error body.
import crypto from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AuthenticatedClient, Grant } from './client-registry.ts';
import { invalidRequest, invalidScope, invalidTarget, unsupportedGrantType } from './errors.ts';
import { readPostForm, sendJsonOk } from './http.ts';
import type { AccessTokenClaims } from './jwt.ts';

export interface Audience {
  aud: string[];
  scope: string;
}

// Which resource identifiers a token is for: RFC 8707 `resource` values (repeatable)
// and/or `scope` as API codes. Without either, every granted API in the client's
// default environment (production; sandbox for a sandbox-only application). A
// production application may also ask for sandbox resources; a sandbox-only one never
// for production.
export function resolveAudience(client: Pick<AuthenticatedClient, 'grants' | 'sandboxOnly'>, resources: string[], scopeParam: string | null): Audience {
  const grants = client.grants;
  if (resources.length === 0 && scopeParam === null) return defaultAudience(grants, client.sandboxOnly);
  const defaultResource = (g: Grant) => (client.sandboxOnly ? g.sandbox : g.production);
  const scopes = scopeParam === null ? [] : scopeParam.split(' ').filter(Boolean);
  if (scopeParam !== null && scopes.length === 0) throw invalidScope('The scope is empty.');
  for (const s of scopes) if (!grants.some((g) => g.code === s)) throw invalidScope(`The scope "${s.slice(0, 50)}" is not granted to this client.`);

  if (resources.length === 0) {
    const chosen = scopes.length ? grants.filter((g) => scopes.includes(g.code)) : grants;
    if (chosen.length === 0) throw invalidScope('This client has no API granted.');
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
  for (const s of scopes) if (!codes.includes(s)) throw invalidScope(`The scope "${s.slice(0, 50)}" does not match the requested resources.`);
  return { aud, scope: codes.join(' ') };
}

// Neither resource nor scope (most requests): every granted API, remembered per grants
// list (the client cache holds one list per application until something changes).
const defaults = new WeakMap<Grant[], { production?: Audience; sandbox?: Audience }>();
function defaultAudience(grants: Grant[], sandboxOnly: boolean): Audience {
  let known = defaults.get(grants);
  if (!known) defaults.set(grants, (known = {}));
  const env = sandboxOnly ? 'sandbox' : 'production';
  let audience = known[env];
  if (!audience) {
    if (grants.length === 0) throw invalidScope('This client has no API granted.');
    audience = known[env] = Object.freeze({ aud: Object.freeze(grants.map((g) => g[env])) as string[], scope: grants.map((g) => g.code).join(' ') });
  }
  return audience;
}

export interface TokenEndpointDeps {
  issuer: string;
  lifetimeSeconds: number;
  now: () => number;
  authenticateClient(req: IncomingMessage, params: URLSearchParams): AuthenticatedClient | Promise<AuthenticatedClient>;
  sign(claims: AccessTokenClaims): string | Promise<string>;
}

export function createTokenEndpoint({ issuer, lifetimeSeconds, now, authenticateClient, sign }: TokenEndpointDeps) {
  return async function token(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const params = await readPostForm(req);
    if (params.getAll('grant_type').length > 1) throw invalidRequest('grant_type may be sent only once.');
    if (params.getAll('scope').length > 1) throw invalidRequest('scope may be sent only once.');
    const grantType = params.get('grant_type');
    if (!grantType) throw invalidRequest('grant_type is missing.');
    if (grantType !== 'client_credentials') throw unsupportedGrantType('Only grant_type=client_credentials is supported.');
    // A secret is checked synchronously; only an assertion needs awaiting (a microtask saved).
    const checked = authenticateClient(req, params);
    const client = checked instanceof Promise ? await checked : checked;
    const { aud, scope } = resolveAudience(client, params.getAll('resource'), params.get('scope'));
    const iat = Math.floor(now() / 1000);
    const signed = sign({
      iss: issuer,
      sub: client.clientId,
      client_id: client.clientId,
      aud,
      scope,
      iat,
      exp: iat + lifetimeSeconds,
      jti: crypto.randomUUID(),
      secret_id: client.secretId,
    });
    const accessToken = typeof signed === 'string' ? signed : await signed;
    sendJsonOk(res, `{"access_token":"${accessToken}","token_type":"Bearer","expires_in":${lifetimeSeconds},"scope":${JSON.stringify(scope)}}`);
  };
}
