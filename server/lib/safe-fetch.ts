// A GET on a user's behalf (a partner's JWKS URL, later an issuer's documents) that cannot
// be turned against the internal network: the address is classified by ipaddr.js (every
// special range it knows: loopback, private, link-local, unique-local, multicast, NAT64,
// 6to4, Teredo, IPv4-mapped IPv6 …), never by reading the string, and it is the address
// actually connected to: a host name is resolved once, every answer is checked, and the
// connection goes to a checked answer (no second resolution for DNS rebinding to win);
// the socket's remote address is checked again when it connects. Bounded in time (one
// deadline for connecting, the answer and the body), in size, and it follows no redirect.
import dns from 'node:dns';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import os from 'node:os';
import ipaddr from 'ipaddr.js';

// Why an address may not be fetched outside the sandbox: its range's name, or null when
// it is a public unicast address. IPv4-mapped IPv6 is judged as the IPv4 it carries; an
// IPv6 address must also be global unicast (2000::/3), so a range ipaddr.js does not name
// yet is refused rather than allowed.
export function nonPublicRange(address: string): string | null {
  let parsed: ipaddr.IPv4 | ipaddr.IPv6;
  try {
    parsed = ipaddr.process(address);
  } catch {
    return 'not an address';
  }
  const range = parsed.range();
  if (range !== 'unicast') return range;
  if (parsed.kind() === 'ipv6' && !parsed.match(ipaddr.IPv6.parse('2000::'), 3)) return 'not global unicast';
  // The portal's own host, even on a public address: services bound to every interface.
  if (ownAddresses().has(parsed.toNormalizedString())) return 'this host';
  return null;
}

function ownAddresses(): Set<string> {
  const own = new Set<string>();
  for (const list of Object.values(os.networkInterfaces())) {
    for (const a of list ?? []) {
      try {
        own.add(ipaddr.process(a.address.replace(/%.*$/, '')).toNormalizedString());
      } catch {
        // an address ipaddr.js cannot read is not one a URL can name either
      }
    }
  }
  return own;
}

export type LookupAll = (hostname: string) => Promise<Array<{ address: string; family: number }>>;
const systemLookup: LookupAll = (hostname) => dns.promises.lookup(hostname, { all: true, verbatim: true });

export interface SafeFetchOptions {
  allowHttp: boolean; // http:// as well as https:// (the sandbox)
  allowLoopback: boolean; // loopback addresses too (the sandbox, to try it out and for tests); never other private ranges
  timeoutMs: number;
  maxBytes: number;
  accept?: string;
  lookup?: LookupAll; // the resolver (tests give one that answers differently each time)
}

export type SafeFetchProblem =
  | { problem: 'url' }
  | { problem: 'scheme' }
  | { problem: 'credentials' }
  | { problem: 'not-found'; host: string }
  | { problem: 'address'; host: string; address: string; range: string }
  | { problem: 'timeout' }
  | { problem: 'unreachable' }
  | { problem: 'redirect' }
  | { problem: 'too-large' };

export type SafeFetchResult = ({ ok: true; status: number; headers: http.IncomingHttpHeaders; body: string } | ({ ok: false } & SafeFetchProblem));

class Refused extends Error {
  constructor(readonly detail: SafeFetchProblem) {
    super(detail.problem);
  }
}

export async function safeGet(url: string, options: SafeFetchOptions): Promise<SafeFetchResult> {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return { ok: false, problem: 'url' };
  }
  if (u.protocol !== 'https:' && !(options.allowHttp && u.protocol === 'http:')) return { ok: false, problem: 'scheme' };
  if (u.username || u.password) return { ok: false, problem: 'credentials' };
  // The WHATWG parser already wrote IPv4 in decimal, octal or hex as dotted quads.
  const host = u.hostname.replace(/^\[|\]$/g, '');
  const lookup = options.lookup ?? systemLookup;
  const check = (address: string) => {
    const range = nonPublicRange(address);
    if (range && !(options.allowLoopback && range === 'loopback')) throw new Refused({ problem: 'address', host, address, range });
  };

  const deadline = new AbortController();
  const timer = setTimeout(() => deadline.abort(), options.timeoutMs);
  try {
    // The one resolution: every answer checked, and the connection pinned to them.
    let pinned: Array<{ address: string; family: number }>;
    if (net.isIP(host)) pinned = [{ address: host, family: net.isIP(host) }];
    else {
      try {
        pinned = await Promise.race([lookup(host), aborted(deadline.signal)]);
      } catch {
        if (deadline.signal.aborted) return { ok: false, problem: 'timeout' };
        throw new Refused({ problem: 'not-found', host });
      }
      if (pinned.length === 0) throw new Refused({ problem: 'not-found', host });
    }
    for (const a of pinned) check(a.address);
    return await get(u, host, pinned, check, options, deadline.signal);
  } catch (err) {
    if (err instanceof Refused) return { ok: false, ...err.detail };
    if (deadline.signal.aborted) return { ok: false, problem: 'timeout' };
    return { ok: false, problem: 'unreachable' };
  } finally {
    clearTimeout(timer);
  }
}

function aborted(signal: AbortSignal): Promise<never> {
  return new Promise((_, reject) => signal.addEventListener('abort', () => reject(new Error('aborted')), { once: true }));
}

function get(u: URL, host: string, pinned: Array<{ address: string; family: number }>, check: (address: string) => void, options: SafeFetchOptions, signal: AbortSignal): Promise<SafeFetchResult> {
  return new Promise((resolve, reject) => {
    // Node asks this instead of DNS (with `all` when it tries several addresses): only
    // what was checked above is ever answered.
    const pinnedLookup = (_name: string, opts: { all?: boolean }, cb: (...args: unknown[]) => void) => {
      if (opts?.all) cb(null, pinned);
      else cb(null, pinned[0]!.address, pinned[0]!.family);
    };
    const request = (u.protocol === 'https:' ? https : http).request({
      protocol: u.protocol,
      host,
      port: u.port || undefined,
      path: `${u.pathname}${u.search}`,
      method: 'GET',
      headers: { Host: u.host, Accept: options.accept ?? 'application/json', 'User-Agent': 'CredentialsPortal' },
      servername: net.isIP(host) ? undefined : host,
      lookup: pinnedLookup as unknown as net.LookupFunction,
      agent: false, // a fresh connection: a pooled one would skip the lookup
      signal,
    });
    // The address connected to, checked once more before a byte is read from it.
    request.on('socket', (socket) => {
      socket.once('connect', () => {
        try {
          check(socket.remoteAddress ?? '');
        } catch (err) {
          request.destroy(err as Error);
        }
      });
    });
    request.on('error', reject);
    request.on('response', (res) => {
      const status = res.statusCode ?? 0;
      // Answered before the stream is destroyed: destroying it emits 'aborted' at once.
      const stop = (problem: 'redirect' | 'too-large') => {
        resolve({ ok: false, problem });
        res.destroy();
      };
      if (status >= 300 && status < 400) return stop('redirect');
      if (Number(res.headers['content-length'] ?? 0) > options.maxBytes) return stop('too-large');
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > options.maxBytes) stop('too-large');
        else chunks.push(chunk);
      });
      res.on('end', () => resolve({ ok: true, status, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
      res.on('aborted', () => reject(new Error('aborted')));
    });
    request.end();
  });
}
