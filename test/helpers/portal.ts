// Starts a real portal on a free port with its own temporary DATA_DIR (a real SQLite
// file), and registers cleanup with the test context.
import type { TestContext } from 'node:test';
import type { AddressInfo } from 'node:net';
import { bootstrap } from '../../server/bootstrap.ts';
import { createPortalHandler } from '../../server/handler.ts';
import { createHttpServer } from '../../server/serve.ts';
import { loadConfig } from '../../server/lib/config.ts';
import { fixedClock } from '../../server/lib/clock.ts';
import { memoryLogger } from '../../server/lib/log.ts';
import { seedApiCatalogue } from '../../server/admin/api-catalogue.ts';
import type { Deps } from '../../server/deps.ts';
import type { SmtpTimeouts } from '../../server/mail/mailer.ts';
import type { Signatures } from '../../server/oauth/signatures/signatures.ts';
import { Client } from './http.ts';
import { tempDir } from './temp.ts';
import { lowerPasswordHashCostForTests } from '../../server/auth/passwords.ts';

lowerPasswordHashCostForTests(1024);

export type TestClock = ReturnType<typeof fixedClock>;

export interface TestPortal {
  baseUrl: string;
  deps: Deps;
  clock: TestClock;
  logs: string[];
  dataDir: string;
  client(): Client;
  // Writes what the token endpoint queued (audit events, last use) now.
  settle(): void;
}

export async function startPortal(
  t: TestContext,
  env: Record<string, string> = {},
  start: number | string = Date.now(),
  // hostname: `localhost` where the browser needs a real host name (WebAuthn refuses IPs).
  options: { mailTimeouts?: SmtpTimeouts; hostname?: string } = {},
): Promise<TestPortal & { signatures: Signatures }> {
  const dataDir = tempDir(t);
  // The production server's deadlines (REQUEST_TIMEOUT_SECONDS), from the same env.
  const server = createHttpServer(loadConfig(env));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  const clock = fixedClock(start);
  const logger = memoryLogger();
  const deps = bootstrap({
    env: { DATA_DIR: dataDir, BASE_URL: `http://${options.hostname ?? '127.0.0.1'}:${port}`, PORT: String(port), ...env },
    clock,
    logger,
    mailTimeouts: options.mailTimeouts,
  });
  seedApiCatalogue(deps.db, clock);
  const portalHandler = createPortalHandler(deps);
  server.on('request', portalHandler.handler);
  t.after(async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    portalHandler.close();
    deps.mailer.close();
    deps.db.$client.close();
  });
  const baseUrl = `http://${options.hostname ?? '127.0.0.1'}:${port}`;
  return { baseUrl, deps, clock, logs: logger.lines, dataDir, client: () => new Client(baseUrl), settle: () => portalHandler.flush(), signatures: portalHandler.signatures };
}
