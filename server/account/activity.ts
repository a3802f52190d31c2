// Audit events of one's own account, as sentences.
import type { auditEvents } from '../../db/schema.ts';

const SENTENCES: Record<string, string> = {
  'login.success': 'Signed in',
  'login.failed': 'Failed sign-in: wrong password',
  'login.password_ok': 'Password accepted; second step started',
  'login.mfa_failed': 'Failed sign-in: wrong code',
  'login.mfa_locked': 'Second step locked after wrong codes',
  'login.passkey_failed': 'Failed sign-in with a passkey',
  logout: 'Signed out',
  'account.password_changed': 'Password changed',
  'account.password_check_failed': 'Wrong current password on the account page',
  'account.authenticator_replaced': 'Authenticator app replaced',
  'account.recovery_codes_replaced': 'New recovery codes made',
  'account.session_ended': 'A session was ended',
  'account.sessions_ended': 'All other sessions ended',
  'account.passkey_added': 'Passkey added',
  'account.passkey_removed': 'Passkey removed',
};

export function describeAccountEvent(e: typeof auditEvents.$inferSelect): string {
  let details: Record<string, unknown> = {};
  try {
    details = JSON.parse(e.details) as Record<string, unknown>;
  } catch {
    /* shown without details */
  }
  const base = SENTENCES[e.action] ?? e.action.replace(/[._]/g, ' ');
  if (e.action === 'login.success' && typeof details.method === 'string') return `${base} (${details.method.replace(/_/g, ' ')})`;
  if (e.action.startsWith('account.passkey') && e.target) return `${base}: “${e.target}”`;
  if (e.action === 'account.sessions_ended' && typeof details.endedSessions === 'number') return `${base} (${details.endedSessions})`;
  return base;
}
