-- name: claim_run(id, worker, stale_seconds, max_attempts)^
-- Take a run to evaluate: PENDING or SCHEDULED, or EXECUTING whose worker stopped beating
-- (it died) while attempts remain (past them the reaper fails it `lost`). Every claim
-- counts as an attempt.
UPDATE automation_runs
SET state = 'EXECUTING', attempts = attempts + 1, claimed_by = :worker,
    heartbeat_at = now(), started_at = coalesce(started_at, now())
WHERE id = :id
  AND (state IN ('PENDING', 'SCHEDULED')
       OR (state = 'EXECUTING' AND attempts < :max_attempts
           AND heartbeat_at < now() - make_interval(secs => :stale_seconds::float8)))
RETURNING *;

-- name: fix_run_scope(id, worker, rules)^
-- At the first claim, fix what every attempt evaluates: versions pending now (up to the
-- highest pending id), the instant age_hours is measured at, the enabled rules as they are.
UPDATE automation_runs
SET max_version_id = coalesce(
        max_version_id,
        (SELECT coalesce(max(id), 0) FROM versions WHERE status = 'pending')),
    evaluated_at = coalesce(evaluated_at, now()),
    rules = coalesce(rules, :rules::jsonb)
WHERE id = :id AND claimed_by = :worker AND state = 'EXECUTING'
RETURNING *;

-- name: count_pending_between(after_id, max_id)$
-- Pending versions with after_id < id <= max_id (what a run still has to evaluate).
SELECT count(*) FROM versions WHERE status = 'pending' AND id > :after_id AND id <= :max_id;

-- name: decide_batch()^
-- One batch of a run, in one statement: the next $4 pending ids after $2 (up to $3) get their
-- deciding rule from the compiled CASE ({deciding_rule}, parameters from $12 on); unless
-- dry ($10), matched versions still pending are decided (at most $9 of them; NULL = no cap),
-- each with its audit row; the run's counters and progress move on, if worker $11 still owns
-- the run (otherwise no row comes back and the caller rolls back). Positional parameters:
-- $1 run id, $2 after id, $3 max id, $4 batch size, $5-$8 the rules in evaluation order
-- (ids, revisions, actions, names), $9 cap, $10 dry run, $11 worker, $12.. compiled values.
WITH batch AS (
    SELECT v.id, {deciding_rule} AS position
    FROM versions v
    WHERE v.status = 'pending' AND v.id > $2 AND v.id <= $3
    ORDER BY v.id
    LIMIT $4
), chosen AS (
    SELECT b.id, r.rule_id, r.revision, r.action, r.name
    FROM batch b
    JOIN unnest($5::int4[], $6::int4[], $7::text[], $8::text[])
         WITH ORDINALITY AS r(rule_id, revision, action, name, position)
      ON r.position = b.position
    ORDER BY b.id
    LIMIT $9::int8
), decided AS (
    UPDATE versions t
    SET status = CASE c.action WHEN 'approve' THEN 'approved'
                               WHEN 'reject' THEN 'rejected'
                               ELSE 'escalated' END,
        decided_at = now(),
        decided_by = 'rule:' || c.rule_id || '@' || c.revision,
        rule_id = c.rule_id,
        rule_revision = c.revision,
        run_id = $1,
        reason = c.name
    FROM chosen c
    WHERE t.id = c.id AND t.status = 'pending' AND NOT $10::boolean
    RETURNING t.id, c.rule_id, c.revision, c.action
), audited AS (
    INSERT INTO audit_log (actor, action, version_id, rule_id, rule_revision, run_id)
    SELECT 'rule:' || rule_id || '@' || revision, action, id, rule_id, revision, $1
    FROM decided
    RETURNING 1
), outcome AS (
    SELECT rule_id, action FROM decided
    UNION ALL
    SELECT rule_id, action FROM chosen WHERE $10::boolean
), per_rule AS (
    SELECT rule_id, count(*) AS n FROM outcome GROUP BY rule_id
)
UPDATE automation_runs AS run
SET evaluated = run.evaluated + (SELECT count(*) FROM batch),
    last_version_id = coalesce((SELECT max(id) FROM batch), run.last_version_id),
    approved = run.approved + (SELECT count(*) FROM outcome WHERE action = 'approve'),
    rejected = run.rejected + (SELECT count(*) FROM outcome WHERE action = 'reject'),
    escalated = run.escalated + (SELECT count(*) FROM outcome WHERE action = 'escalate'),
    decisions_by_rule = run.decisions_by_rule || coalesce(
        (SELECT jsonb_object_agg(
                    p.rule_id::text,
                    p.n + coalesce((run.decisions_by_rule ->> p.rule_id::text)::int8, 0))
         FROM per_rule p),
        '{}'::jsonb),
    heartbeat_at = now()
WHERE run.id = $1 AND run.state = 'EXECUTING' AND run.claimed_by = $11
RETURNING (SELECT count(*) FROM batch) AS scanned,
          (SELECT count(*) FROM outcome) AS decided,
          (SELECT count(*) FROM audited) AS audited,
          run.last_version_id,
          run.approved + run.rejected + run.escalated AS decided_total,
          run.cancel_requested_at IS NOT NULL AS cancel_requested;

-- name: beat_run(id, worker)$
-- The worker is alive and still owns the run; answers whether a cancel was asked for.
UPDATE automation_runs SET heartbeat_at = now()
WHERE id = :id AND claimed_by = :worker AND state = 'EXECUTING'
RETURNING cancel_requested_at IS NOT NULL;

-- name: finish_run(id, worker, state, error, capped)^
-- End a run this worker owns: COMPLETED, or FAILED with its error. A stopped run ("cancelled")
-- takes the reason it was stopped for: a cancel, or the brake ("paused").
UPDATE automation_runs
SET state = :state,
    error = CASE WHEN :error = 'cancelled' THEN coalesce(cancel_reason, 'cancelled')
                 ELSE :error END,
    capped = :capped, finished_at = now(), heartbeat_at = now()
WHERE id = :id AND claimed_by = :worker AND state = 'EXECUTING'
RETURNING *;

-- name: hand_back_run(id, worker)^
-- A worker that is stopping returns the run to the queue; the attempt is not counted.
UPDATE automation_runs
SET state = 'SCHEDULED', attempts = greatest(attempts - 1, 0), claimed_by = NULL,
    heartbeat_at = NULL
WHERE id = :id AND claimed_by = :worker AND state = 'EXECUTING'
RETURNING *;

-- name: fail_lost_runs(stale_seconds, max_attempts)
-- Runs whose worker stopped beating and that used up their attempts fail `lost`.
UPDATE automation_runs
SET state = 'FAILED', error = 'lost', finished_at = now()
WHERE state = 'EXECUTING'
  AND heartbeat_at < now() - make_interval(secs => :stale_seconds::float8)
  AND attempts >= :max_attempts
RETURNING id;

-- name: list_stale_runs(stale_seconds, max_attempts)
-- Runs whose worker stopped beating and that may be tried again (to republish).
SELECT id FROM automation_runs
WHERE state = 'EXECUTING'
  AND heartbeat_at < now() - make_interval(secs => :stale_seconds::float8)
  AND attempts < :max_attempts
ORDER BY seq;

-- name: try_evaluation_lock()$
-- The lock that lets one non-dry run evaluate at a time (session level: it lives as long as
-- this connection, so a worker that dies releases it).
SELECT pg_try_advisory_lock(7361001);

-- name: release_evaluation_lock()$
-- Release the lock taken by try_evaluation_lock.
SELECT pg_advisory_unlock(7361001);
