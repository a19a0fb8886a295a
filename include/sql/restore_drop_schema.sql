-- Drop one schema a restore test created.
DROP DATABASE IF EXISTS {schema}
