// Passport: the local strategy checks email and password (a dummy hash is checked for
// unknown, disabled or unfinished accounts, so every failure costs the same), and the
// session keeps only the user id.
import { Passport } from 'passport';
import { Strategy as LocalStrategy } from 'passport-local';
import { eq, sql } from 'drizzle-orm';
import { prepared } from '../../db/client.ts';
import { users } from '../../db/schema.ts';
import type { Deps } from '../deps.ts';
import { parseEmail } from '../lib/validation.ts';
import { burnPasswordCheck, verifyPassword } from './passwords.ts';
import { toSessionUser, type SessionUser } from './guards.ts';

type UserRow = typeof users.$inferSelect;

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
  passport.deserializeUser((id: unknown, done) => {
    try {
      const row = typeof id === 'number' ? prepared(deps.db, 'userById', () => deps.db.select().from(users).where(eq(users.id, sql.placeholder('id'))).prepare()).get({ id }) : undefined;
      // A disabled user is signed out on their next request (their sessions are also revoked).
      done(null, row && row.disabledAt === null ? toSessionUser(row) : false);
    } catch (err) {
      done(err);
    }
  });
  return passport;
}
