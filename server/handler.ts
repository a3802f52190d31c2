// The one request handler of the process: the OAuth endpoints on plain node:http
// (fast, JSON only), everything else through the Express application.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Config } from './lib/config.ts';
import type { Deps } from './deps.ts';
import type { Logger } from './lib/log.ts';
import { createApp } from './app.ts';
import { createOAuthEndpoints } from './oauth/endpoints.ts';

export function createPortalHandler(deps: Deps) {
  const app = createApp(deps);
  const oauth = createOAuthEndpoints(deps);
  const checkScheme = plainHttpCheck(deps.config, deps.logger);
  const handler = checkScheme
    ? (req: IncomingMessage, res: ServerResponse) => {
        if (overPipelined(req, res)) return;
        if (oauth.handle(req, res)) return;
        checkScheme(req);
        app(req, res);
      }
    : (req: IncomingMessage, res: ServerResponse) => {
        if (overPipelined(req, res)) return;
        if (!oauth.handle(req, res)) app(req, res);
      };
  return {
    handler,
    app,
    flush: () => {
      app.flush();
      oauth.flush();
    },
    close: () => {
      app.close();
      oauth.close();
    },
    // The token endpoint's own SQLite connection (the fault drills make its disk full).
    oauthConnection: oauth.connection,
    // Where the token endpoint's signatures ran, and their thread (tests).
    signatures: oauth.signatures,
  };
}

// Pipelined requests whose answers wait behind an earlier one on the same connection: past
// MAX_PIPELINED the connection is closed. A client that sends a thousand GETs in one packet
// and never reads would otherwise hold every answer in memory (40 MB a connection was seen);
// browsers and HTTP clients do not pipeline, so this costs them nothing. Node assigns the
// socket to the first answer and queues the rest, which is how a queued one is told.
export const MAX_PIPELINED = 16;
const QUEUED = Symbol('pipelined requests queued');
type CountedSocket = IncomingMessage['socket'] & { _httpMessage?: unknown; [QUEUED]?: number };

function overPipelined(req: IncomingMessage, res: ServerResponse): boolean {
  const socket = req.socket as CountedSocket;
  if (socket._httpMessage === res || socket._httpMessage === undefined || socket._httpMessage === null) {
    socket[QUEUED] = 0;
    return false;
  }
  const queued = (socket[QUEUED] ?? 0) + 1;
  socket[QUEUED] = queued;
  // Counted while it waits: its answer done, it no longer holds memory.
  res.once('close', () => {
    socket[QUEUED] = Math.max(0, (socket[QUEUED] ?? 1) - 1);
  });
  if (queued <= MAX_PIPELINED) return false;
  socket.destroy();
  return true;
}

// With an https BASE_URL the session cookie is Secure, and the session layer withholds it
// from a request Express sees as plain http: one that did not come from a TRUST_PROXY
// address with `X-Forwarded-Proto: https`. The server refuses to start without
// TRUST_PROXY (config.ts); this names the other ways to get there (a proxy that does not
// send the header, or one at an address TRUST_PROXY does not list) once, at the first
// form posted that way, instead of a sign-in that silently forgets the password step.
function plainHttpCheck(config: Config, logger: Logger): ((req: IncomingMessage) => void) | null {
  if (!config.secureCookies) return null;
  let warned = false;
  return (req) => {
    if (warned || req.method !== 'POST') return;
    const peer = req.socket.remoteAddress ?? '';
    const header = req.headers['x-forwarded-proto'];
    const trusted = config.trustProxyFn(peer, 0);
    const proto = trusted && typeof header === 'string' ? header.split(',')[0]!.trim() : '';
    if (proto === 'https') return;
    warned = true;
    logger.warn('a form was posted over plain http although BASE_URL is https: the Secure session cookie is withheld, so sign-in cannot work; requests must come through a TRUST_PROXY address that sends X-Forwarded-Proto: https (logged once)', {
      peer,
      peerTrusted: trusted,
      forwardedProto: typeof header === 'string' ? header.slice(0, 20) : null,
    });
  };
}
