// Starts the HTTP server for a set of dependencies; closes it gracefully.
import http from 'node:http';
import { createPortalHandler } from './handler.ts';
import type { Deps } from './deps.ts';
import type { Config } from './lib/config.ts';
import { gaugeSizes, mib } from './lib/gauges.ts';

// How often Node's HTTP server looks for requests past their deadline (its default is
// every 30 s, which would let a slow request live up to 40 s).
export const CONNECTIONS_CHECKING_INTERVAL_MS = 1000;

// A request's headers, and then its whole body, must arrive within REQUEST_TIMEOUT_SECONDS
// (default 10) of its first byte; otherwise Node answers `408 Request Timeout` and closes
// the connection. Without this, connections that announce a body and never send it hold a
// file descriptor each until the limit is reached and nobody else gets in. The deadline
// covers receiving the request only: a slow page or a long download is not cut off.
// Shared with the test portals (test/helpers/portal.ts).
export function httpServerOptions(config: Pick<Config, 'requestTimeoutSeconds'>): http.ServerOptions {
  const deadlineMs = config.requestTimeoutSeconds * 1000;
  return {
    headersTimeout: deadlineMs,
    requestTimeout: deadlineMs,
    connectionsCheckingInterval: CONNECTIONS_CHECKING_INTERVAL_MS,
    keepAliveTimeout: 5000,
  };
}

// A socket on which nothing moved for this long is closed: a client that stops reading its
// answers holds them in memory only so long (Node's default is never).
export const IDLE_SOCKET_MS = 30_000;

// The portal's HTTP server: the deadlines above and the idle limit (the test portals too).
export function createHttpServer(config: Pick<Config, 'requestTimeoutSeconds'>, handler?: http.RequestListener): http.Server {
  const server = handler ? http.createServer(httpServerOptions(config), handler) : http.createServer(httpServerOptions(config));
  server.timeout = IDLE_SOCKET_MS;
  return server;
}

export async function serve(deps: Deps) {
  const { config, logger } = deps;
  const { handler, app, close: closeHandler } = createPortalHandler(deps);
  const server = createHttpServer(config, handler);
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
  // `kill -USR2 <pid>`: one log line with the size of every in-memory structure that grows
  // with traffic (each is bounded; README, "Faults we survive"), and the process's RSS.
  // With RSS, where it is: V8's heap (used and reserved), and memory outside it (Buffers).
  // Started with --expose-gc (as `make soak` starts it): a full collection first, so that the
  // heap figures and RSS are what is live, not the garbage not yet collected.
  const logSizes = () => {
    (globalThis as { gc?: () => void }).gc?.();
    const m = process.memoryUsage();
    logger.info('in-memory sizes', { rssMiB: mib(m.rss), heapUsedMiB: mib(m.heapUsed), heapTotalMiB: mib(m.heapTotal), externalMiB: mib(m.external), ...gaugeSizes() });
  };
  process.on('SIGUSR2', logSizes);
  const address = server.address();
  logger.info('listening', { address: typeof address === 'object' && address ? `${address.address}:${address.port}` : String(address), baseUrl: config.baseUrl, env: config.portalEnv });
  let closing: Promise<void> | null = null;
  // Stops accepting connections; requests in flight get up to 10 seconds to finish.
  const closeServer = () =>
    (closing ??= new Promise<void>((resolve) => {
      clearInterval(pruneTimer);
      process.off('SIGUSR2', logSizes);
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
