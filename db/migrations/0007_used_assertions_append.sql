PRAGMA foreign_keys=OFF;--> statement-breakpoint
CREATE TABLE `__new_used_assertions` (
	`key` text NOT NULL,
	`expires_at` integer NOT NULL
);
--> statement-breakpoint
INSERT INTO `__new_used_assertions`("key", "expires_at") SELECT "key", "expires_at" FROM `used_assertions`;--> statement-breakpoint
DROP TABLE `used_assertions`;--> statement-breakpoint
ALTER TABLE `__new_used_assertions` RENAME TO `used_assertions`;--> statement-breakpoint
PRAGMA foreign_keys=ON;--> statement-breakpoint
CREATE INDEX `used_assertions_expiry` ON `used_assertions` (`expires_at`);