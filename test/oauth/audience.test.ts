// resolveAudience: which resource identifiers and scope a token gets, table-style.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { resolveAudience } from '../../server/oauth/token.ts';
import { OAuthError } from '../../server/oauth/errors.ts';

const grants = [
  { code: 'DM', production: 'https://api/dm', sandbox: 'https://sb/dm' },
  { code: 'SMC', production: 'https://api/smc', sandbox: 'https://sb/smc' },
];
const prod = { grants, sandboxOnly: false };
const sandboxOnly = { grants, sandboxOnly: true };

test('resolveAudience: what is granted', () => {
  const cases: Array<[string, typeof prod, string[], string | null, { aud: string[]; scope: string }]> = [
    ['nothing asked: every API in production', prod, [], null, { aud: ['https://api/dm', 'https://api/smc'], scope: 'DM SMC' }],
    ['nothing asked, sandbox-only: every API in sandbox', sandboxOnly, [], null, { aud: ['https://sb/dm', 'https://sb/smc'], scope: 'DM SMC' }],
    ['scope only', prod, [], 'SMC', { aud: ['https://api/smc'], scope: 'SMC' }],
    ['scope with extra spaces', prod, [], ' DM  SMC ', { aud: ['https://api/dm', 'https://api/smc'], scope: 'DM SMC' }],
    ['one resource', prod, ['https://api/dm'], null, { aud: ['https://api/dm'], scope: 'DM' }],
    ['a production client may ask for sandbox', prod, ['https://sb/smc'], null, { aud: ['https://sb/smc'], scope: 'SMC' }],
    ['resource repeated', prod, ['https://api/dm', 'https://api/dm'], null, { aud: ['https://api/dm'], scope: 'DM' }],
    ['both environments of one API', prod, ['https://api/dm', 'https://sb/dm'], null, { aud: ['https://api/dm', 'https://sb/dm'], scope: 'DM' }],
    ['resource and matching scope', prod, ['https://api/dm'], 'DM', { aud: ['https://api/dm'], scope: 'DM' }],
  ];
  for (const [name, client, resources, scope, expected] of cases) assert.deepEqual(resolveAudience(client, resources, scope), expected, name);
});

test('resolveAudience: what is refused, with the exact error', () => {
  const cases: Array<[string, typeof prod, string[], string | null, string, string]> = [
    ['empty scope', prod, [], '', 'invalid_scope', 'The scope is empty.'],
    ['scope not granted', prod, [], 'SM', 'invalid_scope', 'The scope "SM" is not granted to this client.'],
    ['resource not granted', prod, ['https://api/other'], null, 'invalid_target', 'The resource "https://api/other" is not granted to this client.'],
    ['production for a sandbox-only client', sandboxOnly, ['https://api/dm'], null, 'invalid_target', 'The resource "https://api/dm" is not granted to this client.'],
    ['scope not matching the resources', prod, ['https://api/dm'], 'SMC', 'invalid_scope', 'The scope "SMC" does not match the requested resources.'],
    ['no API granted', { grants: [], sandboxOnly: false }, [], null, 'invalid_scope', 'This client has no API granted.'],
  ];
  for (const [name, client, resources, scope, error, description] of cases) {
    assert.throws(() => resolveAudience(client, resources, scope), (e: unknown) => e instanceof OAuthError && e.error === error && e.description === description, name);
  }
});
