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
SELECT id, entity_type, entity_id, version, data, confidence, similarity, source, status,
       decided_at, decided_by, rule_id, rule_revision, run_id, reason, created_at
FROM versions
WHERE id = :id;

-- name: list_versions(status, entity_type, entity_id, after_id, limit)
-- Versions in id order after a cursor, optionally filtered. :status, :entity_type, :entity_id
-- (each NULL for any), :after_id, :limit
SELECT id, entity_type, entity_id, version, data, confidence, similarity, source, status,
       decided_at, decided_by, rule_id, rule_revision, run_id, reason, created_at
FROM versions
WHERE id > :after_id
  AND (:status::text IS NULL OR status = :status::text)
  AND (:entity_type::text IS NULL OR entity_type = :entity_type::text)
  AND (:entity_id::text IS NULL OR entity_id = :entity_id::text)
ORDER BY id
LIMIT :limit;
