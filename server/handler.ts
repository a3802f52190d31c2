// The one request handler of the process: the OAuth endpoints on plain node:http
// (fast, JSON only), everything else through the Express application.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Deps } from './deps.ts';
import { createApp } from './app.ts';
import { createOAuthEndpoints } from './oauth/endpoints.ts';
import { signatureThread, threadPool } from './thread-pool.ts';

export function createPortalHandler(deps: Deps) {
  const app = createApp(deps);
  const oauth = createOAuthEndpoints(deps);
  // The signature thread starts now, not on the first token request.
  if (threadPool.mode === 'pool') {
    const failed = signatureThread.warm();
    if (failed) deps.logger.warn('signature thread did not start; signing on the main thread', { error: failed });
  }
  const handler = (req: IncomingMessage, res: ServerResponse) => {
    if (!oauth.handle(req, res)) app(req, res);
  };
  return { handler, app, flush: oauth.flush, close: oauth.close };
}
