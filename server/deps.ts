import type { Eta } from 'eta';
import type { Db } from '../db/client.ts';
import type { Clock } from './lib/clock.ts';
import type { Config } from './lib/config.ts';
import type { MasterKey } from './lib/crypto.ts';
import type { Logger } from './lib/log.ts';
import type { Mailer } from './mail/mailer.ts';

// Everything a route or domain function may need, passed explicitly.
export interface Deps {
  config: Config;
  db: Db;
  clock: Clock;
  logger: Logger;
  masterKey: MasterKey;
  views: Eta;
  mailer: Mailer;
}
