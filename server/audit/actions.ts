// What the audit log's actions are called on screen: the filter offers these labels (not
// `secret.create`), and the table shows them. Grouped by the action's prefix, each group
// with an "all" choice that filters on the prefix. An action missing here (a new one)
// still shows and filters, under a label made from its code.
export interface ActionGroup {
  prefix: string; // 'secret.'; '' for actions without a prefix
  label: string; // the group's name
  all: string; // the choice that selects the whole group
  actions: Array<[action: string, label: string]>;
}

export const ACTION_GROUPS: ActionGroup[] = [
  { prefix: 'secret.', label: 'Client secrets', all: 'Any client secret event', actions: [['secret.create', 'Secret created'], ['secret.delete', 'Secret deleted'], ['secret.revoke', 'Secret revoked by an administrator']] },
  { prefix: 'key.', label: 'Certificates and public keys', all: 'Any key event', actions: [['key.add', 'Key added'], ['key.delete', 'Key deleted'], ['key.revoke', 'Key revoked by an administrator']] },
  { prefix: 'federated.', label: 'Federated credentials', all: 'Any federated credential event', actions: [['federated.add', 'Federated credential added'], ['federated.delete', 'Federated credential deleted'], ['federated.review', 'Federated credential reviewed']] },
  { prefix: 'jwks_url.', label: 'JWKS URLs', all: 'Any JWKS URL event', actions: [['jwks_url.set', 'JWKS URL registered'], ['jwks_url.remove', 'JWKS URL removed']] },
  { prefix: 'token.', label: 'Token requests', all: 'Any refused token request', actions: [['token.auth_failed', 'Token request refused'], ['token.auth_failed_summary', 'Token requests refused (summary of a minute)']] },
  {
    prefix: 'login.',
    label: 'Signing in',
    all: 'Any sign-in event',
    actions: [
      ['login.success', 'Signed in'],
      ['login.password_ok', 'Password accepted, second step started'],
      ['login.failed', 'Sign-in refused: wrong password'],
      ['login.mfa_failed', 'Sign-in refused: wrong code'],
      ['login.mfa_locked', 'Second step locked after wrong codes'],
      ['login.passkey_failed', 'Sign-in with a passkey refused'],
      ['login.throttled', 'Sign-in attempts throttled'],
    ],
  },
  {
    prefix: 'account.',
    label: 'Own account',
    all: 'Any change to one’s own account',
    actions: [
      ['account.password_changed', 'Password changed'],
      ['account.password_check_failed', 'Wrong current password on the account page'],
      ['account.authenticator_replaced', 'Authenticator app replaced'],
      ['account.recovery_codes_replaced', 'New recovery codes made'],
      ['account.passkey_added', 'Passkey added'],
      ['account.passkey_removed', 'Passkey removed'],
      ['account.session_ended', 'A session ended'],
      ['account.sessions_ended', 'All other sessions ended'],
    ],
  },
  {
    prefix: 'application.',
    label: 'Applications',
    all: 'Any application event',
    actions: [
      ['application.create', 'Application created'],
      ['application.grant', 'API granted to an application'],
      ['application.revoke_api', 'API taken from an application'],
      ['application.sandbox_only', 'Sandbox-only setting changed'],
      ['application.disable', 'Application disabled'],
      ['application.enable', 'Application enabled'],
    ],
  },
  { prefix: 'manager.', label: 'Credential managers', all: 'Any credential manager change', actions: [['manager.assign', 'Credential manager added'], ['manager.remove', 'Credential manager removed']] },
  {
    prefix: 'user.',
    label: 'Users',
    all: 'Any user event',
    actions: [
      ['user.invite', 'User invited'],
      ['user.invite_resend', 'Invitation sent again'],
      ['user.setup_complete', 'Account set up'],
      ['user.reset_mfa', 'MFA reset'],
      ['user.disable', 'User disabled'],
      ['user.enable', 'User enabled'],
    ],
  },
  { prefix: 'organisation.', label: 'Organisations', all: 'Any organisation event', actions: [['organisation.create', 'Organisation created'], ['organisation.rename', 'Organisation renamed']] },
  { prefix: 'password.', label: 'Forgotten passwords', all: 'Any forgotten-password event', actions: [['password.reset_requested', 'Link to reset a password asked for'], ['password.reset', 'Password reset with a mailed link'], ['password.reset_passkey_failed', 'Password reset: passkey refused']] },
  { prefix: 'mail.', label: 'Mail', all: 'Any mail event', actions: [['mail.test', 'Test mail accepted (command line)']] },
  { prefix: 'api.', label: 'API catalogue', all: 'Any API catalogue change', actions: [['api.create', 'API added'], ['api.delete', 'API removed']] },
  {
    prefix: '',
    label: 'Other',
    all: '',
    actions: [
      ['logout', 'Signed out'],
      ['access.denied', 'Access refused on the credentials page'],
      ['admin.access_denied', 'Access refused to the administration'],
      ['audit.export', 'Audit log exported'],
      ['signing_key.rotate', 'Token signing key rotated'],
      ['backup', 'Backup made'],
    ],
  },
];

const LABELS = new Map<string, string>();
for (const g of ACTION_GROUPS) {
  if (g.prefix) LABELS.set(g.prefix, g.all);
  for (const [action, label] of g.actions) LABELS.set(action, label);
}
const BY_LABEL = new Map([...LABELS].map(([action, label]) => [label.toLowerCase(), action]));

// The label of an action (or of a prefix such as 'secret.'); one made from the code for
// an action this list does not know yet.
export function actionLabel(action: string): string {
  const known = LABELS.get(action);
  if (known) return known;
  const words = action.replace(/[._]+/g, ' ').trim();
  return words.charAt(0).toUpperCase() + words.slice(1);
}

const ACTION_CODE = /^[a-z][a-z_]*(\.[a-z_]*)?$/;

// What the filter was given, as an action or a prefix: a label (in any case), or a code
// as the links and the CSV have it. null when it is neither.
export function actionFromInput(input: string): string | null {
  const byLabel = BY_LABEL.get(input.trim().toLowerCase());
  if (byLabel) return byLabel;
  return ACTION_CODE.test(input) ? input : null;
}

// The filter's choices: the groups above, plus (under Other) any action in the log that
// they do not name.
export function actionChoices(inLog: string[]) {
  const unknown = inLog.filter((a) => !LABELS.has(a)).map((a): [string, string] => [a, actionLabel(a)]);
  return ACTION_GROUPS.map((g) => ({
    label: g.label,
    options: [...(g.prefix ? [{ value: g.prefix, label: g.all }] : []), ...g.actions.map(([value, label]) => ({ value, label })), ...(g.prefix === '' ? unknown.map(([value, label]) => ({ value, label })) : [])],
  }));
}
