-- Which runtime runs each consumer, until when (by the database's clock): one process at
-- a time, and another takes over once the holder stops renewing (it died).
CREATE TABLE herald_consumer_leases (
    consumer   TEXT        PRIMARY KEY,
    owner      UUID        NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL
);
