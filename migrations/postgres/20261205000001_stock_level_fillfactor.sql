-- Every sync rewrites every level it sees (its quantity, and updated_at: when it was last
-- observed), one transaction per adapter page. With heap pages packed full, each new version of a
-- row lands on another page and takes a new entry in both of the table's indexes, which then
-- carry dead entries until vacuumed. With half of each page left free, the new version of every
-- row on a page fits beside the old one: a heap-only (HOT) update, no index entry, and the old
-- versions are pruned from the page when it is next written. Half, not less: one transaction
-- rewrites every row of a page, and until it commits the old versions cannot be pruned.
-- Pages written before this migration take the setting as they are rewritten.
-- SQLite has no counterpart (it rewrites a row in place).
ALTER TABLE stock_level SET (fillfactor = 50);
