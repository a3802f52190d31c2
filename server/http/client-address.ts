// The one notion of a request's client address, for the whole process: the pages
// (Express's req.ip is set up from the same TRUST_PROXY function), the token endpoint,
// the rate limits, the audit log and the security-notice mails. Without TRUST_PROXY,
// X-Forwarded-For is ignored and the address is the TCP peer's.
import type { IncomingMessage } from 'node:http';
import proxyaddr from 'proxy-addr';
import type { Config } from '../lib/config.ts';

export type AddressOf = (req: IncomingMessage) => string;

export function createAddressOf(config: Pick<Config, 'trustProxy' | 'trustProxyFn'>): AddressOf {
  if (config.trustProxy.length === 0) return (req) => req.socket.remoteAddress ?? 'unknown';
  const trust = config.trustProxyFn;
  return (req) => {
    try {
      return proxyaddr(req, trust);
    } catch {
      return req.socket.remoteAddress ?? 'unknown';
    }
  };
}
