// load config -> open db -> migrate -> createApp -> listen; graceful shutdown.
import { ConfigError } from './config.ts';
import { bootstrap } from './bootstrap.ts';
import { serve } from './serve.ts';
import { startReminderSchedule } from './notifications/cron.ts';
import { prepareSandbox, SANDBOX_ADMIN_EMAIL } from './sandbox.ts';
import type { Deps } from './deps.ts';

async function main() {
  let deps: Deps;
  try {
    deps = bootstrap();
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`configuration error: ${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
  if (deps.config.portalEnv === 'sandbox') {
    const url = prepareSandbox(deps);
    if (url) process.stdout.write(`\nSandbox administrator (${SANDBOX_ADMIN_EMAIL}): finish setup at\n  ${url}\n\n`);
  }
  let running: Awaited<ReturnType<typeof serve>>;
  try {
    running = await serve(deps);
  } catch (err) {
    process.stderr.write(`cannot listen on ${deps.config.host}:${deps.config.port}: ${(err as Error).message}\n`);
    process.exit(1);
  }
  process.stdout.write(`Credentials Portal is running at ${deps.config.baseUrl}\n`);
  const reminders = startReminderSchedule(deps);
  const stop = (signal: string) => {
    deps.logger.info('shutting down', { signal });
    reminders
      .stop()
      .then(() => running.close())
      .then(() => process.exit(0));
  };
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGINT', () => stop('SIGINT'));
}

main().catch((err) => {
  process.stderr.write(`fatal: ${(err as Error).message}\n`);
  process.exit(1);
});
