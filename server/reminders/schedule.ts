// Wires the reminder job to node-cron (REMINDER_CRON in PORTAL_TIMEZONE) and runs it
// once shortly after start-up, which catches up on runs missed while the portal was
// down (the job itself decides what is due from the dates, not from the last run).
import cron from 'node-cron';
import { sendExpiryReminders, type ReminderDeps } from './run.ts';

export function startReminderSchedule(deps: ReminderDeps, options: { startupDelayMs?: number } = {}) {
  let running: Promise<unknown> | null = null;
  const run = (reason: string) => {
    if (running) {
      deps.logger.warn('expiry reminders still running; this run is skipped', { reason });
      return running;
    }
    running = sendExpiryReminders(deps)
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
      await task.stop();
      await task.destroy();
      await running;
    },
  };
}
