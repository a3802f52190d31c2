CREATE TABLE `federated_credentials` (
	`id` text PRIMARY KEY NOT NULL,
	`application_id` integer NOT NULL,
	`name` text NOT NULL,
	`issuer` text NOT NULL,
	`subject` text NOT NULL,
	`audience` text NOT NULL,
	`created_at` integer NOT NULL,
	`created_by` integer,
	`review_on` text NOT NULL,
	`review_at` integer NOT NULL,
	`last_used_at` integer,
	`deleted_at` integer,
	`deleted_by` integer,
	FOREIGN KEY (`application_id`) REFERENCES `applications`(`id`) ON UPDATE no action ON DELETE no action,
	FOREIGN KEY (`created_by`) REFERENCES `users`(`id`) ON UPDATE no action ON DELETE no action,
	FOREIGN KEY (`deleted_by`) REFERENCES `users`(`id`) ON UPDATE no action ON DELETE no action
);
--> statement-breakpoint
CREATE INDEX `federated_credentials_app` ON `federated_credentials` (`application_id`);