// The limiter's memory of fingerprints: the token endpoint skips its extra look at SQLite for
// a wrong secret that this client and address already sent in the current window (a secret
// made elsewhere since cannot be it), and only for that one.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RateLimiter } from '../../server/http/rate-limit.ts';

test('counted: a fingerprint hit in this window, for this key only, forgotten when the window ends', () => {
  let now = Date.parse('2026-11-30T09:00:00Z');
  const limiter = new RateLimiter(3, 60_000, { now: () => now });
  assert.equal(limiter.counted('192.0.2.1 app', 'f1'), false, 'nothing counted yet');
  limiter.hit('192.0.2.1 app', 'f1');
  assert.equal(limiter.counted('192.0.2.1 app', 'f1'), true);
  assert.equal(limiter.counted('192.0.2.1 app', 'f2'), false, 'another secret is asked about');
  assert.equal(limiter.counted('192.0.2.2 app', 'f1'), false, 'the same secret from another address too');
  now += 60_000;
  assert.equal(limiter.counted('192.0.2.1 app', 'f1'), false, 'a new window asks again');
  limiter.hit('192.0.2.1 app', 'f1');
  assert.equal(limiter.counted('192.0.2.1 app', 'f1'), true);
});
