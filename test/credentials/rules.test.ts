// The pure rules behind the credentials page, table-style: a secret's status and last
// use, the expiry date rules, the create form's parsing, and how to get a token.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EXPIRING_DAYS, lastUsedLabel, secretStatus } from '../../server/credentials/status.ts';
import { resourceOf, type GrantRow } from '../../server/credentials/reads.ts';
import { capOf, usageOf } from '../../server/credentials/view-models.ts';
import { expiryRules, parseSecretInput } from '../../server/credentials/secrets.ts';
import { loadConfig } from '../../server/lib/config.ts';
import { fixedClock } from '../../server/lib/clock.ts';
import { endOfDateInZone } from '../../server/lib/dates.ts';

const TZ = 'Europe/Amsterdam';
const NOW = Date.parse('2027-03-10T12:00:00Z');

test('secretStatus: active, expiring within EXPIRING_DAYS (30), today, expired — in the portal zone', () => {
  assert.equal(EXPIRING_DAYS, 30);
  const at = (expiresOn: string) => ({ expiresOn, expiresAt: endOfDateInZone(expiresOn, TZ) });
  const cases: Array<[string, string, { kind: string; label: string; daysLeft: number }]> = [
    ['far ahead', '2027-06-30', { kind: 'active', label: 'Active', daysLeft: 112 }],
    ['31 days', '2027-04-10', { kind: 'active', label: 'Active', daysLeft: 31 }],
    ['30 days', '2027-04-09', { kind: 'expiring', label: 'Expires in 30 days', daysLeft: 30 }],
    ['tomorrow', '2027-03-11', { kind: 'expiring', label: 'Expires in 1 day', daysLeft: 1 }],
    ['today', '2027-03-10', { kind: 'expiring', label: 'Expires today', daysLeft: 0 }],
    ['yesterday', '2027-03-09', { kind: 'expired', label: 'Expired', daysLeft: -1 }],
  ];
  for (const [name, expiresOn, expected] of cases) assert.deepEqual(secretStatus(at(expiresOn), NOW, TZ), expected, name);
});

test('lastUsedLabel: never, then how long ago', () => {
  const cases: Array<[number | null, string]> = [
    [null, 'Never used'],
    [NOW, 'Last used just now'],
    [NOW - 59_000, 'Last used just now'],
    [NOW - 60_000, 'Last used 1 minute ago'],
    [NOW - 3 * 3_600_000, 'Last used 3 hours ago'],
    [NOW - 2 * 86_400_000, 'Last used 2 days ago'],
  ];
  for (const [at, label] of cases) assert.equal(lastUsedLabel(at, NOW), label, String(at));
});

test('how to get a token: the resource in the default environment, the cap label, the curl command', () => {
  const grant: GrantRow = [1, 'DM', 'Data Management', 'https://sandbox.example/dm', 'https://api.example/dm'];
  assert.equal(resourceOf(grant, false), 'https://api.example/dm');
  assert.equal(resourceOf(grant, true), 'https://sandbox.example/dm');
  assert.deepEqual(capOf(5, 5), { activeCount: 5, cap: 5, atCap: true, capLabel: '5 of 5 active secrets' });
  assert.deepEqual(capOf(0, 1), { activeCount: 0, cap: 1, atCap: false, capLabel: '0 of 1 active secret' });
  const config = { baseUrl: 'https://portal.example', tokenLifetimeSeconds: 3600 };
  const usage = usageOf(config, 'cid', ['https://api.example/dm']);
  assert.equal(usage.tokenEndpoint, 'https://portal.example/oauth/token');
  assert.equal(usage.lifetimeMinutes, 60);
  assert.equal(usage.curl(), "curl -s -u 'cid:YOUR_CLIENT_SECRET' -d grant_type=client_credentials -d 'resource=https://api.example/dm' 'https://portal.example/oauth/token'");
  assert.equal(usageOf(config, 'cid', []).curl('s3cret'), "curl -s -u 'cid:s3cret' -d grant_type=client_credentials 'https://portal.example/oauth/token'", 'no resource: no resource parameter');
});

test('expiryRules and parseSecretInput: tomorrow to one year (or the configured maximum)', () => {
  const clock = fixedClock(NOW);
  const config = loadConfig({ PORTAL_TIMEZONE: TZ });
  const rules = expiryRules(config, clock);
  assert.deepEqual(rules, {
    today: '2027-03-10',
    min: '2027-03-11',
    max: '2028-03-09',
    maxLabel: '9 Mar 2028',
    timezone: TZ,
    suggested: '2027-09-10',
    quickChoices: [
      { label: '3 months', date: '2027-06-10' },
      { label: '6 months', date: '2027-09-10' },
      { label: '12 months', date: '2028-03-09' },
    ],
  });
  const short = expiryRules(loadConfig({ PORTAL_TIMEZONE: TZ, SECRET_MAX_LIFETIME_DAYS: '90' }), clock);
  assert.equal(short.max, '2027-06-08');
  assert.equal(short.quickChoices[2]!.date, '2027-06-08', 'quick choices are clamped to the maximum');

  const cases: Array<[string, { name: unknown; expires: unknown }, Record<string, string> | null]> = [
    ['valid', { name: 'Production', expires: '2027-12-31' }, null],
    ['the last allowed day', { name: 'P', expires: '2028-03-09' }, null],
    ['no name', { name: '  ', expires: '2027-12-31' }, { name: 'Enter a client secret name.' }],
    ['name not a string', { name: ['a'], expires: '2027-12-31' }, { name: 'Enter a client secret name.' }],
    ['line break in the name', { name: 'a\nb', expires: '2027-12-31' }, { name: 'Client secret name must not contain control characters such as line breaks or tabs.' }],
    ['no date', { name: 'P', expires: '' }, { expires: 'Enter an expiration date.' }],
    ['not a date', { name: 'P', expires: '2027-02-30' }, { expires: 'Enter the expiration date as a real date, like 2027-05-31.' }],
    ['today', { name: 'P', expires: '2027-03-10' }, { expires: 'The expiration date must be tomorrow or later.' }],
    ['more than a year', { name: 'P', expires: '2028-03-10' }, { expires: 'The expiration date can be at most one year ahead (9 Mar 2028).' }],
    ['both wrong', { name: '', expires: 'soon' }, { name: 'Enter a client secret name.', expires: 'Enter the expiration date as a real date, like 2027-05-31.' }],
  ];
  for (const [name, input, errors] of cases) {
    const r = parseSecretInput(config, clock, input);
    if (errors === null) assert.ok(r.ok, name);
    else assert.deepEqual(r.ok ? null : r.errors, errors, name);
  }
});
