-- Configuration revisions: every change to what an app's devices are answered from (the app,
-- its channels, bundles and overrides) increases apps.config_revision, in the transaction of
-- the change. Replicas sharing a database poll these numbers (one small query) to reload an
-- app's cached configuration when, and only when, it changed (see src/cache.rs). Triggers keep
-- the rule in one place, whichever code path writes; the app row itself is bumped by its
-- UPDATE statement (store::sql::UPDATE_APP).
ALTER TABLE apps ADD COLUMN config_revision INTEGER NOT NULL DEFAULT 0;

CREATE TRIGGER channels_insert_revision AFTER INSERT ON channels
BEGIN UPDATE apps SET config_revision = config_revision + 1 WHERE id = NEW.app_id; END;
CREATE TRIGGER channels_update_revision AFTER UPDATE ON channels
BEGIN UPDATE apps SET config_revision = config_revision + 1 WHERE id = NEW.app_id; END;
CREATE TRIGGER channels_delete_revision AFTER DELETE ON channels
BEGIN UPDATE apps SET config_revision = config_revision + 1 WHERE id = OLD.app_id; END;

CREATE TRIGGER bundles_insert_revision AFTER INSERT ON bundles
BEGIN UPDATE apps SET config_revision = config_revision + 1 WHERE id = NEW.app_id; END;
CREATE TRIGGER bundles_update_revision AFTER UPDATE ON bundles
BEGIN UPDATE apps SET config_revision = config_revision + 1 WHERE id = NEW.app_id; END;
CREATE TRIGGER bundles_delete_revision AFTER DELETE ON bundles
BEGIN UPDATE apps SET config_revision = config_revision + 1 WHERE id = OLD.app_id; END;

CREATE TRIGGER overrides_insert_revision AFTER INSERT ON overrides
BEGIN UPDATE apps SET config_revision = config_revision + 1 WHERE id = NEW.app_id; END;
CREATE TRIGGER overrides_update_revision AFTER UPDATE ON overrides
BEGIN UPDATE apps SET config_revision = config_revision + 1 WHERE id = NEW.app_id; END;
CREATE TRIGGER overrides_delete_revision AFTER DELETE ON overrides
BEGIN UPDATE apps SET config_revision = config_revision + 1 WHERE id = OLD.app_id; END;
