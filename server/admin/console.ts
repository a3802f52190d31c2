// What every admin console route shares: rendering a page with its errors and values,
// redirecting back with a one-time message, loading a row named in the URL, and
// mailing a setup link in the background.
import type { NextFunction, Request, Response } from 'express';
import type { Deps } from '../deps.ts';
import { HttpError } from '../http/errors.ts';
import { layoutModel, sendHtml, setFlash } from '../http/views.ts';
import { relativeTime } from '../lib/dates.ts';
import { mailBanner } from '../mail/status.ts';
import { parseId } from '../lib/validation.ts';
import type { DomainResult } from '../lib/result.ts';
import { invitationMail, type InvitationKind } from './invitation-mail.ts';
import { listUsers } from './users.ts';
import type { AuditActor } from '../audit/audit.ts';

export type Errors = Record<string, string>;

export function createConsole(deps: Deps) {
  const { db, clock, config, views } = deps;
  return {
    page(req: Request, res: Response, template: string, title: string, model: object, status = 200) {
      // Every console page says when mail is not sent or deliveries failed (mail/status.ts).
      sendHtml(res, views.render(`/pages/admin/${template}`, { ...layoutModel(req, config, title, 'admin'), mailBanner: mailBanner(deps), errors: {}, values: {}, ...model }), status);
    },
    back(req: Request, res: Response, to: string, message: string) {
      setFlash(req, message);
      res.redirect(303, to);
    },
    fail<T>(r: DomainResult<T>): r is Extract<DomainResult<T>, { ok: false }> {
      return !r.ok;
    },
    // Loads the row named by a numeric URL parameter into res.locals, or answers 404.
    loader<T>(param: string, local: string, find: (id: number) => T | undefined, missing: string) {
      return (req: Request, res: Response, next: NextFunction) => {
        const id = parseId(req.params[param]);
        const row = id === null ? undefined : find(id);
        if (!row) return next(new HttpError(404, missing));
        res.locals[local] = row;
        next();
      };
    },
    // Mails a setup link in the background; the page does not wait for SMTP.
    mailInvitation(userId: number, token: string, kind: InvitationKind, invitedBy: AuditActor) {
      deps.mailer.sendAfter(() => invitationMail(deps, userId, token, kind, invitedBy), 'invitation mail', { userId });
    },
    // Users of an organisation (or the administrators) with how long ago they last signed in.
    usersView(organisationId: number | null) {
      const now = clock.now();
      return listUsers(db, organisationId).map((u) => ({ ...u, lastSignIn: u.lastSignInAt ? relativeTime(u.lastSignInAt, now) : 'never' }));
    },
  };
}

export type Console = ReturnType<typeof createConsole>;
