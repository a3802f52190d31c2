// What the Manage API credentials page and its dialogs show, built once per request from
// the page's reads (reads.ts) and the status rules (status.ts): each application with its
// APIs, secrets, keys and how to get a token; a manager of many sees one line each.
import type { Deps } from '../deps.ts';
import type { FieldErrors } from '../lib/result.ts';
import { CREDENTIALS_PAGE } from '../lib/paths.ts';
import { addDays, dateInZone, formatDate, formatDateTime, relativeTime } from '../lib/dates.ts';
import type { Application } from './applications.ts';
import { activeSecretCount, capMessage, expiryRules, type ClientSecret } from './secrets.ts';
import { MAX_UPLOAD_BYTES, type ClientKey } from './public-keys.ts';
import { describeEvent, recentEvents } from './events.ts';
import { readApplications, readGrants, readSecretCounts, resourceOf, type JwksUrlRow } from './reads.ts';
import { parseKeySummary } from './jwks-url-status.ts';
import { EXPIRING_DAYS, lastUsedLabel, statusOn } from './status.ts';
import { readRefusals, readUsage, usageKey } from './usage.ts';
import { deleteEvidence, usageViews, type UsageView } from './usage-views.ts';
import { federatedUsageRows, federatedViews } from './federated-views.ts';

type ViewDeps = Pick<Deps, 'db' | 'clock' | 'config'>;

// Where an application's part of the page lives, its dialogs below it; with ':clientId',
// the routes' pattern.
export const applicationPath = (clientId: string) => `${CREDENTIALS_PAGE}/applications/${clientId}`;

// A manager of more than this many applications sees them as a list to open one by one:
// fifty applications in full are 650 KB of HTML, their summaries 20 KB.
export const COMPACT_AFTER = 10;

// The page: the applications in full, or one line each for a manager of many.
export function pageModel(deps: ViewDeps, managed: Application[]) {
  const compact = managed.length > COMPACT_AFTER;
  return {
    apps: compact ? [] : applicationViews(deps, managed),
    summaries: compact ? applicationSummaries(deps, managed) : [],
    expiringDays: EXPIRING_DAYS,
  };
}

// The applications as the page shows them. Recent activity is not part of it: the page
// loads it when a manager opens it (applicationEvents).
export function applicationViews(deps: ViewDeps, apps: Application[], options: { last24h?: boolean } = {}) {
  const { db, clock, config } = deps;
  const now = clock.now();
  const today = dateInZone(now, config.timezone);
  const rows = readApplications(db, apps.map((a) => a.id));
  const usage = readUsage(db, apps.map((a) => a.id), now, config.timezone, options);
  return apps.map((app) => {
    const granted = rows.grants.get(app.id) ?? [];
    const secretRows = rows.secrets.get(app.id) ?? [];
    const keyRows = rows.keys.get(app.id) ?? [];
    const used = usageViews(usage, app.id, [
      ...secretRows.map(([, id, name, , createdAt, , expiresAt, lastUsedAt]) => ({ kind: 'secret', id, name, createdAt, expiresAt, lastUsedAt })),
      ...keyRows.map(([, id, name, , , , , expiresAt, lastUsedAt, createdAt]) => ({ kind: 'key', id, name, createdAt, expiresAt, lastUsedAt })),
      ...federatedUsageRows(rows.federated.get(app.id) ?? []),
    ], now, config.idleDays);
    const secrets = secretRows.map(([, id, name, hint, createdAt, expiresOn, expiresAt, , createdByEmail, createdByName]) => ({
      id,
      name,
      hint,
      created: formatDate(dateInZone(createdAt, config.timezone)),
      createdBy: createdByName || createdByEmail || 'the association',
      expires: formatDate(expiresOn),
      expiresOn,
      status: statusOn({ expiresOn, expiresAt }, now, today),
      ...lastUseOf(used.get(usageKey('secret', id))!, now, config.timezone),
    }));
    return {
      name: app.name,
      clientId: app.clientId,
      sandboxOnly: app.sandboxOnly,
      apis: granted.map(([, code, name, sandboxResource, productionResource]) => ({
        code,
        name,
        resources: app.sandboxOnly
          ? [{ env: 'Sandbox', id: sandboxResource }]
          : [
              { env: 'Production', id: productionResource },
              { env: 'Sandbox', id: sandboxResource },
            ],
      })),
      secrets,
      ...capOf(secrets.filter((s) => s.status.kind !== 'expired').length, config.maxSecretsPerApplication),
      keys: keyRows.map(([, id, name, kind, thumbprint, keyType, expiresOn, expiresAt]) => ({
        id,
        name,
        kind: kind === 'certificate' ? 'Certificate' : kind === 'jwk' ? 'JWK' : 'Public key',
        thumbprint,
        keyType,
        expires: formatDate(expiresOn),
        expiresOn,
        status: statusOn({ expiresOn, expiresAt }, now, today),
        ...lastUseOf(used.get(usageKey('key', id))!, now, config.timezone),
      })),
      federated: federatedViews(rows.federated.get(app.id) ?? [], (id) => used.get(usageKey('federated', id))!, now, today, config.timezone),
      ...jwksView(rows.jwksUrls.get(app.id), now, config.timezone),
      base: applicationPath(app.clientId),
      idleDays: config.idleDays,
      usage: usageOf(config, app.clientId, granted.map((g) => resourceOf(g, sandboxFirst(config, app)))),
    };
  });
}

// The JWKS URL, what its last fetch found and when, and its last error (shown when it came
// after the last success).
function jwksView(row: JwksUrlRow | undefined, now: number, timeZone: string) {
  if (!row) return { jwksUrl: null, jwks: null };
  const errorIsLatest = row.last_error !== null && (row.last_error_at ?? 0) >= (row.fetched_at ?? 0);
  return {
    jwksUrl: row.url,
    jwks: {
      keys: parseKeySummary(row.keys),
      fetched: row.fetched_at === null ? null : { label: relativeTime(row.fetched_at, now), title: formatDateTime(row.fetched_at, timeZone) },
      lastError: errorIsLatest ? { message: row.last_error, label: relativeTime(row.last_error_at ?? now, now), title: formatDateTime(row.last_error_at ?? now, timeZone) } : null,
    },
  };
}

// Last used, its sparkline and whether it is safe to delete.
function lastUseOf(u: UsageView, now: number, timeZone: string) {
  return { lastUsed: lastUsedLabel(u.lastUsedAt, now), lastUsedTitle: u.lastUsedAt === null ? '' : formatDateTime(u.lastUsedAt, timeZone), usage: u };
}

// Each application in a line: name, client ID, how many secrets are active, expiring
// within EXPIRING_DAYS days or expired, and the next expiry date.
export function applicationSummaries(deps: ViewDeps, apps: Application[]) {
  const { db, clock, config } = deps;
  const now = clock.now();
  const counts = readSecretCounts(db, apps.map((a) => a.id), now, addDays(dateInZone(now, config.timezone), EXPIRING_DAYS));
  return apps.map((app) => {
    const c = counts.get(app.id);
    return {
      name: app.name,
      clientId: app.clientId,
      sandboxOnly: app.sandboxOnly,
      base: applicationPath(app.clientId),
      capLabel: capOf(c?.active ?? 0, config.maxSecretsPerApplication).capLabel,
      expiring: c?.expiring ?? 0,
      expired: c?.expired ?? 0,
      nextExpiry: c?.next_expiry ? formatDate(c.next_expiry) : '',
    };
  });
}

// One application's view (after a change to it), with its recent activity.
export function applicationView(deps: ViewDeps, app: Application) {
  return { ...applicationViews(deps, [app])[0]!, events: applicationEvents(deps, app), refusals: applicationRefusals(deps, app) };
}

// The last 20 events of the application, as sentences.
export function applicationEvents(deps: Pick<Deps, 'db' | 'config'>, app: Application) {
  return recentEvents(deps.db, app.id, 20).map((e) => ({
    at: formatDateTime(e.at, deps.config.timezone),
    iso: new Date(e.at).toISOString(),
    actor: e.actor,
    text: describeEvent(e),
    ip: e.ip ?? '',
  }));
}

// Refused token requests (last 30 days, 20 rows), for the managers: time, address, client
// software, the credential where it can be told, the reason in plain words, how many.
export function applicationRefusals(deps: Pick<Deps, 'db' | 'config' | 'clock'>, app: Application) {
  return readRefusals(deps.db, app.id, deps.clock.now()).map((r) => ({
    at: formatDateTime(r.last_at, deps.config.timezone),
    iso: new Date(r.last_at).toISOString(),
    count: r.count,
    address: r.address,
    client: r.client,
    credential: r.credential_label ? (r.kind === 'federated' ? `federated credential “${r.credential_label}”` : `${r.kind === 'secret' ? 'secret' : 'key'} ${r.kind === 'secret' ? `${r.credential_label}•••••` : r.credential_label.slice(0, 16)}`) : '',
    reason: r.reason,
  }));
}

// "3 of 5 active secrets", and whether the cap is reached.
export function capOf(active: number, cap: number) {
  return { activeCount: active, cap, atCap: active >= cap, capLabel: `${active} of ${cap} active secret${cap === 1 ? '' : 's'}` };
}

// The examples (curl, "Test this secret", the key samples) ask for the sandbox resource of
// a sandbox-only application, and of every application in the sandbox portal.
const sandboxFirst = (config: Pick<Deps['config'], 'portalEnv'>, app: Pick<Application, 'sandboxOnly'>) => app.sandboxOnly || config.portalEnv === 'sandbox';

// How to get a token: the endpoint, the resource values, the lifetime and a ready curl
// command (client ID filled in; the secret too where the page may show it).
export function usageOf(config: Pick<Deps['config'], 'baseUrl' | 'tokenLifetimeSeconds'>, clientId: string, resources: string[]) {
  const tokenEndpoint = `${config.baseUrl}/oauth/token`;
  const resource = resources[0] ?? '';
  return {
    issuer: config.baseUrl,
    tokenEndpoint,
    resource,
    // The samples must run as pasted: Node's openid-client refuses plain http unless told.
    plainHttp: config.baseUrl.startsWith('http:'),
    lifetimeMinutes: Math.round(config.tokenLifetimeSeconds / 60),
    curl: (secret = 'YOUR_CLIENT_SECRET') =>
      `curl -s -u '${clientId}:${secret}' -d grant_type=client_credentials${resource ? ` -d 'resource=${resource}'` : ''} '${tokenEndpoint}'`,
  };
}

// How to make a key pair and sign an assertion: with the application's first granted API
// in its default environment (as the page's usage section shows it).
export function keyHelpModel(deps: ViewDeps, app: Application) {
  const [first] = readGrants(deps.db, app.id);
  return { app: { name: app.name, clientId: app.clientId, usage: usageOf(deps.config, app.clientId, [first ? resourceOf(first, sandboxFirst(deps.config, app)) : '']) } };
}

// The dialogs. Each names the application and posts below its address.
const dialogApp = (app: Application) => ({ name: app.name, clientId: app.clientId, base: applicationPath(app.clientId) });

// Create new secret: the expiry rules and whether the cap is reached (one count, not the
// whole application view).
export function secretFormModel(deps: ViewDeps, app: Application, values: { name: string; expires: string }, errors: FieldErrors = {}) {
  const { db, clock, config } = deps;
  const rules = expiryRules(config, clock);
  const atCap = activeSecretCount(db, app.id, clock.now()) >= config.maxSecretsPerApplication;
  return { app: dialogApp(app), rules, values: { name: values.name, expires: values.expires || rules.suggested }, errors, capMessage: atCap ? capMessage(config) : '' };
}

// The new secret (null once it was shown: then only its hint), and the application
// changed, for the table behind the dialog.
export function secretCreatedModel(deps: ViewDeps, app: Application, row: ClientSecret, secret: string | null, oob: boolean) {
  return { app: applicationView(deps, app), secret, hint: row.hint, secretName: row.name, expires: formatDate(row.expiresOn), oob, credentialsPage: CREDENTIALS_PAGE };
}

// Delete a secret: its last use, and a warning before the last active one goes.
export function secretDeleteModel(deps: ViewDeps, app: Application, secret: ClientSecret) {
  const now = deps.clock.now();
  const lastActive = secret.expiresAt > now && activeSecretCount(deps.db, app.id, now) === 1;
  return { app: dialogApp(app), secret, lastUsed: lastUsedLabel(secret.lastUsedAt, now), lastActive, evidence: evidenceOf(deps, app, 'secret', secret.id) };
}

// What the credential is doing, for its delete dialog (usage-views.ts deleteEvidence).
function evidenceOf(deps: ViewDeps, app: Application, kind: 'secret' | 'key', id: string) {
  const [view] = applicationViews(deps, [app], { last24h: true });
  const item = (kind === 'secret' ? view?.secrets : view?.keys)?.find((c) => c.id === id);
  return item ? deleteEvidence(deps, app.id, item.usage, deps.clock.now()) : null;
}

export function keyFormModel(deps: ViewDeps, app: Application, values: { name?: string; key?: string; expires?: string }, errors: FieldErrors = {}) {
  return { app: dialogApp(app), rules: expiryRules(deps.config, deps.clock), values: { name: '', key: '', expires: '', ...values }, errors, maxUploadBytes: MAX_UPLOAD_BYTES };
}

export function keyAddedModel(deps: ViewDeps, app: Application, key: ClientKey, notice: string, oob: boolean) {
  return { app: applicationView(deps, app), key, notice, expires: formatDate(key.expiresOn), oob };
}

export function keyDeleteModel(deps: ViewDeps, app: Application, key: ClientKey) {
  return { app: dialogApp(app), key, lastUsed: lastUsedLabel(key.lastUsedAt, deps.clock.now()), evidence: evidenceOf(deps, app, 'key', key.id) };
}
