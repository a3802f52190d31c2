// Reading and answering the machine-facing endpoints on plain node:http: bounded
// form bodies (POST only, never parameters in the URL) and JSON answers that are
// never cached.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { DEFAULT_REQUEST_TIMEOUT_SECONDS } from '../lib/config.ts';
import { OAuthError, invalidRequest } from './errors.ts';

const MAX_BODY = 16 * 1024;
export const NO_CACHE = { 'Cache-Control': 'no-store', Pragma: 'no-cache' } as const;

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const json = JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': Buffer.byteLength(json), ...NO_CACHE, ...headers });
  res.end(json);
}

// The token response, the hot path: the same headers as sendJson, as a flat list (no
// object to spread and then walk).
export function sendJsonOk(res: ServerResponse, json: string): void {
  res.writeHead(200, ['Content-Type', 'application/json; charset=utf-8', 'Content-Length', String(Buffer.byteLength(json)), 'Cache-Control', 'no-store', 'Pragma', 'no-cache']);
  res.end(json);
}

// Public documents (JWKS, metadata): cacheable for five minutes.
export function sendPublicJson(res: ServerResponse, body: unknown): void {
  const json = JSON.stringify(body);
  res.writeHead(200, { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': Buffer.byteLength(json), 'Cache-Control': 'public, max-age=300' });
  res.end(json);
}

// A client that went away before its request arrived in full (it closed the connection,
// or the server's request deadline closed it for it): nobody is left to answer, and
// nothing failed on our side. Not an Error: no stack trace is captured or logged.
export class ClientGone {
  constructor(readonly timedOut: boolean) {}
}

// The body must arrive within the server's request deadline (REQUEST_TIMEOUT_SECONDS,
// http.Server#requestTimeout) from the moment its headers did. The server itself answers
// 408 and closes the connection at that deadline counted from the request's first byte,
// checked every second (serve.ts), and usually comes first; this bound holds even on a
// server without one.
function bodyDeadlineMs(req: IncomingMessage): number {
  const server = (req.socket as { server?: { requestTimeout?: unknown } } | null)?.server;
  const ms = server?.requestTimeout;
  return typeof ms === 'number' && ms > 0 ? ms : DEFAULT_REQUEST_TIMEOUT_SECONDS * 1000;
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    if (req.destroyed) return reject(new ClientGone(false));
    let size = 0;
    let done = false;
    const chunks: Buffer[] = [];
    const deadline = bodyDeadlineMs(req);
    const finish = () => {
      done = true;
      clearTimeout(timer);
    };
    const timer = setTimeout(() => {
      if (done) return;
      finish();
      reject(new OAuthError(408, 'invalid_request', `The request body did not arrive within ${Math.round(deadline / 1000)} seconds.`, { Connection: 'close' }));
    }, deadline);
    timer.unref();
    req.on('data', (chunk: Buffer) => {
      if (done) return;
      size += chunk.length;
      if (size > MAX_BODY) {
        finish();
        reject(new OAuthError(413, 'invalid_request', 'The request body is too large.'));
        req.resume();
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => {
      if (done) return;
      finish();
      resolve(Buffer.concat(chunks).toString('utf8'));
    });
    // 'aborted', then 'error' (ECONNRESET "aborted"), when the connection closes before
    // the body is in; the socket's own error says whether the server's deadline closed it.
    // The listeners stay: a late error is handled and ignored.
    const gone = () => {
      if (done) return;
      finish();
      const code = (req.socket as { errored?: { code?: unknown } | null } | null)?.errored?.code;
      reject(new ClientGone(code === 'ERR_HTTP_REQUEST_TIMEOUT'));
    };
    req.on('aborted', gone);
    req.on('error', gone);
  });
}

// Both POST endpoints: POST only, parameters in a form body and never in the URL.
export async function readPostForm(req: IncomingMessage): Promise<URLSearchParams> {
  if (req.method !== 'POST') throw new OAuthError(405, 'invalid_request', 'Use POST.', { Allow: 'POST' });
  if ((req.url ?? '').includes('?')) {
    req.resume();
    throw invalidRequest('Send parameters in the request body, never in the URL.');
  }
  const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
  if (type !== 'application/x-www-form-urlencoded') {
    req.resume();
    throw invalidRequest('The body must be application/x-www-form-urlencoded.');
  }
  return new URLSearchParams(await readBody(req));
}
