-- Remote consumers (registered reliable consumers that poll over the network): a
-- registration each, by tenant and name. Each one's checkpoint is a row of
-- herald_checkpoints under `remote:<tenant>:<name>`, written with the registration, so
-- that archiving counts it from the moment it is registered.
CREATE TABLE herald_remote_consumers (
    tenant        TEXT    NOT NULL,
    name          TEXT    NOT NULL,
    patterns      TEXT    NOT NULL, -- its route patterns, a JSON array of text
    registered_at INTEGER NOT NULL, -- microseconds since the Unix epoch
    acked_at      INTEGER,          -- its last acknowledgement that moved the checkpoint
    PRIMARY KEY (tenant, name)
) WITHOUT ROWID;
