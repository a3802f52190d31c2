// Wires the reminder job to node-cron (REMINDER_CRON in PORTAL_TIMEZONE) and runs it
// once shortly after start-up, which catches up on runs missed while the portal was
// down (the job itself decides what is due from the dates, not from the last run).
// A run in which deliveries failed is followed by another after RETRY_AFTER_MS (then the
// next delay, up to the last): the failed reminders' claims were released, so only they
// go out again. A restart loses nothing: the start-up run finds them unsent.
import cron from 'node-cron';
import { type ReminderDeps, type ReminderSummary } from './run.ts';
import { runDailyJob } from './daily.ts';

export const RETRY_AFTER_MS = [5 * 60_000, 30 * 60_000, 2 * 3_600_000];

export function startReminderSchedule(deps: ReminderDeps, options: { startupDelayMs?: number; retryAfterMs?: number[] } = {}) {
  const retryAfter = options.retryAfterMs ?? RETRY_AFTER_MS;
  let running: Promise<unknown> | null = null;
  let retries = 0;
  let retryTimer: NodeJS.Timeout | null = null;
  const afterRun = (reason: string, summary: ReminderSummary) => {
    // Each scheduled (or start-up) run begins its own series of retries.
    if (reason !== 'retry') retries = 0;
    if (summary.failed === 0) return;
    if (retries >= retryAfter.length || retryTimer) return;
    const delay = retryAfter[retries++]!;
    deps.logger.warn('expiry reminders failed; trying again later', { failed: summary.failed, inSeconds: delay / 1000, attempt: retries });
    retryTimer = setTimeout(() => {
      retryTimer = null;
      void run('retry');
    }, delay);
    retryTimer.unref();
  };
  const run = (reason: string) => {
    if (running) {
      deps.logger.warn('expiry reminders still running; this run is skipped', { reason });
      return running;
    }
    running = runDailyJob(deps)
      .then((summary) => afterRun(reason, summary))
      .catch((err: unknown) => deps.logger.error('expiry reminder run failed', { reason, error: String((err as Error)?.message ?? err) }))
      .finally(() => {
        running = null;
      });
    return running;
  };
  const task = cron.schedule(deps.config.reminderCron, () => void run('schedule'), { timezone: deps.config.timezone, name: 'expiry-reminders', noOverlap: true });
  const startup = setTimeout(() => void run('startup'), options.startupDelayMs ?? 5000);
  startup.unref();
  return {
    run,
    async stop() {
      clearTimeout(startup);
      if (retryTimer) clearTimeout(retryTimer);
      await task.stop();
      await task.destroy();
      await running;
    },
  };
}
