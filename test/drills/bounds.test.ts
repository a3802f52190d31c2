// Every in-memory structure that grows with traffic is bounded (issue 30, point 2): the
// two bounds added for it — the rate limiters' windows and the used-assertion (jti) memory,
// which refuses rather than forgets — and the gauges `kill -USR2` and the soak read.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import Database from 'better-sqlite3';
import { MAX_WINDOWS, RateLimiter } from '../../server/http/rate-limit.ts';
import { MAX_USED, MAX_USED_PER_CLIENT, createUsedAssertions } from '../../server/oauth/used-assertions.ts';
import { OAuthError } from '../../server/oauth/errors.ts';
import { fixedClock } from '../../server/lib/clock.ts';
import { gaugeSizes } from '../../server/lib/gauges.ts';
import { memoryLogger } from '../../server/lib/log.ts';

test('a rate limiter holds at most MAX_WINDOWS keys, even when a flood of new keys arrives within one window', () => {
  const clock = fixedClock(Date.now());
  const limiter = new RateLimiter(10, 60_000, clock);
  for (let i = 0; i < MAX_WINDOWS * 1.5; i++) limiter.hit(`client-${i} 192.0.2.1`, 'fingerprint');
  const size = () => (limiter as unknown as { windows: Map<string, unknown> }).windows.size;
  assert.ok(size() <= MAX_WINDOWS, `${size()} windows`);
  // The newest keys are kept and still counted.
  const last = `client-${MAX_WINDOWS * 1.5 - 1} 192.0.2.1`;
  for (let i = 0; i < 9; i++) limiter.hit(last, `f${i}`);
  assert.equal(limiter.check(last).allowed, false, 'the newest key still reaches its limit');
  assert.ok((gaugeSizes()['rate limiter windows'] ?? 0) >= size(), 'the gauge counts it');
});

test('used assertions: a replay is refused; past a client’s share, or the whole memory, a new one is 503 and not accepted; an expired one makes room', () => {
  const sqlite = new Database(':memory:');
  sqlite.exec('create table used_assertions (key text not null, expires_at integer not null)');
  let now = Date.now();
  const used = createUsedAssertions(sqlite, memoryLogger(), () => now);
  const claim = (client: string, jti: string, lifetimeMs = 3_600_000) => used.claim(`${client} ${jti}`, now + lifetimeMs);
  const refusal = (f: () => unknown) => {
    try {
      f();
    } catch (err) {
      assert.ok(err instanceof OAuthError);
      return err;
    }
    return assert.fail('expected a 503');
  };

  assert.equal(claim('a', 'j0'), true);
  assert.equal(claim('a', 'j0'), false, 'a replay');
  for (let i = 1; i < MAX_USED_PER_CLIENT; i++) assert.equal(claim('a', `j${i}`), true);
  const share = refusal(() => claim('a', 'one-more'));
  assert.equal(share.status, 503);
  assert.equal(share.error, 'temporarily_unavailable');
  assert.equal(share.headers['Retry-After'], '60');
  assert.match(share.description, /This client's 20,000 client assertions are unexpired/);
  assert.equal(claim('a', 'j5'), false, 'at its share, a replay is still a replay');
  assert.equal(claim('b', 'j0'), true, 'another client is not held back by the first one');

  // Nine more clients fill the whole memory.
  for (let c = 1; c < 10; c++) for (let i = c === 1 ? 1 : 0; i < MAX_USED_PER_CLIENT; i++) claim(String.fromCharCode(97 + c), `j${i}`, 120_000);
  assert.ok(gaugeSizes()['used assertions (jti)']! >= MAX_USED, 'the gauge counts them (other portals in this process too)');
  assert.match(refusal(() => claim('z', 'first')).description, /^200,000 client assertions are unexpired/);
  // Two minutes on, the short-lived ones have expired: room again, and the replays of
  // unexpired ones are still refused.
  now += 121_000;
  assert.equal(claim('z', 'first'), true);
  assert.equal(claim('a', 'j7'), false);
  used.flush();
  // a's 20,000 and b's first (an hour each), and z's: the expired ones are purged.
  assert.equal((sqlite.prepare('select count(*) n from used_assertions').get() as { n: number }).n, MAX_USED_PER_CLIENT + 2, 'every unexpired one was written');
  sqlite.close();
});
