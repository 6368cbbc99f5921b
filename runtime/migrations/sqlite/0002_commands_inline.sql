-- A command's result (with its trace) is a few kilobytes: a table keyed by rowid keeps it
-- in the leaf page, where a WITHOUT ROWID table spills it onto a fresh overflow page per
-- command (and grows the file on every commit).
CREATE TABLE herald_commands_inline (
    id           BLOB    NOT NULL UNIQUE,
    payload_hash BLOB    NOT NULL,
    result       TEXT,
    recorded_at  INTEGER NOT NULL
);
INSERT INTO herald_commands_inline (id, payload_hash, result, recorded_at)
    SELECT id, payload_hash, result, recorded_at FROM herald_commands;
DROP TABLE herald_commands;
ALTER TABLE herald_commands_inline RENAME TO herald_commands;
