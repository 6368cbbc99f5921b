-- Herald's event store on PostgreSQL. Writers commit in any order, so readers of the
-- global order read by (tx_order, position) and only below the oldest running
-- transaction (see `read_all`): an event that commits late with a small position is
-- never skipped. `tx_order` is the writing transaction's id, raised to that of the
-- stream's previous event when that is larger, so a stream stays in version order.

CREATE TABLE herald_events (
    position       BIGINT      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tx_order       BIGINT      NOT NULL,
    event_id       UUID        NOT NULL UNIQUE,
    tenant         TEXT        NOT NULL,
    stream_type    TEXT        NOT NULL,
    stream_id      TEXT        NOT NULL,
    version        BIGINT      NOT NULL,
    route          TEXT        NOT NULL,
    name           TEXT        NOT NULL,
    schema_version INTEGER     NOT NULL,
    payload        JSONB       NOT NULL,
    metadata       JSONB       NOT NULL,
    recorded_at    TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp(),
    UNIQUE (tenant, stream_type, stream_id, version)
);

CREATE INDEX herald_events_global_order ON herald_events (tx_order, position);

CREATE TABLE herald_snapshots (
    tenant        TEXT        NOT NULL,
    stream_type   TEXT        NOT NULL,
    stream_id     TEXT        NOT NULL,
    version       BIGINT      NOT NULL,
    state_version INTEGER     NOT NULL,
    state         JSONB       NOT NULL,
    taken_at      TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (tenant, stream_type, stream_id)
);

CREATE TABLE herald_commands (
    id           UUID        PRIMARY KEY,
    payload_hash BYTEA       NOT NULL,
    result       JSONB,
    recorded_at  TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp()
);
