// The status rules of a secret or key, as the credentials page and the console show them:
// expired once its expiry instant has passed, expiring within EXPIRING_DAYS days (counted
// in the portal's zone), active before that; and when it was last used.
import { dateInZone, daysBetween, relativeTime } from '../lib/dates.ts';

// How many days ahead "expiring" looks: the warning in the status column and the count in
// a manager's one-line summary of an application.
export const EXPIRING_DAYS = 30;

export type SecretStatus = { kind: 'active' | 'expiring' | 'expired'; label: string; daysLeft: number };

interface Expiry {
  expiresOn: string; // the last day, in the portal's zone
  expiresAt: number; // its end, epoch milliseconds
}

export function secretStatus(secret: Expiry, now: number, timeZone: string): SecretStatus {
  return statusOn(secret, now, dateInZone(now, timeZone));
}

// The same, with today's date in the portal's zone worked out once for a whole page.
export function statusOn(secret: Expiry, now: number, today: string): SecretStatus {
  const daysLeft = daysBetween(today, secret.expiresOn);
  if (secret.expiresAt <= now) return { kind: 'expired', label: 'Expired', daysLeft };
  if (daysLeft <= EXPIRING_DAYS) {
    return { kind: 'expiring', label: daysLeft === 0 ? 'Expires today' : `Expires in ${daysLeft} day${daysLeft === 1 ? '' : 's'}`, daysLeft };
  }
  return { kind: 'active', label: 'Active', daysLeft };
}

// "Never used" until the token endpoint records a use; then how long ago.
export function lastUsedLabel(lastUsedAt: number | null, now: number): string {
  return lastUsedAt === null ? 'Never used' : `Last used ${relativeTime(lastUsedAt, now)}`;
}
