-- The demo database: a small shop with the problems maintenance exists to find and fix.
CREATE DATABASE IF NOT EXISTS `demo_shop` DEFAULT CHARSET utf8mb4;

-- Duplicate and redundant indexes: idx_customer_dup repeats idx_customer exactly,
-- idx_customer is a left prefix of idx_customer_created.
CREATE TABLE `demo_shop`.`orders` (
  `id` INT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  `customer_id` INT UNSIGNED NOT NULL,
  `status` ENUM('new','paid','shipped','cancelled') NOT NULL,
  `total_cents` INT NOT NULL,
  `created_at` DATETIME NOT NULL,
  KEY `idx_customer` (`customer_id`),
  KEY `idx_customer_dup` (`customer_id`),
  KEY `idx_customer_created` (`customer_id`, `created_at`),
  KEY `idx_status` (`status`)
) ENGINE=InnoDB;

-- No primary key at all.
CREATE TABLE `demo_shop`.`audit_events` (
  `happened_at` DATETIME NOT NULL,
  `actor` VARCHAR(64) NOT NULL,
  `action` VARCHAR(64) NOT NULL
) ENGINE=InnoDB;

-- The spec's cleanup rules: expired sessions (delete) and old admin log entries (archive).
CREATE TABLE `demo_shop`.`django_session` (
  `session_key` VARCHAR(40) NOT NULL PRIMARY KEY,
  `session_data` LONGTEXT NOT NULL,
  `expire_date` DATETIME(6) NOT NULL,
  KEY `django_session_expire_date` (`expire_date`)
) ENGINE=InnoDB;

CREATE TABLE `demo_shop`.`django_admin_log` (
  `id` INT NOT NULL AUTO_INCREMENT PRIMARY KEY,
  `action_time` DATETIME(6) NOT NULL,
  `user_id` INT NOT NULL,
  `object_repr` VARCHAR(200) NOT NULL,
  `change_message` LONGTEXT NOT NULL,
  KEY `django_admin_log_action_time` (`action_time`)
) ENGINE=InnoDB;

-- Fragmented: half its rows are deleted after loading.
CREATE TABLE `demo_shop`.`page_views` (
  `id` BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  `url` VARCHAR(255) NOT NULL,
  `payload` VARCHAR(600) NOT NULL,
  `viewed_at` DATETIME NOT NULL
) ENGINE=InnoDB;

-- An auto-increment key close to its type's maximum (TINYINT UNSIGNED: 255).
CREATE TABLE `demo_shop`.`coupon_kinds` (
  `id` TINYINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  `name` VARCHAR(40) NOT NULL
) ENGINE=InnoDB AUTO_INCREMENT=240;
INSERT INTO `demo_shop`.`coupon_kinds` (`name`) VALUES ('spring'), ('summer');
