// The whole data model of the portal: DESIGN.md "Data", and the tables features added
// since, each with its migration in db/migrations (settings, passkeys, client keys and
// their reminders, used client assertions, JWKS URLs). Times are integer milliseconds
// since the epoch (UTC);
// calendar dates chosen by people (a secret's expiry) are also kept as YYYY-MM-DD.
import { sql } from 'drizzle-orm';
import { index, integer, primaryKey, sqliteTable, text, uniqueIndex } from 'drizzle-orm/sqlite-core';

export const organisations = sqliteTable('organisations', {
  id: integer('id').primaryKey({ autoIncrement: true }),
  name: text('name').notNull(),
  countryCode: text('country_code').notNull(),
  createdAt: integer('created_at').notNull(),
});

export const users = sqliteTable(
  'users',
  {
    id: integer('id').primaryKey({ autoIncrement: true }),
    organisationId: integer('organisation_id').references(() => organisations.id),
    email: text('email').notNull(), // case-folded on the way in
    displayName: text('display_name').notNull().default(''),
    passwordHash: text('password_hash'),
    totpSecret: text('totp_secret'), // AES-256-GCM under the master key
    totpLastStep: integer('totp_last_step'),
    isAdmin: integer('is_admin', { mode: 'boolean' }).notNull().default(false),
    disabledAt: integer('disabled_at'),
    failedTotpCount: integer('failed_totp_count').notNull().default(0),
    totpLockedUntil: integer('totp_locked_until'),
    lastSignInAt: integer('last_sign_in_at'),
    createdAt: integer('created_at').notNull(),
  },
  (t) => [uniqueIndex('users_email_unique').on(t.email)],
);

export const recoveryCodes = sqliteTable(
  'recovery_codes',
  {
    id: integer('id').primaryKey({ autoIncrement: true }),
    userId: integer('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    codeHash: text('code_hash').notNull(),
    usedAt: integer('used_at'),
  },
  (t) => [index('recovery_codes_user').on(t.userId)],
);

export const invitations = sqliteTable(
  'invitations',
  {
    id: integer('id').primaryKey({ autoIncrement: true }),
    tokenHash: text('token_hash').notNull(),
    userId: integer('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    createdAt: integer('created_at').notNull(),
    expiresAt: integer('expires_at').notNull(),
    usedAt: integer('used_at'),
  },
  (t) => [uniqueIndex('invitations_token_hash_unique').on(t.tokenHash)],
);

// Server-side sessions (server/auth/session.ts and its store). A destroyed session is marked
// revoked rather than deleted, so a request still in flight cannot write it back.
export const sessions = sqliteTable(
  'sessions',
  {
    sid: text('sid').primaryKey(),
    userId: integer('user_id'),
    data: text('data').notNull(),
    expiresAt: integer('expires_at').notNull(),
    createdAt: integer('created_at').notNull(),
    revokedAt: integer('revoked_at'),
    // Shown to the user on their account page: where and with what they signed in.
    ip: text('ip'),
    userAgent: text('user_agent'),
  },
  (t) => [index('sessions_user').on(t.userId), index('sessions_expires').on(t.expiresAt)],
);

// Passkeys (WebAuthn credentials): a second factor beside TOTP, and with user
// verification a way to sign in on their own. The public key only; the counter is
// checked on every use.
export const passkeys = sqliteTable(
  'passkeys',
  {
    id: text('id').primaryKey(), // the credential ID, base64url
    userId: integer('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    name: text('name').notNull(),
    publicKey: text('public_key').notNull(), // COSE, base64url
    counter: integer('counter').notNull().default(0),
    transports: text('transports').notNull().default('[]'),
    createdAt: integer('created_at').notNull(),
    lastUsedAt: integer('last_used_at'),
  },
  (t) => [index('passkeys_user').on(t.userId)],
);

export const apis = sqliteTable('apis', {
  code: text('code').primaryKey(),
  name: text('name').notNull(),
  sandboxResource: text('sandbox_resource').notNull(),
  productionResource: text('production_resource').notNull(),
  createdAt: integer('created_at').notNull(),
});

export const applications = sqliteTable(
  'applications',
  {
    id: integer('id').primaryKey({ autoIncrement: true }),
    organisationId: integer('organisation_id')
      .notNull()
      .references(() => organisations.id),
    name: text('name').notNull(),
    clientId: text('client_id').notNull(),
    sandboxOnly: integer('sandbox_only', { mode: 'boolean' }).notNull().default(false),
    disabledAt: integer('disabled_at'),
    createdAt: integer('created_at').notNull(),
    createdBy: integer('created_by').references(() => users.id),
  },
  (t) => [uniqueIndex('applications_client_id_unique').on(t.clientId), index('applications_org').on(t.organisationId)],
);

export const applicationApis = sqliteTable(
  'application_apis',
  {
    applicationId: integer('application_id')
      .notNull()
      .references(() => applications.id, { onDelete: 'cascade' }),
    apiCode: text('api_code')
      .notNull()
      .references(() => apis.code),
  },
  (t) => [primaryKey({ columns: [t.applicationId, t.apiCode] })],
);

export const credentialManagers = sqliteTable(
  'credential_managers',
  {
    userId: integer('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    applicationId: integer('application_id')
      .notNull()
      .references(() => applications.id, { onDelete: 'cascade' }),
    createdAt: integer('created_at').notNull(),
  },
  (t) => [primaryKey({ columns: [t.userId, t.applicationId] }), index('credential_managers_app').on(t.applicationId)],
);

export const clientSecrets = sqliteTable(
  'client_secrets',
  {
    id: text('id').primaryKey(), // the secret's id, also the `secret_id` claim of the tokens it mints
    applicationId: integer('application_id')
      .notNull()
      .references(() => applications.id),
    name: text('name').notNull(),
    hint: text('hint').notNull(),
    secretHash: text('secret_hash').notNull(),
    createdAt: integer('created_at').notNull(),
    createdBy: integer('created_by').references(() => users.id),
    expiresOn: text('expires_on').notNull(), // the calendar date the manager chose
    expiresAt: integer('expires_at').notNull(), // first instant after that date ends in PORTAL_TIMEZONE
    lastUsedAt: integer('last_used_at'),
    deletedAt: integer('deleted_at'),
    deletedBy: integer('deleted_by').references(() => users.id),
    deleteReason: text('delete_reason'),
  },
  (t) => [index('client_secrets_app').on(t.applicationId), index('client_secrets_expiry').on(t.expiresAt, t.id)],
);

export const remindersSent = sqliteTable(
  'reminders_sent',
  {
    secretId: text('secret_id')
      .notNull()
      .references(() => clientSecrets.id),
    threshold: integer('threshold').notNull(), // days before expiry; -1 = the day after it expired
    claimedAt: integer('claimed_at').notNull(),
    sentAt: integer('sent_at'),
  },
  (t) => [primaryKey({ columns: [t.secretId, t.threshold] })],
);

export const signingKeys = sqliteTable('signing_keys', {
  kid: text('kid').primaryKey(),
  publicJwk: text('public_jwk').notNull(),
  privateKey: text('private_key').notNull(), // PKCS#8 PEM, AES-256-GCM under the master key
  createdAt: integer('created_at').notNull(),
  retiredAt: integer('retired_at'),
});

export const auditEvents = sqliteTable(
  'audit_events',
  {
    id: integer('id').primaryKey({ autoIncrement: true }),
    at: integer('at').notNull(),
    actorUserId: integer('actor_user_id'),
    actor: text('actor').notNull(), // email of a user, `client:<client_id>`, `cli`, `system`, `anonymous`
    organisationId: integer('organisation_id'),
    applicationId: integer('application_id'),
    action: text('action').notNull(),
    target: text('target'),
    details: text('details').notNull().default(sql`'{}'`),
    ip: text('ip'),
  },
  (t) => [
    index('audit_at').on(t.at),
    index('audit_app').on(t.applicationId, t.at),
    index('audit_org').on(t.organisationId, t.at),
    index('audit_action').on(t.action, t.at),
  ],
);

// Facts the server records for other processes of the same installation: `base_url`
// (the server's BASE_URL, so that mails sent by the CLI link to the right place).
export const settings = sqliteTable('settings', {
  key: text('key').primaryKey(),
  value: text('value').notNull(),
  updatedAt: integer('updated_at').notNull(),
});

// Public keys and certificates for private_key_jwt (RFC 7523): the second kind of
// credential beside client secrets. Only public material is stored; deletion is a
// tombstone, as for secrets.
export const clientKeys = sqliteTable(
  'client_keys',
  {
    id: text('id').primaryKey(),
    applicationId: integer('application_id')
      .notNull()
      .references(() => applications.id),
    name: text('name').notNull(),
    kind: text('kind').notNull(), // 'public-key' | 'certificate' | 'jwk'
    thumbprint: text('thumbprint').notNull(), // RFC 7638 for keys and JWKs, x5t#S256 for certificates
    keyType: text('key_type').notNull(), // 'RSA 2048', 'EC P-256', 'Ed25519'
    publicJwk: text('public_jwk').notNull(),
    createdAt: integer('created_at').notNull(),
    createdBy: integer('created_by').references(() => users.id),
    expiresOn: text('expires_on').notNull(),
    expiresAt: integer('expires_at').notNull(),
    lastUsedAt: integer('last_used_at'),
    deletedAt: integer('deleted_at'),
  },
  (t) => [index('client_keys_app').on(t.applicationId), index('client_keys_thumbprint').on(t.thumbprint), index('client_keys_expiry').on(t.expiresAt, t.id)],
);

// Federated credentials (issue 29): an outside issuer's token stands in for a secret when
// its iss, sub and aud are these exactly. No expiry; a yearly review date (review_on) with
// the usual reminders.
export const federatedCredentials = sqliteTable(
  'federated_credentials',
  {
    id: text('id').primaryKey(),
    applicationId: integer('application_id')
      .notNull()
      .references(() => applications.id),
    name: text('name').notNull(),
    issuer: text('issuer').notNull(),
    subject: text('subject').notNull(),
    audience: text('audience').notNull(),
    createdAt: integer('created_at').notNull(),
    createdBy: integer('created_by').references(() => users.id),
    reviewOn: text('review_on').notNull(), // YYYY-MM-DD in the portal's zone
    reviewAt: integer('review_at').notNull(), // the end of that day
    lastUsedAt: integer('last_used_at'),
    deletedAt: integer('deleted_at'),
    deletedBy: integer('deleted_by').references(() => users.id),
  },
  (t) => [index('federated_credentials_app').on(t.applicationId)],
);

// Client assertions already used (their jti), until they expire: a replay is refused.
// The token endpoint's process checks them in memory and appends here for its next start,
// so the rows are in insertion order with no unique key: a random primary key dirtied a
// page per row and cost 36 µs a row, an append costs 6. Expired rows go by the index.
export const usedAssertions = sqliteTable(
  'used_assertions',
  {
    key: text('key').notNull(), // client_id + ' ' + the jti's SHA-256
    expiresAt: integer('expires_at').notNull(),
  },
  (t) => [index('used_assertions_expiry').on(t.expiresAt)],
);

// Expiry reminders for keys and certificates, claimed like those for secrets.
export const keyRemindersSent = sqliteTable(
  'key_reminders_sent',
  {
    keyId: text('key_id')
      .notNull()
      .references(() => clientKeys.id),
    threshold: integer('threshold').notNull(),
    claimedAt: integer('claimed_at').notNull(),
    sentAt: integer('sent_at'),
  },
  (t) => [primaryKey({ columns: [t.keyId, t.threshold] })],
);

// Review reminders for federated credentials (issue 29), claimed like expiry reminders;
// a review ("Reviewed") clears them for the next year's.
export const federatedRemindersSent = sqliteTable(
  'federated_reminders_sent',
  {
    federatedId: text('federated_id')
      .notNull()
      .references(() => federatedCredentials.id),
    threshold: integer('threshold').notNull(),
    claimedAt: integer('claimed_at').notNull(),
    sentAt: integer('sent_at'),
  },
  (t) => [primaryKey({ columns: [t.federatedId, t.threshold] })],
);

// A JWKS URL an application registered instead of uploading keys: the partner rotates
// its keys there without visiting the portal.
export const clientJwksUrls = sqliteTable('client_jwks_urls', {
  applicationId: integer('application_id')
    .primaryKey()
    .references(() => applications.id),
  url: text('url').notNull(),
  createdAt: integer('created_at').notNull(),
  createdBy: integer('created_by').references(() => users.id),
  // How many signing keys it published when registered: counted against the ten keys an
  // application may have.
  keyCount: integer('key_count').notNull().default(0),
  // What the last successful fetch found (JSON: [{kid, keyType, thumbprint}]) and when, and
  // the last failed fetch's message and time: what the credentials page shows. Written at
  // registration and by the token endpoint's key cache (write-behind).
  keys: text('keys').notNull().default('[]'),
  fetchedAt: integer('fetched_at'),
  lastError: text('last_error'),
  lastErrorAt: integer('last_error_at'),
});

// What each credential is doing (issue 28): one row per credential per day (in the portal's
// zone), counted in memory by the token endpoint and added here by its write-behind flush.
// `kind` is secret, key, jwks (credential_id 'jwks', one per application) or later federated.
// Rows older than 90 days are pruned by the daily job.
export const credentialUsage = sqliteTable(
  'credential_usage',
  {
    applicationId: integer('application_id').notNull(),
    kind: text('kind').notNull(),
    credentialId: text('credential_id').notNull(),
    day: text('day').notNull(), // YYYY-MM-DD in PORTAL_TIMEZONE
    requests: integer('requests').notNull().default(0),
    refusals: integer('refusals').notNull().default(0),
    lastUsedAt: integer('last_used_at'),
    lastAddress: text('last_address'),
    lastClient: text('last_client'), // the User-Agent shortened, at most 64 characters
  },
  (t) => [primaryKey({ columns: [t.applicationId, t.kind, t.credentialId, t.day] }), index('credential_usage_day').on(t.day)],
);

// Refused token requests of an application, for its managers: the same credential, reason
// and address within an hour is one row with a count (a flood does not grow the table).
export const tokenRefusals = sqliteTable(
  'token_refusals',
  {
    id: integer('id').primaryKey({ autoIncrement: true }),
    applicationId: integer('application_id').notNull(),
    hour: integer('hour').notNull(), // the hour's start, epoch milliseconds
    kind: text('kind').notNull().default(''), // the credential's kind where it can be told, else ''
    credentialId: text('credential_id').notNull().default(''),
    credentialLabel: text('credential_label').notNull().default(''), // a secret's hint, a key's thumbprint
    reason: text('reason').notNull(),
    address: text('address').notNull(),
    client: text('client').notNull().default(''),
    count: integer('count').notNull(),
    firstAt: integer('first_at').notNull(),
    lastAt: integer('last_at').notNull(),
  },
  (t) => [uniqueIndex('token_refusals_key').on(t.applicationId, t.hour, t.credentialId, t.reason, t.address), index('token_refusals_app').on(t.applicationId, t.lastAt), index('token_refusals_hour').on(t.hour)],
);

// "Safe to delete" mails, one per credential, claimed like the expiry reminders.
export const safeToDeleteSent = sqliteTable(
  'safe_to_delete_sent',
  {
    kind: text('kind').notNull(),
    credentialId: text('credential_id').notNull(),
    claimedAt: integer('claimed_at').notNull(),
    sentAt: integer('sent_at'),
  },
  (t) => [primaryKey({ columns: [t.kind, t.credentialId] })],
);

// Mail that could not be delivered (server/mail/failures.ts): a background mail kept for
// retries with backoff (its message sealed under the master key: it may carry a setup or
// reset link), or an expiry reminder that failed (`reminder`: kind:id:threshold; the
// reminder job retries it). Listed in the console until accepted or forgotten.
export const mailFailures = sqliteTable(
  'mail_failures',
  {
    id: integer('id').primaryKey({ autoIncrement: true }),
    recipients: text('recipients').notNull(),
    subject: text('subject').notNull(),
    what: text('what').notNull(), // 'security notice', 'invitation mail', 'expiry reminder', ...
    message: text('message'), // AES-256-GCM of the MailMessage JSON; null for a reminder
    reminder: text('reminder'),
    attempts: integer('attempts').notNull(),
    lastError: text('last_error').notNull(),
    firstFailedAt: integer('first_failed_at').notNull(),
    lastAttemptAt: integer('last_attempt_at').notNull(),
    nextAttemptAt: integer('next_attempt_at'),
    givenUpAt: integer('given_up_at'),
  },
  (t) => [uniqueIndex('mail_failures_reminder').on(t.reminder), index('mail_failures_next').on(t.nextAttemptAt)],
);

// "Forgot your password?": single-use links valid 30 minutes, stored as SHA-256 hashes.
export const passwordResets = sqliteTable(
  'password_resets',
  {
    id: integer('id').primaryKey({ autoIncrement: true }),
    userId: integer('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    tokenHash: text('token_hash').notNull(),
    createdAt: integer('created_at').notNull(),
    expiresAt: integer('expires_at').notNull(),
    usedAt: integer('used_at'),
  },
  (t) => [uniqueIndex('password_resets_token_hash_unique').on(t.tokenHash), index('password_resets_user').on(t.userId, t.createdAt)],
);

// The same requests by hour, for "used N times in the last 24 hours": kept two days.
export const credentialUsageHours = sqliteTable(
  'credential_usage_hours',
  {
    applicationId: integer('application_id').notNull(),
    kind: text('kind').notNull(),
    credentialId: text('credential_id').notNull(),
    hour: integer('hour').notNull(), // the hour's start, epoch milliseconds
    requests: integer('requests').notNull(),
  },
  (t) => [primaryKey({ columns: [t.applicationId, t.kind, t.credentialId, t.hour] }), index('credential_usage_hours_hour').on(t.hour)],
);
