// loadConfig in-process: every rule, table-style, each case naming itself.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkServerConfig, ConfigError, loadConfig } from '../../server/lib/config.ts';

test('loadConfig refuses bad values with one precise line', () => {
  const cases: Array<[string, Record<string, string>, string]> = [
    ['port not a number', { PORT: 'eighty' }, 'PORT must be a whole number between 0 and 65535, got "eighty"'],
    ['port too high', { PORT: '70000' }, 'PORT must be between 0 and 65535, got 70000'],
    ['base url without scheme', { BASE_URL: 'portal.example.org' }, 'BASE_URL must be an absolute http(s) URL, got "portal.example.org"'],
    ['base url ftp', { BASE_URL: 'ftp://portal.example.org' }, 'BASE_URL must start with http:// or https://, got "ftp://portal.example.org"'],
    ['base url with query', { BASE_URL: 'https://p.example.org/?x=1' }, 'BASE_URL must not contain a query or a fragment'],
    ['portal env', { PORTAL_ENV: 'staging' }, 'PORTAL_ENV must be "sandbox" or "production", got "staging"'],
    ['time zone', { PORTAL_TIMEZONE: 'Mars/Olympus' }, 'PORTAL_TIMEZONE must be an IANA time zone such as Europe/Amsterdam, got "Mars/Olympus"'],
    ['token lifetime', { TOKEN_LIFETIME_SECONDS: '-5' }, 'TOKEN_LIFETIME_SECONDS must be a whole number between 60 and 86400, got "-5"'],
    ['secret lifetime above a year', { SECRET_MAX_LIFETIME_DAYS: '400' }, 'SECRET_MAX_LIFETIME_DAYS must be between 1 and 365, got 400'],
    ['reminder days', { REMINDER_DAYS: '30,abc' }, 'REMINDER_DAYS must be a comma-separated list of days between 1 and 365, got "30,abc"'],
    ['smtp url', { SMTP_URL: 'http://mail' }, 'SMTP_URL must look like smtp://user:pass@host:587 or smtps://host:465'],
    ['master key', { PORTAL_MASTER_KEY: 'short' }, 'PORTAL_MASTER_KEY must be 32 bytes as 64 hex characters or base64'],
    ['mail from on two lines', { MAIL_FROM: 'a\nBcc: x@y.example' }, 'MAIL_FROM must be one line'],
    ['support email', { SUPPORT_EMAIL: 'nobody' }, 'SUPPORT_EMAIL must be an email address, got "nobody"'],
    ['reminder cron', { REMINDER_CRON: 'every day' }, 'REMINDER_CRON must be a cron expression such as "0 7 * * *", got "every day"'],
    ['reminder deadline', { REMINDER_DEADLINE_SECONDS: '0' }, 'REMINDER_DEADLINE_SECONDS must be between 1 and 86400, got 0'],
    ['request timeout zero', { REQUEST_TIMEOUT_SECONDS: '0' }, 'REQUEST_TIMEOUT_SECONDS must be between 1 and 300, got 0'],
    ['request timeout not a number', { REQUEST_TIMEOUT_SECONDS: '10s' }, 'REQUEST_TIMEOUT_SECONDS must be a whole number between 1 and 300, got "10s"'],
    ['signatures', { SIGNATURES: 'threads' }, 'SIGNATURES must be "auto", "thread" (or "pool") or "inline", got "threads"'],
    ['trust proxy garbage', { TRUST_PROXY: 'my proxy' }, 'TRUST_PROXY must be "none", "loopback" or a comma-separated list of addresses and CIDR ranges such as 10.0.0.0/8, got "my proxy"'],
    ['trust proxy bad cidr', { TRUST_PROXY: '10.0.0.0/99' }, 'TRUST_PROXY must be "none", "loopback" or a comma-separated list of addresses and CIDR ranges such as 10.0.0.0/8, got "10.0.0.0/99"'],
  ];
  for (const [name, env, message] of cases) {
    assert.throws(() => loadConfig(env), (err: unknown) => err instanceof ConfigError && err.message === message, name);
  }
});

test('loadConfig defaults and accepted values', () => {
  const d = loadConfig({});
  assert.equal(d.baseUrl, 'http://localhost:3000');
  assert.equal(d.secureCookies, false);
  assert.deepEqual(d.reminderDays, [30, 14, 7, 1]);
  assert.deepEqual(d.trustProxy, []);
  assert.equal(d.reminderDeadlineSeconds, 300);
  assert.equal(d.requestTimeoutSeconds, 10);
  assert.equal(loadConfig({ REQUEST_TIMEOUT_SECONDS: '2' }).requestTimeoutSeconds, 2);
  assert.equal(d.signatures, 'auto');
  assert.equal(loadConfig({ SIGNATURES: 'inline' }).signatures, 'inline');
  assert.equal(loadConfig({ SIGNATURES: 'pool' }).signatures, 'thread', 'the name it had before');
  assert.equal(d.supportEmail, 'support@example.org');
  const c = loadConfig({ BASE_URL: 'https://portal.example.org/', REMINDER_DAYS: '7, 30,7', TRUST_PROXY: 'loopback, 10.0.0.0/8', SECRET_MAX_LIFETIME_DAYS: '90' });
  assert.equal(c.baseUrl, 'https://portal.example.org', 'no trailing slash');
  assert.equal(c.secureCookies, true);
  assert.equal(c.supportEmail, 'support@portal.example.org');
  assert.deepEqual(c.reminderDays, [30, 7], 'sorted, without duplicates');
  assert.deepEqual(c.trustProxy, ['loopback', '10.0.0.0/8']);
  assert.equal(c.trustProxyFn('127.0.0.1', 0), true);
  assert.equal(c.trustProxyFn('10.1.2.3', 0), true);
  assert.equal(c.trustProxyFn('192.0.2.1', 0), false);
  assert.equal(c.secretMaxLifetimeDays, 90);
  assert.deepEqual(loadConfig({ TRUST_PROXY: 'none' }).trustProxy, []);
});

test('a server refuses an https BASE_URL without TRUST_PROXY (sign-in could never keep its Secure cookie); CLI commands only load the configuration', () => {
  const refusal = 'BASE_URL is https:// but TRUST_PROXY is not set: without it no request is seen as HTTPS and sign-in cannot keep its Secure cookie; set TRUST_PROXY to the address of the proxy that terminates TLS (e.g. TRUST_PROXY=loopback) and have it send X-Forwarded-Proto';
  const cases: Array<[string, Record<string, string>, boolean]> = [
    ['https without TRUST_PROXY', { BASE_URL: 'https://portal.example.org' }, false],
    ['https with TRUST_PROXY=none', { BASE_URL: 'https://portal.example.org', TRUST_PROXY: 'none' }, false],
    ['https behind a proxy on this host', { BASE_URL: 'https://portal.example.org', TRUST_PROXY: 'loopback' }, true],
    ['https behind proxies elsewhere', { BASE_URL: 'https://portal.example.org', TRUST_PROXY: '10.0.0.5,10.0.1.0/24' }, true],
    ['plain http, no proxy', { BASE_URL: 'http://localhost:3000' }, true],
    ['the default BASE_URL', {}, true],
  ];
  for (const [name, env, starts] of cases) {
    const config = loadConfig(env); // what a CLI command does: never refused for this
    if (starts) assert.doesNotThrow(() => checkServerConfig(config), name);
    else assert.throws(() => checkServerConfig(config), (err: unknown) => err instanceof ConfigError && err.message === refusal && !err.message.includes('\n'), name);
  }
});
