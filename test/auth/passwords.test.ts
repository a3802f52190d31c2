// Password hashing as production does it (the real cost, set for this test).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { burnPasswordCheck, hashPassword, lowerPasswordHashCostForTests, PASSWORD_HASH_COST, verifyPassword } from '../../server/auth/passwords.ts';

test('passwords: scrypt at N=16384, r=8, p=1 with a 16-byte salt; verified in constant time; junk refused', async (t) => {
  assert.equal(PASSWORD_HASH_COST, 16384);
  // The production cost, even in a process whose test portals lowered it.
  const lowered = lowerPasswordHashCostForTests(PASSWORD_HASH_COST);
  t.after(() => lowerPasswordHashCostForTests(lowered));
  const hash = await hashPassword('correct horse battery staple');
  const [kind, n, r, p, salt, key] = hash.split('$');
  assert.deepEqual([kind, n, r, p], ['scrypt', '16384', '8', '1']);
  assert.equal(Buffer.from(salt!, 'base64').length, 16);
  assert.equal(Buffer.from(key!, 'base64').length, 32);
  assert.notEqual(await hashPassword('correct horse battery staple'), hash, 'a fresh salt each time');
  const cases: Array<[string, string, boolean]> = [
    ['the password', 'correct horse battery staple', true],
    ['the same with a fullwidth letter (NFKC makes them equal)', 'correct horse battery staple'.replace('a', 'ａ'), true],
    ['one character off', 'correct horse battery stapLe', false],
    ['empty', '', false],
  ];
  for (const [name, password, expected] of cases) assert.equal(await verifyPassword(hash, password), expected, name);
  for (const junk of ['', 'bcrypt$x', 'scrypt$16384$8$1$', `scrypt$16384$8$1$${salt}`]) assert.equal(await verifyPassword(junk, 'x'), false, `stored "${junk}"`);
  assert.equal(await burnPasswordCheck('anything'), false);
});
