-- name: compact_summaries()$
-- Fold the summaries' delta rows into one row per key (the owner's function, migration 0011):
-- answers how many rows it folded (0 when another compaction runs).
SELECT folded FROM summaries_compact();
