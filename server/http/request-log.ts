// One log line per request: method, path, status, duration, request id. Never the
// query string or body; setup and password-reset links carry a token in the path, so that
// part is masked.
import crypto from 'node:crypto';
import type { NextFunction, Request, Response } from 'express';
import type { Logger } from '../lib/log.ts';

export function safePath(path: string): string {
  // Any letter case: Express routes match regardless of it.
  return path.replace(/^\/setup\/[^/]+/i, '/setup/[token]').replace(/^\/password\/reset\/(?!(?:verify|passkey)(?:\/|$))[^/]+/i, '/password/reset/[token]');
}

export function requestLog(logger: Logger) {
  return (req: Request, res: Response, next: NextFunction) => {
    const started = process.hrtime.bigint();
    const id = crypto.randomUUID().slice(0, 8);
    res.locals.requestId = id;
    res.set('X-Request-Id', id);
    res.on('finish', () => {
      logger.info('request', {
        id,
        method: req.method,
        path: safePath(req.path),
        status: res.statusCode,
        ms: Number((Number(process.hrtime.bigint() - started) / 1e6).toFixed(1)),
      });
    });
    next();
  };
}
