CREATE TABLE `credential_usage_hours` (
	`application_id` integer NOT NULL,
	`kind` text NOT NULL,
	`credential_id` text NOT NULL,
	`hour` integer NOT NULL,
	`requests` integer NOT NULL,
	PRIMARY KEY(`application_id`, `kind`, `credential_id`, `hour`)
);
--> statement-breakpoint
CREATE INDEX `credential_usage_hours_hour` ON `credential_usage_hours` (`hour`);