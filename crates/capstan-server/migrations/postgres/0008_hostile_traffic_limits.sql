-- The PostgreSQL twin of SQLite migration 0008 (see there for the why): devices without a
-- custom id stay out of the custom-id index; searches say `custom_id <> ''` to use it.
DROP INDEX devices_by_custom_id;
CREATE INDEX devices_by_custom_id ON devices (app_id, custom_id) WHERE custom_id <> '';
