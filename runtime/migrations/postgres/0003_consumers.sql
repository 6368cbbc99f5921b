-- Consumers of the global order: a checkpoint each, and the events they parked. Both
-- are written in the consumer's transaction, with what its handler writes; a worker
-- locks its checkpoint row for the batch, which fences out any other worker.

CREATE TABLE herald_checkpoints (
    consumer   TEXT        PRIMARY KEY,
    tx_order   BIGINT      NOT NULL,
    position   BIGINT      NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp()
);

CREATE TABLE herald_dead_letters (
    consumer        TEXT        NOT NULL,
    event_id        UUID        NOT NULL,
    tx_order        BIGINT      NOT NULL,
    position        BIGINT      NOT NULL,
    tenant          TEXT        NOT NULL,
    stream_type     TEXT        NOT NULL,
    stream_id       TEXT        NOT NULL,
    route           TEXT        NOT NULL,
    error           TEXT        NOT NULL,
    attempts        INTEGER     NOT NULL,
    behind          UUID,       -- the parked event of the same stream it waits behind
    first_failed_at TIMESTAMPTZ NOT NULL,
    last_failed_at  TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (consumer, event_id)
);

-- Wakes the consumers of every process when events commit (NOTIFY is delivered at
-- commit, once per transaction and payload); the payload is the schema, so stores in
-- other schemas of the database can tell it is not theirs.
CREATE FUNCTION herald_notify_commit() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('herald_commits', TG_TABLE_SCHEMA);
    RETURN NULL;
END
$$;

CREATE TRIGGER herald_events_committed AFTER INSERT ON herald_events
    FOR EACH STATEMENT EXECUTE FUNCTION herald_notify_commit();
