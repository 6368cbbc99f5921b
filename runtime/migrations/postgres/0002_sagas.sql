-- The saga log: written by connections of their own, outside the commands'
-- transactions. Times are microseconds since the Unix epoch.

CREATE TABLE herald_saga_steps (
    saga_id    UUID    NOT NULL, -- one run of a command's saga
    command_id UUID    NOT NULL,
    step       BIGINT  NOT NULL,
    name       TEXT    NOT NULL,
    payload    JSONB   NOT NULL,
    route      TEXT    NOT NULL,
    actor      JSONB   NOT NULL,
    output     JSONB,
    status     TEXT    NOT NULL, -- started, completed, done, reversed, stuck
    owner      UUID    NOT NULL,
    updated_at BIGINT  NOT NULL,
    PRIMARY KEY (saga_id, step)
);

CREATE INDEX herald_saga_steps_unsettled ON herald_saga_steps (status)
    WHERE status IN ('started', 'completed');

CREATE TABLE herald_saga_owners (
    owner     UUID   PRIMARY KEY,
    heartbeat BIGINT NOT NULL
);
