// The 404 catch-all and the one error handler: a page, an htmx fragment or JSON
// depending on what was asked; never a stack trace outside development.
import type { NextFunction, Request, Response } from 'express';
import type { Eta } from 'eta';
import type Database from 'better-sqlite3';
import type { Config } from '../lib/config.ts';
import { isBusyError, isStorageError, noteBusy, sqliteErrorCode } from '../../db/client.ts';
import type { Logger } from '../lib/log.ts';
import { HttpError } from './errors.ts';
import { isHtmx } from './htmx.ts';
import { layoutModel, sendHtml } from './views.ts';
import { safePath } from './request-log.ts';

export function notFoundHandler(_req: Request, _res: Response, next: NextFunction) {
  next(new HttpError(404, 'Page not found'));
}

function wantsJson(req: Request): boolean {
  return req.path.startsWith('/oauth/') || req.path.startsWith('/.well-known/') || (req.accepts(['html', 'json']) === 'json');
}

export const BUSY_MESSAGE = 'The portal is busy for a moment and could not save this. Nothing was changed. Please try again in a few seconds.';
// A full disk or an I/O error (SQLITE_FULL, SQLITE_IOERR_*): SQLite rolled the write back.
export const STORAGE_MESSAGE = 'The portal could not save this because its storage is full or failing. Nothing was changed. Please try again later; if it keeps happening, contact support.';
// An operator has to free space or replace a disk: not a matter of a second.
export const STORAGE_RETRY_AFTER_SECONDS = 30;

// The client went away before its request arrived in full: it closed the connection, or
// the server's request deadline (REQUEST_TIMEOUT_SECONDS) closed it with a 408. Express's
// body parser then reports `request aborted` (type 'request.aborted'). Nobody is left to
// answer and nothing failed here: no response, no error, no stack trace; the request log
// gets its usual line, with 408 (the deadline) or 499 (nginx's "client closed request").
export function isClientGone(err: unknown): boolean {
  const e = err as { type?: unknown; code?: unknown; message?: unknown } | null;
  return e?.type === 'request.aborted' || e?.code === 'ECONNABORTED' || (e?.code === 'ECONNRESET' && e?.message === 'aborted');
}

export function errorHandler(config: Config, views: Eta, logger: Logger, sqlite?: Database.Database) {
  return (err: unknown, req: Request, res: Response, _next: NextFunction) => {
    if (isClientGone(err)) {
      const timedOut = (req.socket as { errored?: { code?: unknown } | null } | undefined)?.errored?.code === 'ERR_HTTP_REQUEST_TIMEOUT';
      logger.info('request', { id: String(res.locals.requestId ?? ''), method: req.method, path: safePath(req.path), status: timedOut ? 408 : 499, gone: timedOut ? 'request not in within REQUEST_TIMEOUT_SECONDS' : 'client closed the connection' });
      return;
    }
    const e = err as { status?: unknown; statusCode?: unknown; expose?: unknown; message?: unknown; type?: unknown; stack?: unknown };
    // The database held by another connection past our short wait: 503, try again.
    const busy = isBusyError(err);
    if (busy && sqlite) noteBusy(sqlite);
    // The disk full or failing: 503 as well, try again later.
    const storage = !busy && isStorageError(err);
    const unavailable = busy || storage;
    const raw = unavailable ? 503 : typeof e?.status === 'number' ? e.status : typeof e?.statusCode === 'number' ? e.statusCode : 500;
    const status = raw >= 400 && raw < 600 ? raw : 500;
    const requestId = String(res.locals.requestId ?? '');
    let message: string;
    if (busy) message = BUSY_MESSAGE;
    else if (storage) message = STORAGE_MESSAGE;
    else if (err instanceof HttpError && err.expose) message = err.message;
    else if (status === 413) message = 'The request was too large.';
    else if (status === 400) message = 'The request could not be understood.';
    else if (status === 404) message = 'Page not found';
    else if (status < 500 && e?.expose === true && typeof e.message === 'string') message = e.message;
    else message = 'Something went wrong on our side. Please try again; if it keeps happening, contact support and mention the reference below.';
    if (busy) {
      logger.warn('database busy', { id: requestId, method: req.method, path: safePath(req.path) });
    } else if (storage) {
      logger.warn('database full or failing; answered 503', { id: requestId, method: req.method, path: safePath(req.path), code: sqliteErrorCode(err) });
    } else if (status >= 500) {
      logger.error('unhandled error', { id: requestId, path: safePath(req.path), error: String(e?.message ?? err), stack: String(e?.stack ?? '') });
    } else if (status === 403) {
      logger.warn('forbidden', { id: requestId, method: req.method, path: safePath(req.path), reason: message });
    }
    if (res.headersSent) return;
    res.set('Cache-Control', 'no-store');
    if (unavailable) res.set('Retry-After', busy ? '1' : String(STORAGE_RETRY_AFTER_SECONDS));
    if (wantsJson(req)) {
      if (status >= 500) (req as { session?: unknown }).session = undefined;
      const error = unavailable ? 'temporarily_unavailable' : status >= 500 ? 'server_error' : status === 404 ? 'not_found' : 'invalid_request';
      const reference = status >= 500 && !unavailable ? { error_description: `${message} Reference: ${requestId}.`, request_id: requestId } : {};
      res.status(status).json({ error, error_description: message, ...reference });
      return;
    }
    const layout = layoutModelSafe(req, config);
    // A failed request leaves the session as it was: nothing is saved at the end.
    if (status >= 500) (req as { session?: unknown }).session = undefined;
    const model = {
      ...layout,
      status,
      message,
      requestId: status >= 500 && !unavailable ? requestId : '',
      stack: config.isDevelopment && status >= 500 ? String(e?.stack ?? '') : '',
    };
    try {
      if (isHtmx(req)) {
        // Let htmx swap the message into the page's alert region even on an error status.
        res.set('HX-Retarget', '#flash').set('HX-Reswap', 'innerHTML');
        sendHtml(res, views.render('/partials/error', model), status);
      } else {
        sendHtml(res, views.render('/pages/error', model), status);
      }
    } catch (renderError) {
      logger.error('error page failed', { id: requestId, error: String(renderError) });
      res.status(status).type('text').send(message);
    }
  };
}

function layoutModelSafe(req: Request, config: Config) {
  try {
    return layoutModel(req, config, 'Error');
  } catch {
    return { title: 'Error', csrfToken: '', sandbox: config.portalEnv === 'sandbox', supportEmail: config.supportEmail, user: null, nav: '', flash: '' };
  }
}
