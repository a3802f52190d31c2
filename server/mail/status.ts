// What the console's banner says about mail (views/layouts/base.eta, on every console
// page): that nothing is sent without SMTP_URL, and how many deliveries failed.
import type { Deps } from '../deps.ts';
import { outboxWarning } from './mailer.ts';

export interface MailBanner {
  lines: string[];
  link: string;
  linkText: string;
}

export function mailBanner(deps: Pick<Deps, 'config' | 'mailer' | 'logger'>): MailBanner | null {
  const lines: string[] = [];
  if (deps.mailer.kind === 'outbox') lines.push(outboxWarning(deps.config));
  let failed = 0;
  try {
    failed = deps.mailer.failures?.count() ?? 0;
  } catch (err) {
    // A page is not refused for want of this count.
    deps.logger.warn('failed deliveries not counted', { error: String((err as Error)?.message ?? err) });
  }
  if (failed) lines.push(`${failed} ${failed === 1 ? 'mail' : 'mails'} could not be delivered.`);
  return lines.length ? { lines, link: '/admin/outbox', linkText: deps.mailer.kind === 'outbox' ? 'Read the outbox' : 'See the failed deliveries' } : null;
}
