-- Positions are `(tx_order, position)` in every store; SQLite commits in order, so its
-- `tx_order` is always 0. (Its events keep `position` alone: the rowid orders them.)
ALTER TABLE herald_checkpoints ADD COLUMN tx_order INTEGER NOT NULL DEFAULT 0;
ALTER TABLE herald_dead_letters ADD COLUMN tx_order INTEGER NOT NULL DEFAULT 0;
