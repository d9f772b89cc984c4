-- Issue 16/17: device-state writes and limits on hostile traffic.
--
-- Most devices have no custom id: keeping them out of the custom-id index saves one B-tree
-- insert per new device (the device-state flush is most of the server's work under load).
-- Searches by custom id say `custom_id <> ''` so that this partial index still serves them.
DROP INDEX devices_by_custom_id;
CREATE INDEX devices_by_custom_id ON devices (app_id, custom_id) WHERE custom_id <> '';
