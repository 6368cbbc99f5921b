-- An archive of events an active store has handed over: each keeps the place it had in
-- that store's global order (both parts), so that reading the archive and then the
-- active store is the global order unchanged.

CREATE TABLE herald_archive (
    tx_order       INTEGER NOT NULL,
    position       INTEGER NOT NULL,
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
    PRIMARY KEY (tx_order, position),
    UNIQUE (tenant, stream_type, stream_id, version)
);
