// load config -> open db -> migrate -> createApp -> listen; start cron; graceful shutdown.
import { checkServerConfig, ConfigError, loadConfig } from './lib/config.ts';
import { bootstrap } from './bootstrap.ts';
import { recordBaseUrl } from './settings.ts';
import { serve } from './serve.ts';
import { startReminderSchedule } from './reminders/schedule.ts';
import { startMailRetries } from './mail/failures.ts';
import { outboxWarning } from './mail/mailer.ts';
import { prepareSandbox, SANDBOX_ADMIN_EMAIL } from './sandbox.ts';
import { firstAdminHint } from './admin/users.ts';
import type { Deps } from './deps.ts';

export async function runServer(): Promise<void> {
  let deps: Deps;
  try {
    // What only a server must refuse (an https BASE_URL without TRUST_PROXY), before the
    // data folder or the database is touched; CLI commands read the same configuration.
    checkServerConfig(loadConfig(process.env));
    deps = bootstrap();
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`configuration error: ${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
  // The CLI reads this, so that the mails it sends link to this server.
  recordBaseUrl(deps.db, deps.config.baseUrl, deps.clock.now());
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
  // A first start in production: how to make the first administrator.
  if (deps.config.portalEnv === 'production') {
    const hint = firstAdminHint(deps.db, process.argv[1]?.endsWith('.ts') ? 'npm run -s portal --' : process.execPath);
    if (hint) process.stdout.write(hint);
  }
  // Nothing leaves the machine without SMTP_URL: said at start, not discovered weeks later.
  if (deps.mailer.kind === 'outbox') process.stdout.write(`${outboxWarning(deps.config)}\n`);
  const reminders = startReminderSchedule(deps);
  const mailRetries = startMailRetries(deps);
  let stopping = false;
  const stop = (signal: string, code = 0) => {
    if (stopping) return;
    stopping = true;
    deps.logger.info('shutting down', { signal });
    // Stop accepting and let in-flight requests finish (bounded), stop the cron job, let
    // mail under way settle, and only then close the database.
    Promise.all([running.closeServer(), reminders.stop(), mailRetries.stop()])
      .then(() => Promise.race([deps.mailer.idle(), new Promise((r) => setTimeout(r, 5000).unref())]))
      .then(() => {
        deps.mailer.close();
        running.closeDatabase();
      })
      .then(() => process.exit(code), () => process.exit(1));
  };
  // Process-level policy (README, "Faults we survive"). Every background task catches
  // its own errors; these handlers are the last line. An unhandled rejection is a bug
  // in one task, not a broken process: log it and keep serving. An uncaught exception
  // may have left state half-changed: log it, shut down in order, exit 1, and let the
  // service manager (systemd Restart=on-failure) start a clean process.
  process.on('unhandledRejection', (reason) => {
    deps.logger.error('unhandled promise rejection; still serving', { error: String((reason as Error)?.message ?? reason), stack: String((reason as Error)?.stack ?? '') });
  });
  process.on('uncaughtException', (err) => {
    deps.logger.error('uncaught exception; shutting down', { error: String(err?.message ?? err), stack: String(err?.stack ?? '') });
    process.exitCode = 1;
    stop('uncaughtException', 1);
  });
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGINT', () => stop('SIGINT'));
}

// Run when this file is the entry point (tsx server/main.ts); the single executable calls runServer itself.
if (process.argv[1]?.endsWith('main.ts')) {
  runServer().catch((err) => {
    process.stderr.write(`fatal: ${(err as Error).message}\n`);
    process.exit(1);
  });
}
