-- Everything `/updates` decides from is stored per device, so the fleet preview can answer
-- "what would each device get after this change" with the same decision function: the
-- channel the device asked for (`defaultChannel` of its capacitor config; NULL: none) and
-- whether it runs the store-shipped bundle. Devices written before this migration have NULL /
-- 0 here until their next check (the preview then assumes they asked for no channel).
ALTER TABLE devices ADD COLUMN requested_channel TEXT;
ALTER TABLE devices ADD COLUMN on_builtin INTEGER NOT NULL DEFAULT 0;
