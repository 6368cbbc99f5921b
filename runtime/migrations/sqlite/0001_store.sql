-- Herald's event store on SQLite. Positions are assigned in commit order: writers take
-- the write lock up front (BEGIN IMMEDIATE), one at a time.

CREATE TABLE herald_events (
    position       INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id       BLOB    NOT NULL UNIQUE,
    tenant         TEXT    NOT NULL,
    stream_type    TEXT    NOT NULL,
    stream_id      TEXT    NOT NULL,
    version        INTEGER NOT NULL,
    route          TEXT    NOT NULL,
    name           TEXT    NOT NULL,
    schema_version INTEGER NOT NULL,
    payload        TEXT    NOT NULL,
    metadata       TEXT    NOT NULL,
    recorded_at    INTEGER NOT NULL, -- microseconds since the Unix epoch
    UNIQUE (tenant, stream_type, stream_id, version)
);

CREATE TABLE herald_snapshots (
    tenant        TEXT    NOT NULL,
    stream_type   TEXT    NOT NULL,
    stream_id     TEXT    NOT NULL,
    version       INTEGER NOT NULL,
    state_version INTEGER NOT NULL,
    state         TEXT    NOT NULL,
    taken_at      INTEGER NOT NULL,
    PRIMARY KEY (tenant, stream_type, stream_id)
);

-- Keyed by the command id alone, without a rowid: one b-tree to write per command.
CREATE TABLE herald_commands (
    id           BLOB    PRIMARY KEY,
    payload_hash BLOB    NOT NULL,
    result       TEXT,
    recorded_at  INTEGER NOT NULL
) WITHOUT ROWID;
