// The daily job (REMINDER_CRON, and `send-expiry-reminders`): the expiry reminders, then the
// "safe to delete" nudge and the pruning of old usage (safe-to-delete.ts). A nudge run that
// throws is logged and counted as failed, never stopping the reminders' summary.
import { formatSummary, sendExpiryReminders, type ReminderDeps, type ReminderSummary } from './run.ts';
import { sendSafeToDelete, type NudgeSummary } from './safe-to-delete.ts';
import type { Mailer } from '../mail/mailer.ts';

export async function runDailyJob(deps: ReminderDeps): Promise<ReminderSummary & { safeToDelete: NudgeSummary }> {
  const summary = await sendExpiryReminders(deps);
  let safeToDelete: NudgeSummary = { sent: 0, failed: 0 };
  try {
    safeToDelete = await sendSafeToDelete(deps);
  } catch (err) {
    safeToDelete.failed++;
    deps.logger.error('safe-to-delete run failed', { error: String((err as Error)?.message ?? err) });
  }
  // A failed nudge is retried with the reminders (its claim was released).
  return { ...summary, failed: summary.failed + safeToDelete.failed, safeToDelete };
}

// The CLI's line: the reminders', then the nudge's.
export function formatDailySummary(s: ReminderSummary & { safeToDelete: NudgeSummary }, mailer: Pick<Mailer, 'kind'>): string {
  const n = s.safeToDelete;
  return `${formatSummary({ ...s, failed: s.failed - n.failed }, mailer)}; safe to delete: ${n.sent} mail${n.sent === 1 ? '' : 's'}${n.failed ? `, ${n.failed} failed` : ''}`;
}
