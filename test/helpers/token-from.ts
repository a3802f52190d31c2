// A real token request from a real source address on loopback (127.0.0.x) with a User-Agent.
import http from 'node:http';
import type { TestPortal } from './portal.ts';

const basic = (id: string, secret: string) => 'Basic ' + Buffer.from(`${id}:${secret}`).toString('base64');

export function tokenFrom(portal: Pick<TestPortal, 'baseUrl'>, from: string, clientId: string, secret: string, userAgent: string): Promise<{ status: number; body: Record<string, string> }> {
  return new Promise((resolve, reject) => {
    const headers = { 'Content-Type': 'application/x-www-form-urlencoded', Authorization: basic(clientId, secret), 'User-Agent': userAgent };
    const req = http.request(`${portal.baseUrl}/oauth/token`, { method: 'POST', localAddress: from, headers }, (res) => {
      let text = '';
      res.on('data', (d) => (text += d));
      res.on('end', () => resolve({ status: res.statusCode!, body: JSON.parse(text) }));
    });
    req.on('error', reject);
    req.end('grant_type=client_credentials');
  });
}
