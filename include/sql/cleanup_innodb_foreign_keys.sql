-- Every foreign key InnoDB knows, whatever the account may see in information_schema (which
-- hides tables it has no privilege on). Names are in InnoDB's file-name form: 'schema/table'.
-- TYPE is a bit mask: 1 ON DELETE CASCADE, 2 ON DELETE SET NULL, 16 ON DELETE NO ACTION.
-- Placeholder: {innodb_foreign} (INNODB_SYS_FOREIGN, or INNODB_FOREIGN on MySQL 8.0+).
SELECT ID AS id, FOR_NAME AS child, REF_NAME AS parent, TYPE AS type
  FROM information_schema.{innodb_foreign}
