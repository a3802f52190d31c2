CREATE INDEX `audit_action` ON `audit_events` (`action`,`at`);--> statement-breakpoint
CREATE INDEX `client_secrets_expiry` ON `client_secrets` (`expires_at`,`id`);