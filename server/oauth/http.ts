// Reading and answering the machine-facing endpoints on plain node:http: bounded
// form bodies (POST only, never parameters in the URL) and JSON answers that are
// never cached.
import type { IncomingMessage, ServerResponse } from 'node:http';
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

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    let size = 0;
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY) {
        reject(new OAuthError(413, 'invalid_request', 'The request body is too large.'));
        req.resume();
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
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
