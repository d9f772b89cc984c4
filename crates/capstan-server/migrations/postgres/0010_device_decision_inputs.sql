-- The PostgreSQL twin of SQLite migration 0010 (see there for the why).
ALTER TABLE devices ADD COLUMN requested_channel TEXT COLLATE "C";
ALTER TABLE devices ADD COLUMN on_builtin BOOLEAN NOT NULL DEFAULT false;
