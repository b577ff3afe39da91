-- name: create_manual_run(dry_run, reason, job_id)^
-- A new manual run (of a job when :job_id is set: "run now"), unless it must coalesce: a
-- non-dry trigger while a non-dry run is active returns nothing. The partial unique index
-- settles two concurrent inserts (ON CONFLICT).
INSERT INTO automation_runs (trigger, dry_run, reason, job_id)
SELECT 'manual', :dry_run, :reason, :job_id
WHERE :dry_run OR NOT EXISTS (
    SELECT 1 FROM automation_runs
    WHERE NOT dry_run AND automation_run_is_active(state))
ON CONFLICT DO NOTHING
RETURNING *;

-- name: get_active_run()^
-- The oldest non-dry run that is not finished (the one a manual trigger coalesces into).
SELECT * FROM automation_runs
WHERE NOT dry_run AND automation_run_is_active(state)
ORDER BY seq
LIMIT 1;

-- name: lock_idempotency_key(token_name, key)$
-- Serialise requests that carry the same key for the same token until the transaction ends.
SELECT pg_advisory_xact_lock(hashtextextended(:token_name || E'\n' || :key, 7361));

-- name: get_idempotency_key(token_name, key)^
-- A key's stored request and run, if it is younger than 24 hours.
SELECT token_name, key, request_hash, run_id, coalesced, created_at
FROM idempotency_keys
WHERE token_name = :token_name AND key = :key AND created_at > now() - interval '24 hours';

-- name: save_idempotency_key(token_name, key, request_hash, run_id, coalesced)!
-- Remember which run a key stands for (replacing an expired entry of the same key).
INSERT INTO idempotency_keys (token_name, key, request_hash, run_id, coalesced)
VALUES (:token_name, :key, :request_hash, :run_id, :coalesced)
ON CONFLICT (token_name, key) DO UPDATE
SET request_hash = EXCLUDED.request_hash, run_id = EXCLUDED.run_id,
    coalesced = EXCLUDED.coalesced, created_at = now();

-- name: delete_expired_idempotency_keys()!
-- Forget keys older than 24 hours.
DELETE FROM idempotency_keys WHERE created_at < now() - interval '24 hours';

-- name: mark_run_scheduled(id)!
-- RabbitMQ confirmed the run's message: PENDING becomes SCHEDULED (later states stay), and
-- its lease (AUTOMATION_REDELIVER_SECONDS) starts.
UPDATE automation_runs SET state = 'SCHEDULED', published_at = now()
WHERE id = :id AND state = 'PENDING';

-- name: lock_unpublished_runs(limit)
-- Runs still PENDING a second after they were written (RabbitMQ was down or the publish
-- failed), locked so that relays in several processes share them out.
SELECT id FROM automation_runs
WHERE state = 'PENDING' AND requested_at < now() - interval '1 second'
ORDER BY seq
LIMIT :limit
FOR UPDATE SKIP LOCKED;

-- name: get_run(id)^
-- One run.
SELECT * FROM automation_runs WHERE id = :id;

-- name: list_runs(state, trigger, job_id, before_seq, limit)
-- Runs newest first, optionally filtered (NULL for any), before a cursor.
SELECT * FROM automation_runs
WHERE (:before_seq::bigint IS NULL OR seq < :before_seq::bigint)
  AND (:state::text IS NULL OR state = :state::text)
  AND (:trigger::text IS NULL OR trigger = :trigger::text)
  AND (:job_id::text IS NULL OR job_id = :job_id::text)
ORDER BY seq DESC
LIMIT :limit;
