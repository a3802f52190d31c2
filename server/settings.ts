// What the server records for other processes of the same installation (the CLI):
// its BASE_URL, written at every start.
import { eq } from 'drizzle-orm';
import type { Db } from '../db/client.ts';
import { settings } from '../db/schema.ts';

export function recordBaseUrl(db: Db, baseUrl: string, now: number): void {
  db.insert(settings).values({ key: 'base_url', value: baseUrl, updatedAt: now }).onConflictDoUpdate({ target: settings.key, set: { value: baseUrl, updatedAt: now } }).run();
}

export function recordedBaseUrl(db: Db): string | null {
  return db.select({ value: settings.value }).from(settings).where(eq(settings.key, 'base_url')).get()?.value ?? null;
}
