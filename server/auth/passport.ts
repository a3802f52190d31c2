// Passport: the local strategy checks email and password (a dummy hash is checked for
// unknown, disabled or unfinished accounts, so every failure costs the same), and the
// session keeps only the user id (req.login). The user of each signed-in request is read by
// sessionUserOf, which session.ts calls (not Passport's session strategy).
import { Passport } from 'passport';
import { Strategy as LocalStrategy } from 'passport-local';
import { eq } from 'drizzle-orm';
import { prepared } from '../../db/client.ts';
import { users } from '../../db/schema.ts';
import type { Deps } from '../deps.ts';
import { parseEmail } from '../lib/validation.ts';
import { burnPasswordCheck, verifyPassword } from './passwords.ts';
import { toSessionUser, type SessionUser } from './guards.ts';

type UserRow = typeof users.$inferSelect;
// The columns a session keeps, named as the schema names them; SQLite gives is_admin as 0 or 1.
type SessionUserRow = Pick<UserRow, 'id' | 'email' | 'displayName' | 'organisationId' | 'disabledAt'> & { isAdmin: number };

function findUserByEmail(deps: Deps, email: string): UserRow | undefined {
  return deps.db.select().from(users).where(eq(users.email, email)).get();
}

// One Passport instance per app, so that apps built side by side (tests) never share state.
export function configurePassport(deps: Deps): InstanceType<typeof Passport> {
  const passport = new Passport();
  passport.use(
    new LocalStrategy({ usernameField: 'email', passwordField: 'password' }, (emailInput, password, done) => {
      const email = parseEmail(emailInput);
      const user = email.ok ? findUserByEmail(deps, email.value) : undefined;
      const check =
        user && user.passwordHash && user.disabledAt === null ? verifyPassword(user.passwordHash, password) : burnPasswordCheck(password);
      check.then(
        (ok) => done(null, ok && user ? user : false),
        (err) => done(err),
      );
    }),
  );
  passport.serializeUser((user, done) => done(null, (user as SessionUser).id));
  return passport;
}

// The signed-in user of a session's user id, on every signed-in request (session.ts): only
// what a session keeps (not the password hash or the TOTP secret), as one raw statement
// (drizzle's mapping of a whole row cost more than the query). A disabled user is signed out
// on their next request (their sessions are also revoked).
export function sessionUserOf(deps: Deps): (id: unknown) => SessionUser | null {
  return (id) => {
    const row = typeof id === 'number' ? prepared(deps.db, 'sessionUserById', () => deps.db.$client.prepare<[number], SessionUserRow>('select id, email, display_name as displayName, is_admin as isAdmin, organisation_id as organisationId, disabled_at as disabledAt from users where id = ?')).get(id) : undefined;
    return row && row.disabledAt === null ? toSessionUser({ ...row, isAdmin: row.isAdmin === 1 }) : null;
  };
}
