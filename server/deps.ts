import type { Eta } from 'eta';
import type { Db } from '../db/client.ts';
import type { Clock } from './clock.ts';
import type { Config } from './config.ts';
import type { MasterKey } from './crypto.ts';
import type { Logger } from './log.ts';
import type { Mailer } from './notifications/mailer.ts';

import type { AuditActor } from './audit/audit.ts';
import type { applications, clientSecrets } from '../db/schema.ts';

// Told about changes to secrets, so the application's other managers hear of them.
export interface SecretNotifier {
  secretCreated(app: typeof applications.$inferSelect, secret: typeof clientSecrets.$inferSelect, actor: AuditActor): void;
  secretDeleted(app: typeof applications.$inferSelect, secret: typeof clientSecrets.$inferSelect, actor: AuditActor): void;
  secretRevoked(app: typeof applications.$inferSelect, secret: typeof clientSecrets.$inferSelect, actor: AuditActor, reason: string): void;
  // Resolves once every notice under way has been sent or has failed.
  idle(): Promise<void>;
}

// Everything a route or domain function may need, passed explicitly.
export interface Deps {
  config: Config;
  db: Db;
  clock: Clock;
  logger: Logger;
  masterKey: MasterKey;
  views: Eta;
  mailer: Mailer;
  notify?: SecretNotifier;
}
