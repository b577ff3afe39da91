-- name: insert_rule(name, description, enabled, priority, action, conditions)^
-- Create a rule at revision 1. :name, :description, :enabled, :priority, :action, :conditions
INSERT INTO automation_rules (name, description, enabled, priority, action, conditions)
VALUES (:name, :description, :enabled, :priority, :action, :conditions)
RETURNING id, name, description, enabled, priority, action, conditions, revision,
          created_at, updated_at, deleted_at;

-- name: get_rule(id)^
-- One rule by id, deleted or not. :id
SELECT id, name, description, enabled, priority, action, conditions, revision,
       created_at, updated_at, deleted_at
FROM automation_rules
WHERE id = :id;

-- name: lock_rule(id)^
-- One rule by id, locked until the transaction ends (read before a change). :id
SELECT id, name, description, enabled, priority, action, conditions, revision,
       created_at, updated_at, deleted_at
FROM automation_rules
WHERE id = :id
FOR UPDATE;

-- name: list_rules(after_priority, after_id, include_deleted, limit)
-- Live rules in evaluation order (priority descending, id ascending) after a cursor.
-- :after_priority and :after_id (NULL from the start), :include_deleted, :limit
SELECT id, name, description, enabled, priority, action, conditions, revision,
       created_at, updated_at, deleted_at
FROM automation_rules
WHERE (:include_deleted OR deleted_at IS NULL)
  AND (:after_priority::int IS NULL
       OR priority < :after_priority::int
       OR (priority = :after_priority::int AND id > :after_id::int))
ORDER BY priority DESC, id
LIMIT :limit;

-- name: list_enabled_rules()
-- Every enabled live rule, in evaluation order (the input of a run or a preview).
SELECT id, name, description, enabled, priority, action, conditions, revision,
       created_at, updated_at, deleted_at
FROM automation_rules
WHERE enabled AND deleted_at IS NULL
ORDER BY priority DESC, id;

-- name: update_rule(id, name, description, enabled, priority, action, conditions)^
-- Replace a rule's body and raise its revision by one. :id, :name, :description, :enabled,
-- :priority, :action, :conditions
UPDATE automation_rules
SET name = :name, description = :description, enabled = :enabled, priority = :priority,
    action = :action, conditions = :conditions, revision = revision + 1, updated_at = now()
WHERE id = :id
RETURNING id, name, description, enabled, priority, action, conditions, revision,
          created_at, updated_at, deleted_at;

-- name: delete_rule(id)^
-- Soft-delete: the row stays so that audit entries keep their meaning. :id
UPDATE automation_rules
SET deleted_at = now(), enabled = false, revision = revision + 1, updated_at = now()
WHERE id = :id
RETURNING id, name, description, enabled, priority, action, conditions, revision,
          created_at, updated_at, deleted_at;

-- name: preview_rule()
-- For a rule preview, in one scan of the pending versions: where the candidate's tree
-- ({candidate}) is true, how many each position of the evaluation order decides
-- ({higher_rule}: the position of the first enabled rule before the candidate, $1, whose tree
-- is true; else the candidate's), and for the candidate's position the ids of the first 10.
-- Compiled values from $2 on.
WITH scored AS MATERIALIZED (
    SELECT v.id, COALESCE({higher_rule}, $1) AS position
    FROM versions v
    WHERE v.status = 'pending' AND ({candidate}) IS TRUE
)
SELECT counted.position, counted.versions,
       CASE WHEN counted.position = $1 THEN ARRAY(
           SELECT scored.id FROM scored WHERE scored.position = $1 ORDER BY scored.id LIMIT 10
       ) END AS sample_ids
FROM (SELECT position, count(*) AS versions FROM scored GROUP BY position) AS counted;

-- name: get_preview_sample(ids)
-- The versions of a preview's sample, by id. :ids
SELECT v.id, v.entity_type, v.entity_id, v.version, v.data::text AS data_json, v.confidence, v.similarity,
       v.source, v.status, v.decided_at, v.decided_by, v.rule_id, v.rule_revision, v.run_id,
       v.reason, v.created_at
FROM versions v
WHERE v.id = ANY(:ids::bigint[])
ORDER BY v.id;

-- name: get_live_rule_by_name(name)^
-- The live (not deleted) rule with this name, if any.
SELECT id, name, description, enabled, priority, action, conditions, revision,
       created_at, updated_at, deleted_at
FROM automation_rules
WHERE name = :name AND deleted_at IS NULL;
