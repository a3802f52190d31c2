CREATE TABLE `key_reminders_sent` (
	`key_id` text NOT NULL,
	`threshold` integer NOT NULL,
	`claimed_at` integer NOT NULL,
	`sent_at` integer,
	PRIMARY KEY(`key_id`, `threshold`),
	FOREIGN KEY (`key_id`) REFERENCES `client_keys`(`id`) ON UPDATE no action ON DELETE no action
);
