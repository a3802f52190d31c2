import { test } from 'node:test';
import assert from 'node:assert/strict';
import { dateInZone, endOfDateInZone, formatDate, formatDateTime } from '../../server/lib/dates.ts';

// The answer worked out here, with formatters of the test's own.
const own = new Map<string, Intl.DateTimeFormat>();
const fresh = (ms: number, timeZone: string) => {
  if (!own.has(timeZone)) own.set(timeZone, new Intl.DateTimeFormat('en-CA', { timeZone, year: 'numeric', month: '2-digit', day: '2-digit' }));
  return own.get(timeZone)!.format(ms);
};

test('dateInZone: the date as seen in each zone, the same instant asked again in another zone included', () => {
  const instant = Date.parse('2026-03-29T00:30:00Z'); // the night Amsterdam moves to summer time
  assert.equal(dateInZone(instant, 'UTC'), '2026-03-29');
  assert.equal(dateInZone(instant, 'America/New_York'), '2026-03-28');
  assert.equal(dateInZone(instant, 'Pacific/Auckland'), '2026-03-29');
  assert.equal(dateInZone(instant, 'America/New_York'), '2026-03-28', 'asked again: the remembered answer is the zone’s own');
  // The last instant of a date and the first of the next, at a DST change.
  const end = endOfDateInZone('2026-03-29', 'Europe/Amsterdam');
  assert.equal(dateInZone(end - 1, 'Europe/Amsterdam'), '2026-03-29');
  assert.equal(dateInZone(end, 'Europe/Amsterdam'), '2026-03-30');
  assert.equal(formatDate(dateInZone(end, 'Europe/Amsterdam')), '30 Mar 2026');
});

test('dateInZone: remembered minutes stay right past the 20,000 it holds, and before 1972', () => {
  // Liberia kept -00:44:30 until 1972: its dates changed in the middle of a UTC minute.
  const midnight = Date.parse('1960-06-01T00:44:30Z');
  assert.equal(dateInZone(midnight - 1, 'Africa/Monrovia'), '1960-05-31');
  assert.equal(dateInZone(midnight, 'Africa/Monrovia'), '1960-06-01');
  const start = Date.parse('2025-10-20T00:00:00Z');
  const zones = ['Europe/Amsterdam', 'Australia/Lord_Howe', 'Asia/Kathmandu'];
  for (let round = 0; round < 2; round++) {
    for (let i = 0; i < 25_000; i++) {
      // Every 37 minutes and a few seconds, over DST changes in both hemispheres, each
      // instant also asked at the first and last millisecond of its minute.
      const ms = start + i * 37 * 60_000 + (i % 60) * 1000;
      const zone = zones[i % zones.length]!;
      const got = dateInZone(ms, zone);
      if (i % 97 === 0 || round === 1) assert.equal(got, fresh(ms, zone), `${new Date(ms).toISOString()} in ${zone}`);
      const minute = Math.floor(ms / 60_000) * 60_000;
      if (i % 89 === 0) for (const at of [minute, minute + 59_999]) assert.equal(dateInZone(at, zone), fresh(at, zone));
    }
  }
});

test('formatDateTime: each minute remembered per zone, the same text as Intl formats it, past the 20,000 held and before 1972', () => {
  const at = Date.parse('2026-11-30T08:56:59.900Z');
  assert.equal(formatDateTime(at, 'UTC'), '30 Nov 2026, 08:56 (UTC)');
  assert.equal(formatDateTime(at - 59_000, 'UTC'), '30 Nov 2026, 08:56 (UTC)', 'the same minute');
  assert.equal(formatDateTime(at + 200, 'UTC'), '30 Nov 2026, 08:57 (UTC)', 'the next one');
  assert.equal(formatDateTime(at, 'Asia/Kolkata'), '30 Nov 2026, 14:26 (Asia/Kolkata)', 'the same instant in another zone');
  const intl = new Intl.DateTimeFormat('en-GB', { timeZone: 'Europe/Amsterdam', day: 'numeric', month: 'short', year: 'numeric', hour: '2-digit', minute: '2-digit', hourCycle: 'h23' });
  const fresh = (ms: number, zone: string) => `${intl.format(ms)} (${zone})`;
  for (let i = 0; i < 21_000; i++) {
    const ms = at + i * 60_000 + (i % 59) * 1000;
    assert.equal(formatDateTime(ms, 'Europe/Amsterdam'), fresh(ms, 'Europe/Amsterdam'));
  }
  const old = Date.parse('1900-01-01T00:00:00Z');
  assert.equal(formatDateTime(old, 'Europe/Amsterdam'), fresh(old, 'Europe/Amsterdam'), 'local mean time, formatted each time');
});
