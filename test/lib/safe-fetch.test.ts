// The SSRF guard (SECURITY.md 33): every spelling of an internal address refused outside
// the sandbox, with no connection ever made to it, and a host name resolved once, its
// answer being the address connected to. Real sockets on loopback; the one resolver given
// in a test is there to answer differently the second time (DNS rebinding).
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import http from 'node:http';
import { nonPublicRange, safeGet, type SafeFetchOptions } from '../../server/lib/safe-fetch.ts';

const PRODUCTION: SafeFetchOptions = { allowHttp: false, allowLoopback: false, timeoutMs: 2000, maxBytes: 64 * 1024 };

test('the classifier: only public unicast passes, in every spelling ipaddr.js knows', () => {
  const cases: Array<[string, string | null]> = [
    ['8.8.8.8', null],
    ['2606:4700:4700::1111', null],
    ['127.0.0.1', 'loopback'],
    ['10.1.2.3', 'private'],
    ['172.16.0.1', 'private'],
    ['192.168.1.1', 'private'],
    ['169.254.169.254', 'linkLocal'],
    ['100.64.0.1', 'carrierGradeNat'],
    ['0.0.0.0', 'unspecified'],
    ['224.0.0.1', 'multicast'],
    ['255.255.255.255', 'broadcast'],
    ['::1', 'loopback'],
    ['::', 'unspecified'],
    ['::ffff:127.0.0.1', 'loopback'], // IPv4-mapped, dotted
    ['::ffff:7f00:1', 'loopback'], // IPv4-mapped, hex (what the URL parser writes)
    ['::ffff:a9fe:a9fe', 'linkLocal'], // 169.254.169.254
    ['::ffff:a00:1', 'private'], // 10.0.0.1
    ['0:0:0:0:0:ffff:7f00:0001', 'loopback'], // uncompressed
    ['64:ff9b::7f00:1', 'rfc6052'], // NAT64
    ['64:ff9b::a9fe:a9fe', 'rfc6052'],
    ['fe80::1', 'linkLocal'],
    ['fec0::1', 'deprecatedSiteLocal'],
    ['fd12:3456::1', 'uniqueLocal'],
    ['fc00::1', 'uniqueLocal'],
    ['ff02::1', 'multicast'],
    ['ff0e::1', 'multicast'],
    ['2002:7f00:1::1', '6to4'],
    ['2001:0:4136:e378::1', 'teredo'],
    ['2001:db8::1', 'reserved'],
    ['100::1', 'discard'],
    ['not-an-ip', 'not an address'],
  ];
  for (const [address, range] of cases) assert.equal(nonPublicRange(address), range, address);
});

// A loopback listener (IPv4 and, where the machine has it, IPv6) that counts connections.
async function countingListener(t: TestContext) {
  let connections = 0;
  const server = net.createServer((s) => {
    connections++;
    s.destroy();
  });
  const dual = await new Promise<boolean>((resolve) => {
    server.once('error', () => resolve(false));
    server.listen(0, '::', () => resolve(true));
  });
  if (!dual) await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => server.close());
  return { port: (server.address() as net.AddressInfo).port, connections: () => connections };
}

test('internal addresses in any spelling are refused in production, and nothing connects to them', async (t) => {
  const listener = await countingListener(t);
  const p = listener.port;
  const urls = [
    `https://127.0.0.1:${p}/jwks`,
    `https://[::ffff:127.0.0.1]:${p}/jwks`, // mapped, dotted (the parser rewrites it to hex)
    `https://[::ffff:7f00:1]:${p}/jwks`, // mapped, hex
    `https://[0:0:0:0:0:ffff:7f00:1]:${p}/jwks`, // uncompressed
    `https://[::1]:${p}/jwks`,
    `https://[64:ff9b::7f00:1]:${p}/jwks`, // NAT64
    `https://[fe80::1]:${p}/jwks`,
    `https://[fd00::1]:${p}/jwks`,
    `https://[fec0::1]:${p}/jwks`,
    `https://[ff02::1]:${p}/jwks`,
    `https://2130706433:${p}/jwks`, // 127.0.0.1 in decimal
    `https://0177.0.0.1:${p}/jwks`, // octal
    `https://0x7f.0x0.0x0.0x1:${p}/jwks`, // hex
    `https://0x7f000001:${p}/jwks`,
    `https://127.1:${p}/jwks`,
    `https://localhost:${p}/jwks`, // a name that resolves to loopback
    'https://169.254.169.254/latest/meta-data/',
    'https://[::ffff:a9fe:a9fe]/latest/meta-data/',
  ];
  for (const url of urls) {
    const r = await safeGet(url, PRODUCTION);
    assert.equal(r.ok, false, url);
    assert.equal(!r.ok && r.problem, 'address', `${url}: ${JSON.stringify(r)}`);
  }
  assert.equal(listener.connections(), 0, 'no connection reached the loopback listener');
});

test('a name is resolved once: a resolver that rebinds to loopback the second time is never asked again', async (t) => {
  const listener = await countingListener(t);
  let asked = 0;
  // First answer public (TEST-NET would be refused, so a real public address, unreachable
  // here or not), every later answer loopback: a second resolution would reach the listener.
  const lookup = async () => (asked++ === 0 ? [{ address: '198.51.100.7', family: 4 }] : [{ address: '127.0.0.1', family: 4 }]);
  const r1 = await safeGet(`https://partner.example:${listener.port}/jwks`, { ...PRODUCTION, timeoutMs: 500, lookup });
  assert.equal(r1.ok, false);
  assert.equal(!r1.ok && r1.problem, 'address', 'TEST-NET-2 is reserved, refused like any non-public range');
  asked = 0;
  const publicFirst = async () => (asked++ === 0 ? [{ address: '8.8.8.8', family: 4 }] : [{ address: '127.0.0.1', family: 4 }]);
  const r2 = await safeGet(`https://partner.example:${listener.port}/jwks`, { ...PRODUCTION, timeoutMs: 500, lookup: publicFirst });
  assert.equal(r2.ok, false, 'no internet here: the public address does not answer');
  assert.equal(asked, 1, 'resolved once');
  assert.equal(listener.connections(), 0, 'the loopback listener was never reached');
  // A name with any internal answer is refused as a whole.
  const mixed = async () => [{ address: '8.8.8.8', family: 4 }, { address: '::ffff:10.0.0.1', family: 6 }];
  const r3 = await safeGet(`https://partner.example:${listener.port}/jwks`, { ...PRODUCTION, lookup: mixed });
  assert.equal(!r3.ok && r3.problem, 'address');
});

test('the sandbox fetches http on loopback; no redirect is followed; size and time are bounded', async (t) => {
  let hits = 0;
  const server = http.createServer((req, res) => {
    hits++;
    if (req.url === '/redirect') {
      res.writeHead(302, { Location: '/jwks' });
      return res.end();
    }
    if (req.url === '/big') return res.end('x'.repeat(100_000));
    if (req.url === '/hang') return;
    res.writeHead(200, { 'Content-Type': 'application/json', 'Cache-Control': 'max-age=60' });
    res.end('{"keys":[]}');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => {
    server.closeAllConnections();
    server.close();
  });
  const base = `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`;
  const sandbox: SafeFetchOptions = { allowHttp: true, allowLoopback: true, timeoutMs: 500, maxBytes: 64 * 1024 };
  const ok = await safeGet(`${base}/jwks`, sandbox);
  assert.ok(ok.ok);
  assert.equal(ok.ok && ok.body, '{"keys":[]}');
  assert.equal(ok.ok && ok.headers['cache-control'], 'max-age=60');
  assert.equal((await safeGet(`${base}/redirect`, sandbox) as { problem?: string }).problem, 'redirect');
  assert.equal((await safeGet(`${base}/big`, sandbox) as { problem?: string }).problem, 'too-large');
  assert.equal((await safeGet(`${base}/hang`, sandbox) as { problem?: string }).problem, 'timeout');
  assert.equal(hits, 4, 'the redirect was not followed');
  assert.equal((await safeGet(`${base}/jwks`, PRODUCTION) as { problem?: string }).problem, 'scheme', 'production refuses http');
  assert.equal((await safeGet('https://user:pw@example.org/jwks', PRODUCTION) as { problem?: string }).problem, 'credentials');
  assert.equal((await safeGet('not a url', PRODUCTION) as { problem?: string }).problem, 'url');
});

test('the sandbox allows loopback only: a name resolving to a private, link-local or metadata address is refused there too, with no connection', async () => {
  const sandbox: SafeFetchOptions = { allowHttp: true, allowLoopback: true, timeoutMs: 500, maxBytes: 1024 };
  for (const address of ['10.255.255.1', '169.254.169.254', '192.168.1.1', 'fd00::1', '::ffff:a9fe:a9fe']) {
    const r = (await safeGet('http://internal.example/x', { ...sandbox, lookup: async () => [{ address, family: address.includes(':') ? 6 : 4 }] })) as { problem?: string; address?: string };
    assert.equal(r.problem, 'address', address);
  }
});
