// An OpenID issuer on loopback for federated credentials (issue 29): its discovery document
// and JWKS served for real, counting what it is asked, and tokens minted as GitHub Actions
// would.
import type { TestContext } from 'node:test';
import http from 'node:http';
import net from 'node:net';
import crypto from 'node:crypto';
import * as jose from 'jose';
import { ASSERTION_TYPE } from '../../server/oauth/client-assertion.ts';

export const SUBJECT = 'repo:acme/registry-sync:ref:refs/heads/main';

export async function loopbackIssuer(t: TestContext) {
  const pair = await jose.generateKeyPair('RS256', { extractable: true });
  const jwk = { ...(await jose.exportJWK(pair.publicKey)), kid: 'gh-1', use: 'sig', alg: 'RS256' };
  const asked = { discovery: 0, jwks: 0 };
  const sockets = new Set<net.Socket>();
  let url = '';
  const server = http.createServer((req, res) => {
    res.setHeader('Content-Type', 'application/json');
    if (req.url === '/.well-known/openid-configuration') {
      asked.discovery++;
      return void res.end(JSON.stringify({ issuer: url, jwks_uri: `${url}/.well-known/jwks`, response_types_supported: ['id_token'], subject_types_supported: ['public'], id_token_signing_alg_values_supported: ['RS256'] }));
    }
    if (req.url === '/.well-known/jwks') {
      asked.jwks++;
      return void res.end(JSON.stringify({ keys: [jwk] }));
    }
    res.statusCode = 404;
    res.end('{}');
  });
  server.on('connection', (s) => sockets.add(s));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  url = `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`;
  t.after(() => {
    sockets.forEach((s) => s.destroy());
    server.close();
  });
  const mint = (claims: Record<string, unknown>, key: CryptoKey = pair.privateKey, now = Math.floor(Date.now() / 1000)) =>
    new jose.SignJWT({ iss: url, sub: SUBJECT, iat: now, nbf: now, exp: now + 300, jti: crypto.randomUUID(), repository: 'acme/registry-sync', ...claims }).setProtectedHeader({ alg: 'RS256', kid: 'gh-1', typ: 'JWT' }).sign(key);
  return { url, mint, asked };
}

// The exchange as a workload makes it: client_id and the outside token as client_assertion.
export async function exchange(baseUrl: string, clientId: string, token: string, headers: Record<string, string> = {}) {
  const res = await fetch(`${baseUrl}/oauth/token`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded', ...headers },
    body: new URLSearchParams({ grant_type: 'client_credentials', client_id: clientId, client_assertion_type: ASSERTION_TYPE, client_assertion: token }).toString(),
  });
  return { status: res.status, body: (await res.json()) as Record<string, string> };
}
