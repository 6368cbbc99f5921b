-- A dead letter keeps its event (JSON), so that it can be retried where the store does
-- not hold the event (a remote worker's store, whose events come from NATS). Older
-- letters have none: their events are read from the events table.
ALTER TABLE herald_dead_letters ADD COLUMN event TEXT;
