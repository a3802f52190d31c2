// The token endpoint's audit queue against a real SQLite file that another connection
// holds write-locked: nothing throws, nothing blocks for long, a bound drops with a
// counted warning, and everything queued within the bound is written once the lock ends.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import Database from 'better-sqlite3';
import { tempDir } from '../helpers/temp.ts';
import { openConnection, openDatabase } from '../../db/client.ts';
import { createAuditQueue, MAX_QUEUED } from '../../server/audit/queue.ts';
import { fixedClock } from '../../server/lib/clock.ts';
import { memoryLogger } from '../../server/lib/log.ts';

test('audit queue: a locked database delays the batch, past the bound events are dropped and counted, then all is written', (t) => {
  const file = path.join(tempDir(t), 'portal.sqlite');
  openDatabase(file).$client.close(); // migrated
  const sqlite = openConnection(file, 0);
  const locker = new Database(file);
  t.after(() => {
    if (locker.open) locker.close();
    sqlite.close();
  });
  const logger = memoryLogger();
  const queue = createAuditQueue(sqlite, fixedClock('2026-01-01T00:00:00Z'), logger);
  t.after(() => queue.close());
  locker.exec('BEGIN IMMEDIATE');
  for (let i = 0; i < MAX_QUEUED + 7; i++) queue.push({ label: 'client:x', ip: '192.0.2.1' }, { action: 'token.auth_failed', target: `x${i}` });
  const started = performance.now();
  assert.equal(queue.flush(), false, 'the write is refused while locked, without throwing');
  assert.ok(performance.now() - started < 100, 'and without waiting');
  assert.deepEqual(queue.stats(), { queued: MAX_QUEUED, written: 0, dropped: 7, failedWrites: 1 });
  assert.ok(logger.lines.some((l) => l.includes('audit events dropped') && l.includes('"dropped":1')), 'the first drop is logged');
  assert.ok(logger.lines.some((l) => l.includes('audit events not written yet')));
  locker.exec('COMMIT');
  assert.equal(queue.flush(), true);
  assert.equal(queue.stats().written, MAX_QUEUED);
  const rows = locker.prepare("select count(*) as n, min(ip) as ip from audit_events where action = 'token.auth_failed'").get() as { n: number; ip: string };
  assert.deepEqual(rows, { n: MAX_QUEUED, ip: '192.0.2.1' });
});
