// What both the server and the CLI do first: read the configuration, open the data
// folder, the database (migrated) and the master key.
import fs from 'node:fs';
import path from 'node:path';
import { openDatabase } from '../db/client.ts';
import { loadConfig, type Config } from './config.ts';
import { loadMasterKey } from './crypto.ts';
import { systemClock, type Clock } from './clock.ts';
import { createLogger, type Logger } from './log.ts';
import { createViews } from './http/views.ts';
import type { Deps } from './deps.ts';

export function bootstrap(options: { env?: Record<string, string | undefined>; clock?: Clock; logger?: Logger } = {}): Deps {
  const config: Config = loadConfig(options.env ?? process.env);
  fs.mkdirSync(config.dataDir, { recursive: true, mode: 0o700 });
  const db = openDatabase(path.join(config.dataDir, 'portal.sqlite'));
  const masterKey = loadMasterKey(config.dataDir, config.masterKey);
  return {
    config,
    db,
    clock: options.clock ?? systemClock,
    logger: options.logger ?? createLogger(),
    masterKey,
    views: createViews(),
  };
}
