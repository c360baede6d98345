-- The IANA time zone a user chose in the web console (`Europe/Berlin`); NULL: the deployment's.
ALTER TABLE users ADD COLUMN time_zone TEXT;
