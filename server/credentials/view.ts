// What the Manage API credentials page shows about an application: its client ID, the
// APIs and resource identifiers granted, its secrets with their status and last use,
// and recent activity. Built once per request.
import type { Deps } from '../deps.ts';
import type { ClientSecret } from './secrets.ts';
import { secretsOf, activeSecretCount } from './secrets.ts';
import { grantedApis, type Application } from './applications.ts';
import { describeEvent, recentEvents } from './events.ts';
import { keysOf } from './public-keys.ts';
import { jwksUrlOf } from './jwks-url.ts';
import { dateInZone, daysBetween, formatDate, formatDateTime, relativeTime } from '../dates.ts';

// "Never used" until the token endpoint records a use; then how long ago.
export function lastUsedLabel(lastUsedAt: number | null, now: number): string {
  return lastUsedAt === null ? 'Never used' : `Last used ${relativeTime(lastUsedAt, now)}`;
}

export type SecretStatus = { kind: 'active' | 'expiring' | 'expired'; label: string; daysLeft: number };

export function secretStatus(secret: Pick<ClientSecret, 'expiresOn' | 'expiresAt'>, now: number, timeZone: string): SecretStatus {
  const daysLeft = daysBetween(dateInZone(now, timeZone), secret.expiresOn);
  if (secret.expiresAt <= now) return { kind: 'expired', label: 'Expired', daysLeft };
  if (daysLeft <= 30) {
    return { kind: 'expiring', label: daysLeft === 0 ? 'Expires today' : `Expires in ${daysLeft} day${daysLeft === 1 ? '' : 's'}`, daysLeft };
  }
  return { kind: 'active', label: 'Active', daysLeft };
}

export const PAGE = '/manage-api-credentials';

export function applicationView(deps: Pick<Deps, 'db' | 'clock' | 'config'>, app: Application) {
  const { db, clock, config } = deps;
  const now = clock.now();
  const grants = grantedApis(db, app.id);
  return {
    name: app.name,
    clientId: app.clientId,
    sandboxOnly: app.sandboxOnly,
    apis: grants.map((g) => ({
      code: g.code,
      name: g.name,
      resources: app.sandboxOnly
        ? [{ env: 'Sandbox', id: g.sandboxResource }]
        : [
            { env: 'Production', id: g.productionResource },
            { env: 'Sandbox', id: g.sandboxResource },
          ],
    })),
    secrets: secretsOf(db, app.id).map(({ secret, createdByEmail, createdByName }) => ({
      id: secret.id,
      name: secret.name,
      hint: secret.hint,
      created: formatDate(dateInZone(secret.createdAt, config.timezone)),
      createdBy: createdByName || createdByEmail || 'the association',
      expires: formatDate(secret.expiresOn),
      expiresOn: secret.expiresOn,
      status: secretStatus(secret, now, config.timezone),
      lastUsed: lastUsedLabel(secret.lastUsedAt, now),
      lastUsedTitle: secret.lastUsedAt === null ? '' : formatDateTime(secret.lastUsedAt, config.timezone),
    })),
    ...capOf(activeSecretCount(db, app.id, now), config.maxSecretsPerApplication),
    events: recentEvents(db, app.id, 20).map((e) => ({
      at: formatDateTime(e.at, config.timezone),
      iso: new Date(e.at).toISOString(),
      actor: e.actor,
      text: describeEvent(e),
      ip: e.ip ?? '',
    })),
    keys: keysOf(deps, app.id).map((k) => ({
      id: k.id,
      name: k.name,
      kind: k.kind === 'certificate' ? 'Certificate' : k.kind === 'jwk' ? 'JWK' : 'Public key',
      thumbprint: k.thumbprint,
      keyType: k.keyType,
      expires: formatDate(k.expiresOn),
      expiresOn: k.expiresOn,
      status: secretStatus(k, now, config.timezone),
      lastUsed: lastUsedLabel(k.lastUsedAt, now),
    })),
    jwksUrl: jwksUrlOf(deps, app.id),
    base: `${PAGE}/applications/${app.clientId}`,
    usage: usageOf(config, app.clientId, grants.map((g) => (app.sandboxOnly ? g.sandboxResource : g.productionResource))),
  };
}

// "3 of 5 active secrets", and whether the cap is reached.
export function capOf(active: number, cap: number) {
  return { activeCount: active, cap, atCap: active >= cap, capLabel: `${active} of ${cap} active secret${cap === 1 ? '' : 's'}` };
}

// How to get a token: the endpoint, the resource values, the lifetime and a ready curl
// command (client ID filled in; the secret too where the page may show it).
export function usageOf(config: Pick<Deps['config'], 'baseUrl' | 'tokenLifetimeSeconds'>, clientId: string, resources: string[]) {
  const tokenEndpoint = `${config.baseUrl}/oauth/token`;
  const resource = resources[0] ?? '';
  return {
    issuer: config.baseUrl,
    tokenEndpoint,
    resource,
    lifetimeMinutes: Math.round(config.tokenLifetimeSeconds / 60),
    curl: (secret = 'YOUR_CLIENT_SECRET') =>
      `curl -s -u '${clientId}:${secret}' -d grant_type=client_credentials${resource ? ` -d 'resource=${resource}'` : ''} '${tokenEndpoint}'`,
  };
}

