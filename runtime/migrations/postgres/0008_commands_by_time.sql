-- The trace page lists the newest commands first, a page at a time after the last one
-- it showed (`recorded_at, id`): without an index each page would sort the whole table.
CREATE INDEX herald_commands_by_time ON herald_commands (recorded_at, id);
