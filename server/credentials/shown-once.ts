// A new secret on its way from the POST that made it to the one GET that shows it
// (Post/Redirect/Get without JavaScript). Held in this process's memory only — never in
// the database, the session, a log or a URL — bound to the session that made it, and
// gone after the first read or ten minutes. A restart in between loses it: the page then
// says the secret is no longer shown, and its hint remains.
import { gauge } from '../lib/gauges.ts';

const TTL_MS = 10 * 60 * 1000;
const MAX_HELD = 1000;

interface Held {
  sessionId: string;
  secret: string;
  until: number;
}

export class ShownOnce {
  private readonly held = new Map<string, Held>();

  constructor() {
    gauge('secrets held to be shown once', this.held, (m) => m.size);
  }

  hold(secretId: string, sessionId: string, secret: string, now: number): void {
    for (const [id, h] of this.held) if (h.until <= now || this.held.size >= MAX_HELD) this.held.delete(id);
    this.held.set(secretId, { sessionId, secret, until: now + TTL_MS });
  }

  // The secret, once, to the session that made it; null ever after.
  take(secretId: string, sessionId: string, now: number): string | null {
    const h = this.held.get(secretId);
    if (!h || h.sessionId !== sessionId) return null;
    this.held.delete(secretId);
    return h.until > now ? h.secret : null;
  }
}
