// The one request handler of the process: the OAuth endpoints on plain node:http
// (fast, JSON only), everything else through the Express application.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Deps } from './deps.ts';
import { createApp } from './app.ts';
import { createOAuthEndpoints } from './oauth/endpoints.ts';

export function createPortalHandler(deps: Deps) {
  const app = createApp(deps);
  const oauth = createOAuthEndpoints(deps);
  const handler = (req: IncomingMessage, res: ServerResponse) => {
    if (!oauth.handle(req, res)) app(req, res);
  };
  return { handler, app, flush: oauth.flush, close: oauth.close };
}
