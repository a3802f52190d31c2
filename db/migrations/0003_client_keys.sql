CREATE TABLE `client_keys` (
	`id` text PRIMARY KEY NOT NULL,
	`application_id` integer NOT NULL,
	`name` text NOT NULL,
	`kind` text NOT NULL,
	`thumbprint` text NOT NULL,
	`key_type` text NOT NULL,
	`public_jwk` text NOT NULL,
	`created_at` integer NOT NULL,
	`created_by` integer,
	`expires_on` text NOT NULL,
	`expires_at` integer NOT NULL,
	`last_used_at` integer,
	`deleted_at` integer,
	FOREIGN KEY (`application_id`) REFERENCES `applications`(`id`) ON UPDATE no action ON DELETE no action,
	FOREIGN KEY (`created_by`) REFERENCES `users`(`id`) ON UPDATE no action ON DELETE no action
);
--> statement-breakpoint
CREATE INDEX `client_keys_app` ON `client_keys` (`application_id`);--> statement-breakpoint
CREATE INDEX `client_keys_thumbprint` ON `client_keys` (`thumbprint`);--> statement-breakpoint
CREATE TABLE `used_assertions` (
	`key` text PRIMARY KEY NOT NULL,
	`expires_at` integer NOT NULL
);
