-- Commit notices leave the commit path. The trigger of 0003 ran `pg_notify` in every
-- writing transaction, and PostgreSQL serializes the commits of transactions that
-- notify (a lock taken at commit, for the whole server): with it, concurrent writers
-- committed one at a time. Each process's store now sends the notice itself, after its
-- commits, from a task of its own that folds the commits made meanwhile into one notice
-- (same channel, `herald_commits`, same payload, the schema).
DROP TRIGGER IF EXISTS herald_events_committed ON herald_events;
DROP FUNCTION IF EXISTS herald_notify_commit();
-- (A process of an earlier release still listens on the same channel; its own commits
-- no longer notify, so consumers elsewhere find them by polling until it is upgraded.)
