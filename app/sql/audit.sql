-- name: insert_audit_entry(actor, action, version_id, rule_id, rule_revision, run_id, details)^
-- Append one audit entry. :actor, :action, :version_id, :rule_id, :rule_revision, :run_id, :details
INSERT INTO audit_log (actor, action, version_id, rule_id, rule_revision, run_id, details)
VALUES (:actor, :action, :version_id, :rule_id, :rule_revision, :run_id, :details)
RETURNING id, at, actor, action, version_id, rule_id, rule_revision, run_id, details;

-- name: lock_audit_chain()$
-- Lock the chain's head now, as the transaction's first audit entry would at its seal (see
-- migration 0009): for a transaction that locks a run and then writes an audit entry.
SELECT audit_lock_chain();

-- name: list_audit_entries(version_id, rule_id, run_id, actor, action, since, until, before_id, limit)
-- Audit entries newest first before a cursor (:before_id NULL for the first page), each filter
-- NULL for any; :since inclusive, :until exclusive. Each with the seal that covers it.
SELECT a.id, a.at, a.actor, a.action, a.version_id, a.rule_id, a.rule_revision, a.run_id,
       a.details, s.seq AS seal_seq, encode(s.hash, 'hex') AS seal_hash
FROM audit_log AS a
LEFT JOIN LATERAL (
    SELECT seq, hash FROM audit_seals
    WHERE xid = a.xid AND first_id <= a.id AND last_id >= a.id
    ORDER BY first_id DESC
    LIMIT 1
) AS s ON true
WHERE (:before_id::int8 IS NULL OR a.id < :before_id::int8)
  AND (:version_id::int8 IS NULL OR a.version_id = :version_id::int8)
  AND (:rule_id::int4 IS NULL OR a.rule_id = :rule_id::int4)
  AND (:run_id::uuid IS NULL OR a.run_id = :run_id::uuid)
  AND (:actor::text IS NULL OR a.actor = :actor::text)
  AND (:action::text IS NULL OR a.action = :action::text)
  AND (:since::timestamptz IS NULL OR a.at >= :since::timestamptz)
  AND (:until::timestamptz IS NULL OR a.at < :until::timestamptz)
ORDER BY a.id DESC
LIMIT :limit;

-- name: list_audit_entries_by_run(version_id, rule_id, run_id, actor, action, since, until, before_id, limit)
-- list_audit_entries of a run (:run_id required), in its index's order. The filter is written
-- as a range of one value and the order names its column first, so that only the (run_id, id)
-- index gives the order: with an equality the planner may walk the primary key backwards,
-- hoping to meet the run's entries soon, which for an old run means most of the log. The
-- filter is never optional, so a generic plan uses the index too. The same for the others.
SELECT a.id, a.at, a.actor, a.action, a.version_id, a.rule_id, a.rule_revision, a.run_id,
       a.details, s.seq AS seal_seq, encode(s.hash, 'hex') AS seal_hash
FROM audit_log AS a
LEFT JOIN LATERAL (
    SELECT seq, hash FROM audit_seals
    WHERE xid = a.xid AND first_id <= a.id AND last_id >= a.id
    ORDER BY first_id DESC
    LIMIT 1
) AS s ON true
WHERE (:before_id::int8 IS NULL OR a.id < :before_id::int8)
  AND (:version_id::int8 IS NULL OR a.version_id = :version_id::int8)
  AND (:rule_id::int4 IS NULL OR a.rule_id = :rule_id::int4)
  AND a.run_id >= :run_id::uuid AND a.run_id <= :run_id::uuid
  AND (:actor::text IS NULL OR a.actor = :actor::text)
  AND (:action::text IS NULL OR a.action = :action::text)
  AND (:since::timestamptz IS NULL OR a.at >= :since::timestamptz)
  AND (:until::timestamptz IS NULL OR a.at < :until::timestamptz)
ORDER BY a.run_id DESC, a.id DESC
LIMIT :limit;

-- name: list_audit_entries_by_version(version_id, rule_id, run_id, actor, action, since, until, before_id, limit)
-- list_audit_entries of a version (:version_id required), in its index's order.
SELECT a.id, a.at, a.actor, a.action, a.version_id, a.rule_id, a.rule_revision, a.run_id,
       a.details, s.seq AS seal_seq, encode(s.hash, 'hex') AS seal_hash
FROM audit_log AS a
LEFT JOIN LATERAL (
    SELECT seq, hash FROM audit_seals
    WHERE xid = a.xid AND first_id <= a.id AND last_id >= a.id
    ORDER BY first_id DESC
    LIMIT 1
) AS s ON true
WHERE (:before_id::int8 IS NULL OR a.id < :before_id::int8)
  AND a.version_id >= :version_id::int8 AND a.version_id <= :version_id::int8
  AND (:rule_id::int4 IS NULL OR a.rule_id = :rule_id::int4)
  AND (:run_id::uuid IS NULL OR a.run_id = :run_id::uuid)
  AND (:actor::text IS NULL OR a.actor = :actor::text)
  AND (:action::text IS NULL OR a.action = :action::text)
  AND (:since::timestamptz IS NULL OR a.at >= :since::timestamptz)
  AND (:until::timestamptz IS NULL OR a.at < :until::timestamptz)
ORDER BY a.version_id DESC, a.id DESC
LIMIT :limit;

-- name: list_audit_entries_by_rule(version_id, rule_id, run_id, actor, action, since, until, before_id, limit)
-- list_audit_entries of a rule (:rule_id required), in its index's order.
SELECT a.id, a.at, a.actor, a.action, a.version_id, a.rule_id, a.rule_revision, a.run_id,
       a.details, s.seq AS seal_seq, encode(s.hash, 'hex') AS seal_hash
FROM audit_log AS a
LEFT JOIN LATERAL (
    SELECT seq, hash FROM audit_seals
    WHERE xid = a.xid AND first_id <= a.id AND last_id >= a.id
    ORDER BY first_id DESC
    LIMIT 1
) AS s ON true
WHERE (:before_id::int8 IS NULL OR a.id < :before_id::int8)
  AND (:version_id::int8 IS NULL OR a.version_id = :version_id::int8)
  AND a.rule_id >= :rule_id::int4 AND a.rule_id <= :rule_id::int4
  AND (:run_id::uuid IS NULL OR a.run_id = :run_id::uuid)
  AND (:actor::text IS NULL OR a.actor = :actor::text)
  AND (:action::text IS NULL OR a.action = :action::text)
  AND (:since::timestamptz IS NULL OR a.at >= :since::timestamptz)
  AND (:until::timestamptz IS NULL OR a.at < :until::timestamptz)
ORDER BY a.rule_id DESC, a.id DESC
LIMIT :limit;

-- name: list_audit_entries_by_actor(version_id, rule_id, run_id, actor, action, since, until, before_id, limit)
-- list_audit_entries of an actor that is not a rule (:actor required), in its index's order
-- (the partial index leaves the rules' decisions out).
SELECT a.id, a.at, a.actor, a.action, a.version_id, a.rule_id, a.rule_revision, a.run_id,
       a.details, s.seq AS seal_seq, encode(s.hash, 'hex') AS seal_hash
FROM audit_log AS a
LEFT JOIN LATERAL (
    SELECT seq, hash FROM audit_seals
    WHERE xid = a.xid AND first_id <= a.id AND last_id >= a.id
    ORDER BY first_id DESC
    LIMIT 1
) AS s ON true
WHERE (:before_id::int8 IS NULL OR a.id < :before_id::int8)
  AND (:version_id::int8 IS NULL OR a.version_id = :version_id::int8)
  AND (:rule_id::int4 IS NULL OR a.rule_id = :rule_id::int4)
  AND (:run_id::uuid IS NULL OR a.run_id = :run_id::uuid)
  AND a.actor >= :actor::text AND a.actor <= :actor::text
  AND a.actor NOT LIKE 'rule:%'
  AND (:action::text IS NULL OR a.action = :action::text)
  AND (:since::timestamptz IS NULL OR a.at >= :since::timestamptz)
  AND (:until::timestamptz IS NULL OR a.at < :until::timestamptz)
ORDER BY a.actor DESC, a.id DESC
LIMIT :limit;

-- name: list_audit_entries_by_action(version_id, rule_id, run_id, actor, action, since, until, before_id, limit)
-- list_audit_entries of an action that is not a decision (:action required), in its index's
-- order (the partial index leaves the decisions out).
SELECT a.id, a.at, a.actor, a.action, a.version_id, a.rule_id, a.rule_revision, a.run_id,
       a.details, s.seq AS seal_seq, encode(s.hash, 'hex') AS seal_hash
FROM audit_log AS a
LEFT JOIN LATERAL (
    SELECT seq, hash FROM audit_seals
    WHERE xid = a.xid AND first_id <= a.id AND last_id >= a.id
    ORDER BY first_id DESC
    LIMIT 1
) AS s ON true
WHERE (:before_id::int8 IS NULL OR a.id < :before_id::int8)
  AND (:version_id::int8 IS NULL OR a.version_id = :version_id::int8)
  AND (:rule_id::int4 IS NULL OR a.rule_id = :rule_id::int4)
  AND (:run_id::uuid IS NULL OR a.run_id = :run_id::uuid)
  AND (:actor::text IS NULL OR a.actor = :actor::text)
  AND a.action >= :action::text AND a.action <= :action::text
  AND a.action NOT IN ('approve', 'reject', 'escalate')
  AND (:since::timestamptz IS NULL OR a.at >= :since::timestamptz)
  AND (:until::timestamptz IS NULL OR a.at < :until::timestamptz)
ORDER BY a.action DESC, a.id DESC
LIMIT :limit;

-- name: purge_audit_batch()^
-- One batch of the retention purge (the owner's function: its cutoff and batch size come from
-- audit_settings, never from here). Answers the seals and entries it removed; 0 seals: done.
SELECT seals, entries FROM audit_purge_batch();

-- name: get_audit_checkpoint()^
-- The latest purge checkpoint (the seal verify starts after), or no row.
SELECT seq, hash FROM audit_checkpoints ORDER BY seq DESC LIMIT 1;

-- name: get_audit_chain_head()^
-- Where sealing will append next: the last seal's number and hash.
SELECT seq, hash FROM audit_chain_head;

-- name: get_first_seal_since(since)^
-- The first seal sealed at or after :since (where `audit verify --since` starts), or no row.
SELECT seq, prev_hash FROM audit_seals WHERE sealed_at >= :since ORDER BY seq LIMIT 1;

-- name: stream_audit_seals(after_seq)
-- Every seal after :after_seq in chain order, as verify recomputes it (read with a cursor).
SELECT seq, xid::text AS xid, first_id, last_id, entry_count, entry_index, entries_digest,
       prev_hash, hash, newest_at, sealed_at
FROM audit_seals
WHERE seq > :after_seq
ORDER BY seq;

-- name: stream_sealed_entries(after_seq)
-- The entries each seal after :after_seq covers (its transaction's, within its id range), in
-- seal then id order; details as jsonb's canonical text (read with a cursor).
SELECT s.seq, e.id, e.at, e.actor, e.action, e.version_id, e.rule_id, e.rule_revision,
       e.run_id, e.details::text AS details
FROM audit_seals AS s
JOIN LATERAL (
    SELECT a.id, a.at, a.actor, a.action, a.version_id, a.rule_id, a.rule_revision, a.run_id,
           a.details
    FROM audit_log AS a
    WHERE a.id BETWEEN s.first_id AND s.last_id AND a.xid = s.xid
) AS e ON true
WHERE s.seq > :after_seq
ORDER BY s.seq, e.id;

-- name: list_unsealed_entries(from_id, limit)
-- Entries from id :from_id on that no seal covers (written with the sealing trigger off).
SELECT a.id
FROM audit_log AS a
WHERE a.id >= :from_id
  AND NOT EXISTS (
      SELECT 1 FROM audit_seals AS s
      WHERE s.xid = a.xid AND a.id BETWEEN s.first_id AND s.last_id
  )
ORDER BY a.id
LIMIT :limit;
