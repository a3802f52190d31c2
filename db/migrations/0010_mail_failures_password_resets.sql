CREATE TABLE `mail_failures` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`recipients` text NOT NULL,
	`subject` text NOT NULL,
	`what` text NOT NULL,
	`message` text,
	`reminder` text,
	`attempts` integer NOT NULL,
	`last_error` text NOT NULL,
	`first_failed_at` integer NOT NULL,
	`last_attempt_at` integer NOT NULL,
	`next_attempt_at` integer,
	`given_up_at` integer
);
--> statement-breakpoint
CREATE UNIQUE INDEX `mail_failures_reminder` ON `mail_failures` (`reminder`);--> statement-breakpoint
CREATE INDEX `mail_failures_next` ON `mail_failures` (`next_attempt_at`);--> statement-breakpoint
CREATE TABLE `password_resets` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`user_id` integer NOT NULL,
	`token_hash` text NOT NULL,
	`created_at` integer NOT NULL,
	`expires_at` integer NOT NULL,
	`used_at` integer,
	FOREIGN KEY (`user_id`) REFERENCES `users`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE UNIQUE INDEX `password_resets_token_hash_unique` ON `password_resets` (`token_hash`);--> statement-breakpoint
CREATE INDEX `password_resets_user` ON `password_resets` (`user_id`,`created_at`);