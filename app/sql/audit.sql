-- name: insert_audit_entry(actor, action, version_id, rule_id, rule_revision, run_id, details)^
-- Append one audit entry. :actor, :action, :version_id, :rule_id, :rule_revision, :run_id, :details
INSERT INTO audit_log (actor, action, version_id, rule_id, rule_revision, run_id, details)
VALUES (:actor, :action, :version_id, :rule_id, :rule_revision, :run_id, :details)
RETURNING id, at, actor, action, version_id, rule_id, rule_revision, run_id, details;

-- name: list_audit_entries(version_id, rule_id, run_id, actor, action, since, until, before_id, limit)
-- Audit entries newest first before a cursor (:before_id NULL for the first page), each filter
-- NULL for any; :since inclusive, :until exclusive.
SELECT id, at, actor, action, version_id, rule_id, rule_revision, run_id, details
FROM audit_log
WHERE (:before_id::int8 IS NULL OR id < :before_id::int8)
  AND (:version_id::int8 IS NULL OR version_id = :version_id::int8)
  AND (:rule_id::int4 IS NULL OR rule_id = :rule_id::int4)
  AND (:run_id::uuid IS NULL OR run_id = :run_id::uuid)
  AND (:actor::text IS NULL OR actor = :actor::text)
  AND (:action::text IS NULL OR action = :action::text)
  AND (:since::timestamptz IS NULL OR at >= :since::timestamptz)
  AND (:until::timestamptz IS NULL OR at < :until::timestamptz)
ORDER BY id DESC
LIMIT :limit;

-- name: allow_audit_purge(before)$
-- Let this transaction (only) delete audit entries older than :before: the one exception the
-- append-only trigger makes, for the retention purge.
SELECT set_config('tasktracker.audit_purge_before', :before::timestamptz::text, true);

-- name: purge_audit_entries(before)$
-- The retention purge (after allow_audit_purge in the same transaction): entries older than
-- :before go. Answers how many.
WITH purged AS (
    DELETE FROM audit_log WHERE at < :before::timestamptz RETURNING 1
)
SELECT count(*) FROM purged;
