// The session store on the portal's SQLite file (session.ts is the middleware). Sessions
// are revoked, not deleted, so that a request still in flight when the user signs out (or
// is disabled) cannot write its session back: save() and touch() skip revoked rows.
import { and, eq, isNull, lt, or, isNotNull, sql } from 'drizzle-orm';
import { prepared, type Db } from '../../db/client.ts';
import { sessions } from '../../db/schema.ts';
import type { Clock } from '../lib/clock.ts';
import type { Logger } from '../lib/log.ts';
import { gauge } from '../lib/gauges.ts';
import type { SessionData } from './session.ts';

export const IDLE_TIMEOUT_MS = 30 * 60 * 1000;
export const ABSOLUTE_TIMEOUT_MS = 12 * 60 * 60 * 1000;
export const TOUCH_EVERY_MS = 60 * 1000;

function userIdOf(data: SessionData): number | null {
  const d = data as SessionData & { pendingUserId?: number };
  const id = d.passport?.user ?? d.pendingUserId;
  return typeof id === 'number' ? id : null;
}

// Synchronous, like every read and write of the portal's database (session.ts calls it).
export class SqliteSessionStore {
  // The expiry each session had when this request read it (load, then touch, in one request).
  private readonly expiries = new Map<string, number>();

  constructor(
    private readonly db: Db,
    private readonly clock: Clock,
    private readonly logger?: Logger,
  ) {
    gauge('session expiries (read, not yet touched)', this.expiries, (m) => m.size);
  }

  // A live session's data and the JSON it was stored as, or null (unknown, revoked or expired).
  load(sid: string): { data: SessionData; json: string } | null {
    // Every request with a cookie: three columns, one raw statement.
    const row = prepared(this.db, 'sessionDataBySid', () => this.db.$client.prepare<[string], { data: string; expires_at: number; revoked_at: number | null }>('select data, expires_at, revoked_at from sessions where sid = ?')).get(sid);
    if (!row || row.revoked_at !== null || row.expires_at <= this.clock.now()) return null;
    const data = JSON.parse(row.data) as SessionData & { cookie?: unknown };
    if (this.expiries.size > 10_000) this.expiries.clear(); // requests that never touched
    this.expiries.set(sid, row.expires_at);
    if (data.cookie === undefined) return { data, json: row.data };
    // A row express-session stored also held its cookie's settings: not data.
    delete data.cookie;
    return { data, json: JSON.stringify(data) };
  }

  // Stores the session (json is JSON.stringify(data)); a revoked session stays revoked.
  save(sid: string, data: SessionData, json: string): void {
    this.expiries.delete(sid);
    const now = this.clock.now();
    const expiresAt = now + IDLE_TIMEOUT_MS;
    const userId = userIdOf(data);
    const meta = (data as { meta?: { ip?: unknown; userAgent?: unknown } }).meta;
    const ip = typeof meta?.ip === 'string' ? meta.ip : null;
    const userAgent = typeof meta?.userAgent === 'string' ? meta.userAgent : null;
    this.db
      .insert(sessions)
      .values({ sid, userId, data: json, expiresAt, createdAt: now, ip, userAgent })
      .onConflictDoUpdate({ target: sessions.sid, set: { data: json, userId, expiresAt, ip, userAgent }, setWhere: isNull(sessions.revokedAt) })
      .run();
  }

  // Extends the idle timeout, writing at most once a minute per session: a page view
  // made within a minute of the last extension leaves the row alone (the timeout is
  // then up to a minute shorter than 30 minutes from the very last view).
  touch(sid: string): void {
    try {
      const expiresAt = this.clock.now() + IDLE_TIMEOUT_MS;
      const known = this.expiries.get(sid);
      this.expiries.delete(sid);
      if (known !== undefined && expiresAt - known < TOUCH_EVERY_MS) return;
      prepared(this.db, 'touchSession', () =>
        this.db
          .update(sessions)
          .set({ expiresAt: sql.placeholder('expiresAt') as unknown as number })
          .where(and(eq(sessions.sid, sql.placeholder('sid')), isNull(sessions.revokedAt)))
          .prepare(),
      ).run({ sid, expiresAt });
    } catch (err) {
      // Extending the idle timeout is not worth failing a page that was only read
      // (the database may be locked for a moment): log it and carry on.
      this.logger?.warn('session not extended', { error: String((err as Error)?.message ?? err) });
    }
  }

  // Revokes the id (a row is written even for an id never stored, so that nothing can
  // store it afterwards).
  revoke(sid: string): void {
    this.expiries.delete(sid);
    revokeSession(this.db, this.clock, sid);
  }

  // Drops rows that can never be used again (run now and then).
  prune(): number {
    const now = this.clock.now();
    return this.db
      .delete(sessions)
      .where(or(lt(sessions.expiresAt, now - IDLE_TIMEOUT_MS), and(isNotNull(sessions.revokedAt), lt(sessions.revokedAt, now - IDLE_TIMEOUT_MS))))
      .run().changes;
  }
}

export function revokeSession(db: Db, clock: Clock, sid: string): void {
  db.insert(sessions)
    .values({ sid, data: '{}', expiresAt: 0, createdAt: clock.now(), revokedAt: clock.now() })
    .onConflictDoUpdate({ target: sessions.sid, set: { revokedAt: clock.now() } })
    .run();
}

// Ends every session of a user at once (disable, password change, MFA reset).
export function revokeUserSessions(db: Db, clock: Clock, userId: number): number {
  return db
    .update(sessions)
    .set({ revokedAt: clock.now() })
    .where(and(eq(sessions.userId, userId), isNull(sessions.revokedAt)))
    .run().changes;
}
