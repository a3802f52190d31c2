CREATE TABLE `federated_reminders_sent` (
	`federated_id` text NOT NULL,
	`threshold` integer NOT NULL,
	`claimed_at` integer NOT NULL,
	`sent_at` integer,
	PRIMARY KEY(`federated_id`, `threshold`),
	FOREIGN KEY (`federated_id`) REFERENCES `federated_credentials`(`id`) ON UPDATE no action ON DELETE no action
);
