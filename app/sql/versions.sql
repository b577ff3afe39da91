-- name: insert_versions(entity_types, entity_ids, datas, confidences, similarities, sources)
-- Insert versions in one statement, numbered per (entity_type, entity_id) from 1; the counter
-- row lock serialises concurrent submissions for one entity. Returns ids in input order.
-- :entity_types, :entity_ids, :datas (JSON text), :confidences, :similarities, :sources: parallel arrays.
WITH items AS (
    SELECT *
    FROM unnest(:entity_types::text[], :entity_ids::text[], :datas::text[],
                :confidences::float8[], :similarities::float8[], :sources::text[])
         WITH ORDINALITY AS t(entity_type, entity_id, data, confidence, similarity, source, ord)
), counts AS (
    SELECT entity_type, entity_id, count(*)::int AS n
    FROM items
    GROUP BY entity_type, entity_id
), reserved AS (
    INSERT INTO version_counters AS c (entity_type, entity_id, last_version)
    SELECT entity_type, entity_id, n FROM counts ORDER BY entity_type, entity_id
    ON CONFLICT (entity_type, entity_id)
        DO UPDATE SET last_version = c.last_version + EXCLUDED.last_version
    RETURNING c.entity_type, c.entity_id, c.last_version
), numbered AS (
    SELECT i.*,
           r.last_version - n.n
             + row_number() OVER (PARTITION BY i.entity_type, i.entity_id ORDER BY i.ord) AS version
    FROM items i
    JOIN counts n USING (entity_type, entity_id)
    JOIN reserved r USING (entity_type, entity_id)
), inserted AS (
    INSERT INTO versions (entity_type, entity_id, version, data, confidence, similarity, source)
    SELECT entity_type, entity_id, version, data::jsonb, confidence, similarity, source
    FROM numbered
    ORDER BY ord
    RETURNING id, entity_type, entity_id, version
)
SELECT inserted.id
FROM inserted
JOIN numbered USING (entity_type, entity_id, version)
ORDER BY numbered.ord;

-- name: get_version(id)^
-- One version by id. :id
SELECT id, entity_type, entity_id, version, data::text AS data_json, confidence, similarity, source, status,
       decided_at, decided_by, rule_id, rule_revision, run_id, reason, created_at
FROM versions
WHERE id = :id;

-- name: list_versions(status, entity_type, entity_id, after_id, limit)
-- Versions in id order after a cursor, optionally filtered. :status, :entity_type, :entity_id
-- (each NULL for any), :after_id, :limit
SELECT id, entity_type, entity_id, version, data::text AS data_json, confidence, similarity, source, status,
       decided_at, decided_by, rule_id, rule_revision, run_id, reason, created_at
FROM versions
WHERE id > :after_id
  AND (:status::text IS NULL OR status = :status::text)
  AND (:entity_type::text IS NULL OR entity_type = :entity_type::text)
  AND (:entity_id::text IS NULL OR entity_id = :entity_id::text)
ORDER BY id
LIMIT :limit;

-- name: decide_versions_by_person(ids, status, from_statuses, actor, action, reason)
-- A person's decision, in one statement: each of :ids whose status is still one of
-- :from_statuses becomes :status, with its audit row (actor :actor, action :action). A
-- version a run decides at the same moment is decided by whichever commits first; the other
-- finds it no longer in a status it may change and leaves it. Answers the decided versions.
WITH previous AS (
    SELECT id, status FROM versions
    WHERE id = ANY(:ids::int8[]) AND status = ANY(:from_statuses::text[])
    FOR UPDATE
), decided AS (
    UPDATE versions AS v
    SET status = :status, decided_at = now(), decided_by = :actor, rule_id = NULL,
        rule_revision = NULL, run_id = NULL, reason = :reason
    FROM previous AS p
    WHERE v.id = p.id AND v.status = p.status
    RETURNING v.id, v.entity_type, v.entity_id, v.version, v.data::text AS data_json, v.confidence, v.similarity,
              v.source, v.status, v.decided_at, v.decided_by, v.rule_id, v.rule_revision,
              v.run_id, v.reason, v.created_at, p.status AS previous_status
), audited AS (
    INSERT INTO audit_log (actor, action, version_id, details)
    SELECT :actor, :action, id, jsonb_build_object('from', previous_status, 'reason', :reason)
    FROM decided
)
SELECT * FROM decided ORDER BY id;

-- name: get_version_statuses(ids)
-- The status of each existing version of :ids.
SELECT id, status FROM versions WHERE id = ANY(:ids::int8[]);

-- name: count_pending_versions()^
-- Pending versions, in all and per entity type, from the version_counts summary (migration
-- 0011: its rows are deltas until compacted, so they are summed).
SELECT coalesce(sum(n), 0)::bigint AS total,
       coalesce(sum(n) FILTER (WHERE entity_type = 'topic'), 0)::bigint AS topic,
       coalesce(sum(n) FILTER (WHERE entity_type = 'atom'), 0)::bigint AS atom
FROM version_counts
WHERE status = 'pending';

-- name: list_review_versions(status, entity_type, source, rule_id, after_id, limit)
-- The review queue's versions of one :status in id order after :after_id, optionally filtered
-- by :entity_type, :source and the :rule_id that decided them (each NULL for any); :limit.
SELECT id, entity_type, entity_id, version, data::text AS data_json, confidence, similarity, source, status,
       decided_at, decided_by, rule_id, rule_revision, run_id, reason, created_at
FROM versions
WHERE id > :after_id
  AND status = :status::text
  AND (:entity_type::text IS NULL OR entity_type = :entity_type::text)
  AND (:source::text IS NULL OR source = :source::text)
  AND (:rule_id::int4 IS NULL OR rule_id = :rule_id::int4)
ORDER BY id
LIMIT :limit;

-- name: get_versions(ids)
-- The existing versions of :ids, in id order.
SELECT id, entity_type, entity_id, version, data::text AS data_json, confidence, similarity, source, status,
       decided_at, decided_by, rule_id, rule_revision, run_id, reason, created_at
FROM versions
WHERE id = ANY(:ids::int8[])
ORDER BY id;

-- name: get_latest_approved_versions(entity_types, entity_ids)
-- For each (entity type, entity id) of the parallel arrays :entity_types, :entity_ids, its
-- approved version with the highest number, if any (walks the entity's unique index backwards).
SELECT v.id, v.entity_type, v.entity_id, v.version, v.data::text AS data_json, v.confidence, v.similarity,
       v.source, v.status, v.decided_at, v.decided_by, v.rule_id, v.rule_revision, v.run_id,
       v.reason, v.created_at
FROM unnest(:entity_types::text[], :entity_ids::text[]) AS e(entity_type, entity_id)
CROSS JOIN LATERAL (
    SELECT * FROM versions
    WHERE versions.entity_type = e.entity_type AND versions.entity_id = e.entity_id
      AND versions.status = 'approved'
    ORDER BY versions.version DESC
    LIMIT 1
) AS v;
