-- Consumers of the global order: a checkpoint each, and the events they parked. Both
-- are written in the consumer's transaction, with what its handler writes.

CREATE TABLE herald_checkpoints (
    consumer   TEXT    PRIMARY KEY,
    position   INTEGER NOT NULL,
    updated_at INTEGER NOT NULL -- microseconds since the Unix epoch
) WITHOUT ROWID;

CREATE TABLE herald_dead_letters (
    consumer        TEXT    NOT NULL,
    event_id        BLOB    NOT NULL,
    position        INTEGER NOT NULL,
    tenant          TEXT    NOT NULL,
    stream_type     TEXT    NOT NULL,
    stream_id       TEXT    NOT NULL,
    route           TEXT    NOT NULL,
    error           TEXT    NOT NULL,
    attempts        INTEGER NOT NULL,
    behind          BLOB,             -- the parked event of the same stream it waits behind
    first_failed_at INTEGER NOT NULL,
    last_failed_at  INTEGER NOT NULL,
    PRIMARY KEY (consumer, event_id)
);
