// An HTTP server on loopback for what the portal fetches (a JWKS URL, an issuer), closed
// with the test, its open connections destroyed so none keeps the test alive.
import http from 'node:http';
import net from 'node:net';

export async function serveOnLoopback(t: { after: (fn: () => void) => void }, handler: http.RequestListener): Promise<string> {
  const sockets = new Set<net.Socket>();
  const server = http.createServer(handler);
  server.on('connection', (s) => sockets.add(s));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => {
    sockets.forEach((s) => s.destroy());
    server.close();
  });
  return `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`;
}
