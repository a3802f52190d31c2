// Claims on (credential, threshold) for the reminder job, for both kinds of credential:
// client secrets (reminders_sent), keys or certificates (key_reminders_sent) and federated
// credentials' reviews (federated_reminders_sent). A claim
// is taken in an IMMEDIATE transaction, so two runs cannot both send; a failed send
// releases it; a claim whose run died is taken over after STALE_CLAIM_MS.
import type { Db } from '../../db/client.ts';
import { immediate } from '../../db/client.ts';
import type { Logger } from '../lib/log.ts';

export type CredentialKind = 'secret' | 'key' | 'federated';
const STALE_CLAIM_MS = 15 * 60 * 1000;
const TABLES: Record<CredentialKind, { table: string; column: string }> = {
  secret: { table: 'reminders_sent', column: 'secret_id' },
  key: { table: 'key_reminders_sent', column: 'key_id' },
  federated: { table: 'federated_reminders_sent', column: 'federated_id' }, // review reminders (issue 29)
};

interface Stmt {
  get(...params: unknown[]): unknown;
  run(...params: unknown[]): unknown;
}

export function createClaims(db: Db, logger: Logger) {
  const sqlite = db.$client;
  const statements = Object.fromEntries(
    (Object.keys(TABLES) as CredentialKind[]).map((kind) => {
      const { table, column } = TABLES[kind];
      return [
        kind,
        {
          find: sqlite.prepare<[string, number], { claimed_at: number; sent_at: number | null }>(`select claimed_at, sent_at from ${table} where ${column} = ? and threshold = ?`),
          insert: sqlite.prepare<[string, number, number]>(`insert into ${table} (${column}, threshold, claimed_at) values (?, ?, ?)`),
          retake: sqlite.prepare<[number, string, number]>(`update ${table} set claimed_at = ? where ${column} = ? and threshold = ?`),
          sent: sqlite.prepare<[number, string, number]>(`update ${table} set sent_at = ? where ${column} = ? and threshold = ?`),
          release: sqlite.prepare<[string, number]>(`delete from ${table} where ${column} = ? and threshold = ? and sent_at is null`),
        },
      ];
    }),
  ) as unknown as Record<CredentialKind, Record<'find' | 'insert' | 'retake' | 'sent' | 'release', Stmt>>;

  return {
    claim(kind: CredentialKind, id: string, threshold: number, now: number): boolean {
      const s = statements[kind];
      return immediate(db, () => {
        const existing = s.find.get(id, threshold) as { claimed_at: number; sent_at: number | null } | undefined;
        if (!existing) {
          s.insert.run(id, threshold, now);
          return true;
        }
        if (existing.sent_at === null && existing.claimed_at < now - STALE_CLAIM_MS) {
          s.retake.run(now, id, threshold);
          return true;
        }
        return false;
      });
    },
    alreadySent(kind: CredentialKind, id: string, threshold: number): boolean {
      const row = statements[kind].find.get(id, threshold) as { sent_at: number | null } | undefined;
      return !!row && row.sent_at !== null;
    },
    markSent(kind: CredentialKind, id: string, threshold: number, at: number): void {
      statements[kind].sent.run(at, id, threshold);
    },
    release(kind: CredentialKind, id: string, threshold: number): void {
      try {
        statements[kind].release.run(id, threshold);
      } catch (err) {
        // The claim goes stale and is taken over by a later run.
        logger.warn('expiry reminder claim not released', { id, threshold, error: String((err as Error)?.message ?? err) });
      }
    },
  };
}
