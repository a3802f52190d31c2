// Typed configuration from the environment (DESIGN.md "Configuration"). Every value is
// checked at start; a bad one is a ConfigError whose message is one line for stderr.
import path from 'node:path';
import cron from 'node-cron';
import proxyaddr from 'proxy-addr';
import { parseEmail } from './validation.ts';

export interface Config {
  port: number;
  host: string;
  baseUrl: string; // no trailing slash
  baseUrlSet: boolean; // BASE_URL was given (not the localhost default)
  secureCookies: boolean;
  dataDir: string;
  portalEnv: 'sandbox' | 'production';
  smtpUrl: string | null;
  mailFrom: string;
  supportEmail: string;
  timezone: string;
  tokenLifetimeSeconds: number;
  secretMaxLifetimeDays: number;
  maxSecretsPerApplication: number;
  tokenFailuresPerMinute: number;
  jwksMaxAgeSeconds: number; // how long keys fetched from a JWKS URL are trusted before a refetch
  reminderDays: number[];
  reminderCron: string;
  reminderDeadlineSeconds: number;
  // A credential unused this many days while a newer one of its application is used is "safe to delete" (IDLE_DAYS).
  idleDays: number;
  // How long a request's headers and body may take to arrive (REQUEST_TIMEOUT_SECONDS):
  // past it the server answers 408 and closes the connection (serve.ts).
  requestTimeoutSeconds: number;
  // Where token signatures and client-assertion checks run (SIGNATURES): `thread` is a
  // thread of their own with the main thread as fallback (oauth/signatures/; `pool`, the
  // name it had from the libuv pool it replaced, is read as `thread`), `inline` the main
  // thread; `auto` is the thread when the machine has more than one core.
  signatures: 'auto' | 'thread' | 'inline';
  // Which peers may tell us the client's address in X-Forwarded-For (TRUST_PROXY);
  // `trustProxy` is the checked list as written, `trustProxyFn` the compiled test.
  trustProxy: string[];
  trustProxyFn: (addr: string, hop: number) => boolean;
  masterKey: string | null; // base64 or hex of 32 bytes; null: a 0600 file in DATA_DIR
  isDevelopment: boolean;
}

export class ConfigError extends Error {}

type Env = Record<string, string | undefined>;

function integer(env: Env, name: string, fallback: number, min: number, max: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  if (!/^\d+$/.test(raw.trim())) throw new ConfigError(`${name} must be a whole number between ${min} and ${max}, got "${raw}"`);
  const value = Number(raw.trim());
  if (value < min || value > max) throw new ConfigError(`${name} must be between ${min} and ${max}, got ${value}`);
  return value;
}

function isValidTimeZone(tz: string): boolean {
  try {
    new Intl.DateTimeFormat('en-GB', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}

// TRUST_PROXY: unset or `none` trusts nobody (X-Forwarded-For is ignored everywhere);
// otherwise a comma-separated list of addresses, CIDR ranges or the names proxy-addr
// knows (`loopback`, `linklocal`, `uniquelocal`).
function parseTrustProxy(raw: string | undefined): string[] {
  const value = raw?.trim() ?? '';
  if (value === '' || value.toLowerCase() === 'none') return [];
  const list = value.split(',').map((s) => s.trim()).filter(Boolean);
  try {
    proxyaddr.compile(list);
  } catch {
    throw new ConfigError(`TRUST_PROXY must be "none", "loopback" or a comma-separated list of addresses and CIDR ranges such as 10.0.0.0/8, got "${value}"`);
  }
  return list;
}

// A server started with an https BASE_URL and no TRUST_PROXY could never sign anyone in:
// the portal never terminates TLS itself, so without a trusted proxy's X-Forwarded-Proto
// every request looks like plain http and the session layer withholds the Secure session
// cookie (POST /login would answer 303 and forget the password step). Only the server's
// start checks this (main.ts); CLI commands read the same configuration and never serve.
export function checkServerConfig(config: Pick<Config, 'secureCookies' | 'trustProxy'>): void {
  if (config.secureCookies && config.trustProxy.length === 0) {
    throw new ConfigError('BASE_URL is https:// but TRUST_PROXY is not set: without it no request is seen as HTTPS and sign-in cannot keep its Secure cookie; set TRUST_PROXY to the address of the proxy that terminates TLS (e.g. TRUST_PROXY=loopback) and have it send X-Forwarded-Proto');
  }
}

export const DEFAULT_REQUEST_TIMEOUT_SECONDS = 10;

// The longest a secret may live: the user guide promises one year at most.
export const ABSOLUTE_MAX_SECRET_DAYS = 365;

export function loadConfig(env: Env = process.env): Config {
  const port = integer(env, 'PORT', 3000, 0, 65535);
  const host = env.HOST?.trim() || '127.0.0.1';
  const rawBase = env.BASE_URL?.trim() || `http://localhost:${port}`;
  let base: URL;
  try {
    base = new URL(rawBase);
  } catch {
    throw new ConfigError(`BASE_URL must be an absolute http(s) URL, got "${rawBase}"`);
  }
  if (base.protocol !== 'http:' && base.protocol !== 'https:') {
    throw new ConfigError(`BASE_URL must start with http:// or https://, got "${rawBase}"`);
  }
  if (base.search || base.hash) throw new ConfigError('BASE_URL must not contain a query or a fragment');
  const baseUrl = base.toString().replace(/\/+$/, '');

  const portalEnv = (env.PORTAL_ENV?.trim() || 'production').toLowerCase();
  if (portalEnv !== 'sandbox' && portalEnv !== 'production') {
    throw new ConfigError(`PORTAL_ENV must be "sandbox" or "production", got "${env.PORTAL_ENV}"`);
  }

  const smtpUrl = env.SMTP_URL?.trim() || null;
  if (smtpUrl) {
    let u: URL | null = null;
    try {
      u = new URL(smtpUrl);
    } catch {
      /* reported below */
    }
    if (!u || !['smtp:', 'smtps:'].includes(u.protocol)) {
      throw new ConfigError('SMTP_URL must look like smtp://user:pass@host:587 or smtps://host:465');
    }
  }
  const mailDomain = base.hostname.includes('.') && !/^[\d.]+$/.test(base.hostname) ? base.hostname : 'example.org';
  const mailFrom = env.MAIL_FROM?.trim() || `Credentials Portal <no-reply@${mailDomain}>`;
  if (/[\r\n]/.test(mailFrom)) throw new ConfigError('MAIL_FROM must be one line');
  const supportEmail = env.SUPPORT_EMAIL?.trim() || `support@${mailDomain}`;
  if (!parseEmail(supportEmail).ok) throw new ConfigError(`SUPPORT_EMAIL must be an email address, got "${supportEmail}"`);

  const timezone = env.PORTAL_TIMEZONE?.trim() || 'UTC';
  if (!isValidTimeZone(timezone)) throw new ConfigError(`PORTAL_TIMEZONE must be an IANA time zone such as Europe/Amsterdam, got "${timezone}"`);

  const reminderRaw = env.REMINDER_DAYS?.trim() || '30,14,7,1';
  const reminderDays = reminderRaw.split(',').map((s) => s.trim());
  if (reminderDays.some((d) => !/^\d{1,3}$/.test(d) || Number(d) < 1 || Number(d) > 365)) {
    throw new ConfigError(`REMINDER_DAYS must be a comma-separated list of days between 1 and 365, got "${reminderRaw}"`);
  }

  const masterKey = env.PORTAL_MASTER_KEY?.trim() || null;
  if (masterKey && !/^([0-9a-fA-F]{64}|[A-Za-z0-9+/]{43}=)$/.test(masterKey)) {
    throw new ConfigError('PORTAL_MASTER_KEY must be 32 bytes as 64 hex characters or base64');
  }

  const reminderCron = env.REMINDER_CRON?.trim() || '0 7 * * *';
  if (!/^(\S+\s+){4,5}\S+$/.test(reminderCron) || !cron.validate(reminderCron)) throw new ConfigError(`REMINDER_CRON must be a cron expression such as "0 7 * * *", got "${reminderCron}"`);

  const trustProxy = parseTrustProxy(env.TRUST_PROXY);

  const signaturesSetting = env.SIGNATURES?.trim() || 'auto';
  const signatures = signaturesSetting === 'pool' ? 'thread' : signaturesSetting;
  if (signatures !== 'auto' && signatures !== 'thread' && signatures !== 'inline') throw new ConfigError(`SIGNATURES must be "auto", "thread" (or "pool") or "inline", got "${signatures}"`);

  return {
    port,
    host,
    baseUrl,
    baseUrlSet: !!env.BASE_URL?.trim(),
    secureCookies: base.protocol === 'https:',
    dataDir: path.resolve(env.DATA_DIR?.trim() || './data'),
    portalEnv,
    smtpUrl,
    mailFrom,
    supportEmail,
    timezone,
    tokenLifetimeSeconds: integer(env, 'TOKEN_LIFETIME_SECONDS', 3600, 60, 86400),
    secretMaxLifetimeDays: integer(env, 'SECRET_MAX_LIFETIME_DAYS', ABSOLUTE_MAX_SECRET_DAYS, 1, ABSOLUTE_MAX_SECRET_DAYS),
    maxSecretsPerApplication: integer(env, 'MAX_SECRETS_PER_APPLICATION', 5, 1, 100),
    tokenFailuresPerMinute: integer(env, 'TOKEN_FAILURES_PER_MINUTE', 10, 1, 1_000_000),
    jwksMaxAgeSeconds: integer(env, 'JWKS_MAX_AGE_SECONDS', 300, 10, 86_400),
    reminderDays: [...new Set(reminderDays.map(Number))].sort((a, b) => b - a),
    reminderCron,
    reminderDeadlineSeconds: integer(env, 'REMINDER_DEADLINE_SECONDS', 300, 1, 86400),
    idleDays: integer(env, 'IDLE_DAYS', 7, 1, 365),
    requestTimeoutSeconds: integer(env, 'REQUEST_TIMEOUT_SECONDS', DEFAULT_REQUEST_TIMEOUT_SECONDS, 1, 300),
    signatures,
    trustProxy,
    trustProxyFn: proxyaddr.compile(trustProxy),
    masterKey,
    isDevelopment: env.NODE_ENV === 'development',
  };
}
