// Starts the HTTP server for a set of dependencies; closes it gracefully.
import http from 'node:http';
import { createPortalHandler } from './handler.ts';
import type { Deps } from './deps.ts';

export async function serve(deps: Deps) {
  const { config, logger } = deps;
  const { handler, app, close: closeHandler } = createPortalHandler(deps);
  const server = http.createServer(handler);
  server.keepAliveTimeout = 5000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.port, config.host, () => resolve());
  });
  const pruneTimer = setInterval(() => {
    try {
      app.sessionStore.prune();
    } catch (err) {
      logger.warn('could not prune sessions; next time', { error: String((err as Error)?.message ?? err) });
    }
  }, 10 * 60 * 1000);
  pruneTimer.unref();
  const address = server.address();
  logger.info('listening', { address: typeof address === 'object' && address ? `${address.address}:${address.port}` : String(address), baseUrl: config.baseUrl, env: config.portalEnv });
  let closing: Promise<void> | null = null;
  // Stops accepting connections; requests in flight get up to 10 seconds to finish.
  const closeServer = () =>
    (closing ??= new Promise<void>((resolve) => {
      clearInterval(pruneTimer);
      server.close(() => resolve());
      server.closeIdleConnections();
      setTimeout(() => {
        server.closeAllConnections();
        resolve();
      }, 10_000).unref();
    }));
  const closeDatabase = () => {
    closeHandler();
    deps.db.$client.close();
  };
  const close = () => closeServer().then(closeDatabase);
  return { server, close, closeServer, closeDatabase };
}
