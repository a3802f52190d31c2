ALTER TABLE `client_jwks_urls` ADD `keys` text DEFAULT '[]' NOT NULL;--> statement-breakpoint
ALTER TABLE `client_jwks_urls` ADD `fetched_at` integer;--> statement-breakpoint
ALTER TABLE `client_jwks_urls` ADD `last_error` text;--> statement-breakpoint
ALTER TABLE `client_jwks_urls` ADD `last_error_at` integer;