-- Keyed by (saga_id, step) alone, without a rowid: one b-tree fewer to write per step.
CREATE TABLE herald_saga_steps_by_key (
    saga_id    BLOB    NOT NULL,
    command_id BLOB    NOT NULL,
    step       INTEGER NOT NULL,
    name       TEXT    NOT NULL,
    payload    TEXT    NOT NULL,
    route      TEXT    NOT NULL,
    actor      TEXT    NOT NULL,
    output     TEXT,
    status     TEXT    NOT NULL,
    owner      BLOB    NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (saga_id, step)
) WITHOUT ROWID;
INSERT INTO herald_saga_steps_by_key SELECT saga_id, command_id, step, name, payload, route,
    actor, output, status, owner, updated_at FROM herald_saga_steps;
DROP TABLE herald_saga_steps;
ALTER TABLE herald_saga_steps_by_key RENAME TO herald_saga_steps;
CREATE INDEX herald_saga_steps_unsettled ON herald_saga_steps (status)
    WHERE status IN ('started', 'completed');
