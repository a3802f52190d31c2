// Floods are counted, not stored row by row (SECURITY.md 40): throttled sign-ins make one
// row per address and minute with the count; failed token requests past the per-client
// budget make one summary row per client and address and minute. Every attempt accounted
// for, in a handful of rows.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { eq } from 'drizzle-orm';
import { auditEvents } from '../../db/schema.ts';
import { startPortal } from '../helpers/portal.ts';
import { makeApplication, makeOrganisation } from '../helpers/fixtures.ts';
import { createTally, OVERFLOW_KEY } from '../../server/audit/tally.ts';

const detailsOf = (row: { details: string | null }) => JSON.parse(row.details ?? '{}') as { count?: number; first?: string; last?: string };

test('throttled sign-ins: one row per address a minute, with the count', async (t) => {
  const portal = await startPortal(t);
  const c = portal.client();
  await c.get('/login');
  const statuses: number[] = [];
  for (let i = 0; i < 60; i++) statuses.push((await c.post('/login', { email: `victim${i}@example.org`, password: 'Spring2026!!' })).status);
  assert.equal(statuses.filter((s) => s === 401).length, 10);
  assert.equal(statuses.filter((s) => s === 429).length, 50);
  const rows = () => portal.deps.db.select().from(auditEvents).where(eq(auditEvents.action, 'login.throttled')).all();
  portal.settle();
  assert.equal(rows().length, 0, 'nothing written while the minute is open');
  assert.equal(portal.logs.filter((l) => l.includes('password attempts throttled')).length, 1, 'one log line for the minute, not fifty');
  portal.clock.advance(61_000);
  for (let i = 0; i < 5; i++) assert.equal((await c.post('/login', { email: 'again@example.org', password: 'Spring2026!!' })).status, 429);
  portal.settle();
  const written = rows();
  assert.equal(written.length, 1, 'the first minute closed: one row');
  assert.equal(written[0]!.ip, '127.0.0.1');
  assert.equal(detailsOf(written[0]!).count, 50);
  portal.clock.advance(61_000);
  portal.settle();
  assert.deepEqual(rows().map((r) => detailsOf(r).count), [50, 5], 'every throttled attempt accounted for');
});

test('failed token requests past the audit budget: summary rows (client, address, count, first and last time)', async (t) => {
  const portal = await startPortal(t, { TOKEN_FAILURES_PER_MINUTE: '1000' });
  const org = makeOrganisation(portal, 'Hospital A');
  const clientId = makeApplication(portal, org, 'Partner-NL-HospitalA-DM', ['DM']);
  const wrong = async (i: number) => {
    const res = await fetch(`${portal.baseUrl}/oauth/token`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'client_credentials', client_id: clientId, client_secret: `wrong-${i}` }).toString(),
    });
    await res.arrayBuffer();
    return res.status;
  };
  for (let i = 0; i < 100; i += 20) assert.deepEqual(new Set(await Promise.all(Array.from({ length: 20 }, (_, j) => wrong(i + j)))), new Set([401]));
  portal.settle();
  const failed = portal.deps.db.select().from(auditEvents).where(eq(auditEvents.action, 'token.auth_failed')).all();
  assert.equal(failed.length, 3, 'the first three of the minute as rows of their own');
  portal.clock.advance(61_000);
  portal.settle();
  const summaries = portal.deps.db.select().from(auditEvents).where(eq(auditEvents.action, 'token.auth_failed_summary')).all();
  assert.equal(summaries.length, 1);
  assert.equal(summaries[0]!.target, clientId);
  assert.equal(summaries[0]!.ip, '127.0.0.1');
  const d = detailsOf(summaries[0]!);
  assert.equal(d.count, 97, 'the other 97 counted');
  assert.ok(d.first && d.last && d.first <= d.last);
});

test('tally: bounded keys, an overflow key past them, and a failed write kept for the next flush', () => {
  let now = 0;
  const written: Array<{ key: string; count: number }> = [];
  let failing = true;
  const tally = createTally({
    windowMs: 1000,
    now: () => now,
    write: (s) => {
      if (failing) throw new Error('SQLITE_BUSY');
      written.push(...s.map(({ key, count }) => ({ key, count })));
    },
    onError: () => {},
    maxKeys: 10_000,
  });
  for (let i = 0; i < 10_050; i++) tally.add(`10.0.${i >> 8}.${i & 255}`);
  tally.add('10.0.0.0');
  assert.equal(tally.size, 10_001, '10,000 keys and one overflow key');
  now = 1000;
  tally.flush();
  assert.equal(written.length, 0, 'the write failed');
  failing = false;
  tally.flush();
  assert.equal(written.reduce((a, s) => a + s.count, 0), 10_051, 'every event accounted for');
  assert.equal(written.find((s) => s.key === OVERFLOW_KEY)?.count, 50);
  assert.equal(written.find((s) => s.key === '10.0.0.0')?.count, 2);
});
