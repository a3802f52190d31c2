// What the attacker review found printed or logged: an SMTP server's echo of our AUTH line
// (user and password in base64) is taken out of a delivery error; a setup or reset token is
// masked in the request log whatever the path's letter case.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { errorText } from '../../server/mail/failures.ts';
import { safePath } from '../../server/http/request-log.ts';

test('an SMTP error that echoes AUTH PLAIN/LOGIN keeps its words but not the credentials', () => {
  const secret = Buffer.from('\0portaluser\0s3cret-password').toString('base64');
  const out = errorText(new Error(`Invalid login: 535 5.7.8 Error: authentication failed for AUTH PLAIN ${secret}`));
  assert.ok(!out.includes(secret), out);
  assert.match(out, /535 5\.7\.8 Error: authentication failed for AUTH \[redacted\]/);
  assert.ok(!errorText('auth login dXNlcg== cGFzc3dvcmQ=').includes('cGFzc3dvcmQ='));
  assert.equal(errorText(new Error('Connection refused')), 'Connection refused');
});

test('setup and reset tokens are masked in the request log in any letter case', () => {
  for (const p of ['/password/reset/abcdefghijklmnopqrstuvwxyz', '/PASSWORD/RESET/abcdefghijklmnopqrstuvwxyz', '/Password/Reset/abcdefghijklmnopqrstuvwxyz']) assert.ok(!safePath(p).includes('abcdefghij'), p);
  assert.ok(!safePath('/Setup/abcdefghijklmnop').includes('abcdefghij'));
  assert.equal(safePath('/password/reset/verify'), '/password/reset/verify');
});
