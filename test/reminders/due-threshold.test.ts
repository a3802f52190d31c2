// dueThreshold: which reminder is due today for a secret, table-style.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { dueThreshold, EXPIRED_THRESHOLD } from '../../server/reminders/run.ts';

test('dueThreshold: the nearest threshold reached, and once the day after expiry within a week', () => {
  const thresholds = [30, 14, 7, 1];
  const cases: Array<[string, string, boolean, string, number | null]> = [
    ['31 days left: nothing', '2027-06-30', false, '2027-05-30', null],
    ['30 days left', '2027-06-30', false, '2027-05-31', 30],
    ['20 days left: still the 30-day one', '2027-06-30', false, '2027-06-10', 30],
    ['14 days left', '2027-06-30', false, '2027-06-16', 14],
    ['7 days left', '2027-06-30', false, '2027-06-23', 7],
    ['1 day left', '2027-06-30', false, '2027-06-29', 1],
    ['expires today', '2027-06-30', false, '2027-06-30', 1],
    ['the day after expiry', '2027-06-30', true, '2027-07-01', EXPIRED_THRESHOLD],
    ['a week after expiry', '2027-06-30', true, '2027-07-07', EXPIRED_THRESHOLD],
    ['eight days after expiry: too late', '2027-06-30', true, '2027-07-08', null],
    ['expired the same day', '2027-06-30', true, '2027-06-30', null],
  ];
  for (const [name, expiresOn, expired, today, expected] of cases) assert.equal(dueThreshold(expiresOn, expired, today, thresholds), expected, name);
});
