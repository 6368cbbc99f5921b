-- The saga log, in a file of its own beside the events' (a second connection to the
-- events' file would wait for the write lock the command holds). Times are
-- microseconds since the Unix epoch.

CREATE TABLE herald_saga_steps (
    saga_id    BLOB    NOT NULL, -- one run of a command's saga
    command_id BLOB    NOT NULL,
    step       INTEGER NOT NULL,
    name       TEXT    NOT NULL,
    payload    TEXT    NOT NULL,
    route      TEXT    NOT NULL,
    actor      TEXT    NOT NULL,
    output     TEXT,
    status     TEXT    NOT NULL, -- started, completed, done, reversed, stuck
    owner      BLOB    NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (saga_id, step)
);

CREATE INDEX herald_saga_steps_unsettled ON herald_saga_steps (status)
    WHERE status IN ('started', 'completed');

CREATE TABLE herald_saga_owners (
    owner     BLOB    PRIMARY KEY,
    heartbeat INTEGER NOT NULL
);
