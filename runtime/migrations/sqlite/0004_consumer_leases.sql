-- Which runtime runs each consumer, until when: one process at a time, and another takes
-- over once the holder stops renewing (it died).
CREATE TABLE herald_consumer_leases (
    consumer   TEXT    PRIMARY KEY,
    owner      BLOB    NOT NULL,
    expires_at INTEGER NOT NULL -- microseconds since the Unix epoch
) WITHOUT ROWID;
