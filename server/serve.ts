// Starts the HTTP server for a set of dependencies; closes it gracefully.
import http from 'node:http';
import { createPortalHandler } from './handler.ts';
import type { Deps } from './deps.ts';

export async function serve(deps: Deps): Promise<{ server: http.Server; close: () => Promise<void> }> {
  const { config, logger } = deps;
  const { handler, app, close: closeHandler } = createPortalHandler(deps);
  const server = http.createServer(handler);
  server.keepAliveTimeout = 5000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.port, config.host, () => resolve());
  });
  const pruneTimer = setInterval(() => app.sessionStore.prune(), 10 * 60 * 1000);
  pruneTimer.unref();
  const address = server.address();
  logger.info('listening', { address: typeof address === 'object' && address ? `${address.address}:${address.port}` : String(address), baseUrl: config.baseUrl, env: config.portalEnv });
  let closing: Promise<void> | null = null;
  const close = () =>
    (closing ??= new Promise<void>((resolve) => {
      clearInterval(pruneTimer);
      server.close(() => resolve());
      server.closeIdleConnections();
      // In-flight requests get a bounded time to finish.
      setTimeout(() => {
        server.closeAllConnections();
        resolve();
      }, 10_000).unref();
    }).then(() => {
      closeHandler();
      deps.db.$client.close();
    }));
  return { server, close };
}
