CREATE TABLE `credential_usage` (
	`application_id` integer NOT NULL,
	`kind` text NOT NULL,
	`credential_id` text NOT NULL,
	`day` text NOT NULL,
	`requests` integer DEFAULT 0 NOT NULL,
	`refusals` integer DEFAULT 0 NOT NULL,
	`last_used_at` integer,
	`last_address` text,
	`last_client` text,
	PRIMARY KEY(`application_id`, `kind`, `credential_id`, `day`)
);
--> statement-breakpoint
CREATE INDEX `credential_usage_day` ON `credential_usage` (`day`);--> statement-breakpoint
CREATE TABLE `safe_to_delete_sent` (
	`kind` text NOT NULL,
	`credential_id` text NOT NULL,
	`claimed_at` integer NOT NULL,
	`sent_at` integer,
	PRIMARY KEY(`kind`, `credential_id`)
);
--> statement-breakpoint
CREATE TABLE `token_refusals` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`application_id` integer NOT NULL,
	`hour` integer NOT NULL,
	`kind` text DEFAULT '' NOT NULL,
	`credential_id` text DEFAULT '' NOT NULL,
	`credential_label` text DEFAULT '' NOT NULL,
	`reason` text NOT NULL,
	`address` text NOT NULL,
	`client` text DEFAULT '' NOT NULL,
	`count` integer NOT NULL,
	`first_at` integer NOT NULL,
	`last_at` integer NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX `token_refusals_key` ON `token_refusals` (`application_id`,`hour`,`credential_id`,`reason`,`address`);--> statement-breakpoint
CREATE INDEX `token_refusals_app` ON `token_refusals` (`application_id`,`last_at`);--> statement-breakpoint
CREATE INDEX `token_refusals_hour` ON `token_refusals` (`hour`);