// `send-test-mail --to E`: proves the SMTP settings from the command line. Exit 0 only
// once the SMTP server accepted the message; bad input (or no SMTP_URL) is exit 2 with a
// message; a refusal or an unreachable server is exit 1 with the server's error.
import type { Deps } from '../deps.ts';
import { cliActor, recordAudit } from '../audit/audit.ts';
import { parseEmail } from '../lib/validation.ts';
import { formatDateTime } from '../lib/dates.ts';
import { UsageError, one, type Flags } from './args.ts';
import { outboxWarning } from '../mail/mailer.ts';
import { errorText } from '../mail/failures.ts';

// The server as host:port, never the user name or password SMTP_URL may carry.
export const smtpServerName = (smtpUrl: string) => {
  const u = new URL(smtpUrl);
  return `${u.protocol}//${u.hostname}${u.port ? `:${u.port}` : ''}`;
};

export async function sendTestMailCommand(deps: Deps, flags: Flags): Promise<string> {
  const to = parseEmail(one(flags, 'to'));
  if (!to.ok) throw new UsageError(`--to: ${to.message}`);
  if (deps.mailer.kind !== 'smtp' || !deps.config.smtpUrl) throw new UsageError(`${outboxWarning(deps.config)} Set SMTP_URL to send a test mail.`);
  const server = smtpServerName(deps.config.smtpUrl);
  const when = formatDateTime(deps.clock.now(), deps.config.timezone);
  const text = `This is a test mail from the Credentials Portal at ${deps.config.baseUrl}, sent from the command line on ${when} through ${server}.\n\nIf you can read it, expiry reminders and notices can reach this address.\n`;
  const { rejected } = await deps.mailer
    .send({
      to: [{ name: '', address: to.value }],
      subject: 'Test mail from the Credentials Portal',
      text,
      html: `<p>${text.trim().replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/\n\n/g, '</p><p>')}</p>`,
    })
    .catch((err: unknown) => {
      throw new Error(errorText(err)); // never what the server echoed of our AUTH line
    });
  if (rejected.length) throw new Error(`the SMTP server at ${server} refused ${rejected.join(', ')}`);
  recordAudit(deps.db, deps.clock, cliActor, { action: 'mail.test', target: to.value });
  return `accepted by the SMTP server at ${server} for ${to.value}`;
}
