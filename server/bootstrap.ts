// What both the server and the CLI do first: read the configuration, open the data
// folder, the database (migrated) and the master key.
import fs from 'node:fs';
import path from 'node:path';
import { openDatabase, SERVER_BUSY_TIMEOUT_MS } from '../db/client.ts';
import { loadConfig, type Config } from './lib/config.ts';
import { loadMasterKey } from './lib/crypto.ts';
import { systemClock, type Clock } from './lib/clock.ts';
import { createLogger, type Logger } from './lib/log.ts';
import { createViews } from './http/views.ts';
import type { Deps } from './deps.ts';
import { createMailer, type SmtpTimeouts } from './mail/mailer.ts';
import { createFailedMailStore } from './mail/failures.ts';

export function bootstrap(options: { env?: Record<string, string | undefined>; clock?: Clock; logger?: Logger; mailTimeouts?: SmtpTimeouts; busyTimeoutMs?: number } = {}): Deps {
  const config: Config = loadConfig(options.env ?? process.env);
  fs.mkdirSync(config.dataDir, { recursive: true, mode: 0o700 });
  // The server's default; the command line passes its own longer wait.
  const db = openDatabase(path.join(config.dataDir, 'portal.sqlite'), { busyTimeoutMs: options.busyTimeoutMs ?? SERVER_BUSY_TIMEOUT_MS });
  const masterKey = loadMasterKey(config.dataDir, config.masterKey);
  const clock = options.clock ?? systemClock;
  const logger = options.logger ?? createLogger();
  // Failed background mail is kept in the database for retries (mail/failures.ts).
  const mailer = createMailer(config, logger, options.mailTimeouts, createFailedMailStore(db, masterKey, clock));
  return { config, db, clock, logger, masterKey, views: createViews(), mailer };
}
