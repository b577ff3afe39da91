-- name: claim_run(id, worker, stale_seconds, max_attempts)^
-- Take a run to evaluate, as a lease of a new epoch on this session: PENDING or SCHEDULED,
-- or EXECUTING whose worker stopped beating by the database's clock (attempts left; past
-- them the reaper fails it `lost`). A claim counts as an attempt unless the run was handed
-- back. A non-dry run is taken only while no other non-dry run is EXECUTING (the unique index
-- automation_runs_one_evaluating settles two claims at once). A split run (shards > 0) is
-- never taken over: its shards hold the leases.
UPDATE automation_runs AS r
SET state = 'EXECUTING',
    attempts = r.attempts + CASE WHEN r.handed_back THEN 0 ELSE 1 END,
    handed_back = false, claimed_by = :worker, lease_epoch = r.lease_epoch + 1,
    backend_pid = pg_backend_pid(),
    backend_started_at = (SELECT backend_start FROM pg_stat_activity
                          WHERE pid = pg_backend_pid()),
    heartbeat_at = clock_timestamp(), started_at = coalesce(r.started_at, now())
WHERE r.id = :id
  AND (r.state IN ('PENDING', 'SCHEDULED')
       OR (r.state = 'EXECUTING' AND r.attempts < :max_attempts AND r.shards = 0
           AND r.heartbeat_at < now() - make_interval(secs => :stale_seconds::float8)))
  AND (r.dry_run OR NOT EXISTS (
        SELECT 1 FROM automation_runs AS other
        WHERE other.state = 'EXECUTING' AND NOT other.dry_run AND other.id <> r.id))
RETURNING *;

-- name: fix_run_scope(id, worker, epoch, rules)^
-- At the first claim, fix what every attempt evaluates: versions pending now (up to the
-- highest pending id), the instant age_hours is measured at, the enabled rules as they are.
UPDATE automation_runs
SET max_version_id = coalesce(
        max_version_id,
        (SELECT coalesce(max(id), 0) FROM versions WHERE status = 'pending')),
    evaluated_at = coalesce(evaluated_at, now()),
    rules = coalesce(rules, :rules::jsonb)
WHERE id = :id AND claimed_by = :worker AND lease_epoch = :epoch AND state = 'EXECUTING'
RETURNING *;

-- name: count_pending_between(after_id, max_id)$
-- Pending versions with after_id < id <= max_id (what a run still has to evaluate).
SELECT count(*) FROM versions WHERE status = 'pending' AND id > :after_id AND id <= :max_id;

-- name: set_claim_limits(lock_timeout, idle_timeout)$
-- Bound the claim's transaction (milliseconds as text): waiting for a row lock (a session
-- being ended still holds it) and sitting idle in it (a worker frozen mid-claim).
SELECT set_config('lock_timeout', :lock_timeout, true)
    || set_config('idle_in_transaction_session_timeout', :idle_timeout, true);

-- name: set_batch_limits(statement_timeout, idle_timeout)$
-- Bound one batch's transaction (milliseconds as text): its statement never outlives the
-- run's guard, and a worker frozen before COMMIT loses the transaction (and its locks).
-- jit off: measured, it gives nothing to the compiled decision and costs up to 1.8 s per
-- 100,000 versions on rule sets the compiler's guards do not cover (docs/performance.md).
SELECT set_config('statement_timeout', :statement_timeout, true)
    || set_config('idle_in_transaction_session_timeout', :idle_timeout, true)
    || set_config('jit', 'off', true);

-- name: end_stale_session(id, stale_seconds)$
-- Before a run whose worker stopped beating is taken over: end the session that evaluated
-- it (a frozen worker keeps its TCP link, its transaction and its locks), waiting up to 5 s
-- for it to go. The backend's start time guards against a reused pid. Answers how many.
SELECT count(*) FILTER (WHERE pg_terminate_backend(a.pid, 5000))
FROM automation_runs r
JOIN pg_stat_activity a ON a.pid = r.backend_pid AND a.backend_start = r.backend_started_at
WHERE r.id = :id AND r.state = 'EXECUTING'
  AND r.heartbeat_at < now() - make_interval(secs => :stale_seconds::float8)
  AND a.pid <> pg_backend_pid();

-- name: end_stale_sessions(stale_seconds)$
-- The reaper's round of end_stale_session, for every run whose worker stopped beating.
SELECT count(*) FILTER (WHERE pg_terminate_backend(a.pid, 5000))
FROM automation_runs r
JOIN pg_stat_activity a ON a.pid = r.backend_pid AND a.backend_start = r.backend_started_at
WHERE r.state = 'EXECUTING'
  AND r.heartbeat_at < now() - make_interval(secs => :stale_seconds::float8)
  AND a.pid <> pg_backend_pid();

-- name: park_run(id)$
-- A non-dry run whose turn has not come (another non-dry run is EXECUTING) waits in the
-- database, not in a consumer slot: SCHEDULED with no message in flight, woken by the end of
-- the active run or by a reaper (mark_runs_for_redelivery). Answers whether it was parked.
UPDATE automation_runs SET state = 'SCHEDULED', published_at = NULL
WHERE id = :id AND state IN ('PENDING', 'SCHEDULED') AND NOT dry_run
RETURNING true;

-- name: decide_batch()^
-- One batch of a run or of one of its shards, the first of its transaction's two statements:
-- the next $4 pending ids after $2 (up to $3) get their deciding rule from the compiled CASE
-- ({deciding_rule}, parameters from $15 on); unless dry ($10), matched versions still pending
-- are decided (at most $14 of them for a run that is not split, where the caller knows its
-- decisions; for a shard, what the run's row says is left of the cap $9; NULL = no cap),
-- each with its audit row (sealed by audit_log's trigger at the statement's end); a shard's
-- progress moves on if worker $11 still holds shard $13's lease of epoch $12. Answers the
-- batch's counts for add_batch_to_run, which then adds them to the run's row: the run's row
-- is locked by that second statement only, after this one's work and its seal, so that the
-- shards of one run decide and seal their batches at the same time and queue only for the
-- short update of their sums (docs/scaling.md).
-- Positional parameters: $1 run id, $2 after id, $3 max id, $4 batch size, $5-$8 the rules in
-- evaluation order (ids, revisions, actions, names), $9 cap, $10 dry run, $11 worker,
-- $12 lease epoch, $13 shard id (NULL: the run is not split), $14 the batch's allowance,
-- $15.. compiled values. (With a run's parameters known when planning, a run that is not
-- split keeps a constant LIMIT.)
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
    LIMIT CASE WHEN $13::uuid IS NULL THEN $14::int8
               WHEN $9::int8 IS NULL THEN NULL
               ELSE (SELECT greatest(0, $9::int8 - (r.approved + r.rejected + r.escalated))
                     FROM automation_runs r WHERE r.id = $1) END
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
), shard AS (
    UPDATE automation_run_shards AS s
    SET evaluated = s.evaluated + (SELECT count(*) FROM batch),
        decided = s.decided + (SELECT count(*) FROM outcome),
        last_version_id = coalesce((SELECT max(id) FROM batch), s.last_version_id),
        heartbeat_at = clock_timestamp()
    WHERE s.id = $13 AND s.state = 'EXECUTING' AND s.claimed_by = $11 AND s.lease_epoch = $12
    RETURNING s.last_version_id
)
SELECT (SELECT count(*) FROM batch) AS scanned,
       (SELECT max(id) FROM batch) AS batch_last_id,
       (SELECT count(*) FROM outcome WHERE action = 'approve') AS approved,
       (SELECT count(*) FROM outcome WHERE action = 'reject') AS rejected,
       (SELECT count(*) FROM outcome WHERE action = 'escalate') AS escalated,
       (SELECT jsonb_object_agg(rule_id::text, n) FROM per_rule) AS per_rule,
       (SELECT count(*) FROM audited) AS audited,
       (SELECT last_version_id FROM shard) AS shard_last_version_id,
       $13::uuid IS NULL OR EXISTS (SELECT 1 FROM shard) AS shard_held;

-- name: add_batch_to_run(id, worker, epoch, shard, cap, scanned, last_id, approved, rejected, escalated, per_rule)^
-- The second statement of a batch's transaction: the batch's counts (decide_batch's answer)
-- added to the run's sums (the sums over its shards), and an unsplit run's progress moved to
-- :last_id, if worker :worker still holds the run's lease of epoch :epoch (a shard's lease
-- was checked by decide_batch) and the run's decisions stay within :cap (NULL: no cap;
-- re-checked on the run's newest row when another shard's batch updated it first). No row
-- comes back when the lease was lost, the run ended, or another shard's batch took the
-- cap's last decisions meanwhile; the caller rolls back.
UPDATE automation_runs AS run
SET evaluated = run.evaluated + :scanned,
    last_version_id = CASE WHEN :shard::uuid IS NULL
                           THEN coalesce(:last_id, run.last_version_id)
                           ELSE run.last_version_id END,
    approved = run.approved + :approved,
    rejected = run.rejected + :rejected,
    escalated = run.escalated + :escalated,
    decisions_by_rule = run.decisions_by_rule || coalesce(
        (SELECT jsonb_object_agg(
                    p.key, p.value::int8 + coalesce((run.decisions_by_rule ->> p.key)::int8, 0))
         FROM jsonb_each_text(:per_rule::jsonb) AS p),
        '{}'::jsonb),
    heartbeat_at = clock_timestamp()
WHERE run.id = :id AND run.state = 'EXECUTING'
  AND (:shard::uuid IS NOT NULL OR (run.claimed_by = :worker AND run.lease_epoch = :epoch))
  AND (:cap::int8 IS NULL
       OR run.approved + run.rejected + run.escalated
          + :approved::int8 + :rejected::int8 + :escalated::int8 <= :cap::int8)
RETURNING run.approved + run.rejected + run.escalated AS decided_total,
          run.cancel_requested_at IS NOT NULL AS cancel_requested,
          run.last_version_id;

-- name: beat_run(id, worker, epoch)$
-- The worker is alive and still holds the run's lease; answers whether a cancel was asked
-- for (nothing: the lease was taken over or the run ended).
UPDATE automation_runs SET heartbeat_at = clock_timestamp()
WHERE id = :id AND claimed_by = :worker AND lease_epoch = :epoch AND state = 'EXECUTING'
RETURNING cancel_requested_at IS NOT NULL;

-- name: finish_run(id, worker, epoch, state, error, capped)^
-- End a run this worker holds: COMPLETED, or FAILED with its error. A stopped run
-- ("cancelled") takes the reason it was stopped for: a cancel, or the brake ("paused").
UPDATE automation_runs
SET state = :state,
    error = CASE WHEN :error = 'cancelled' THEN coalesce(cancel_reason, 'cancelled')
                 ELSE :error END,
    capped = :capped, finished_at = now(), heartbeat_at = now()
WHERE id = :id AND claimed_by = :worker AND lease_epoch = :epoch AND state = 'EXECUTING'
RETURNING *;

-- name: hand_back_run(id, worker, epoch)^
-- A worker that is stopping returns the run to the queue: SCHEDULED, its republish recorded
-- (so the lease redelivers it if that publish fails). Its attempts stay as they are (what it
-- decided is counted); the next claim does not count a new one.
UPDATE automation_runs
SET state = 'SCHEDULED', handed_back = true, claimed_by = NULL, heartbeat_at = NULL,
    published_at = now()
WHERE id = :id AND claimed_by = :worker AND lease_epoch = :epoch AND state = 'EXECUTING'
RETURNING *;

-- name: fail_lost_runs(stale_seconds, max_attempts)
-- Runs whose worker stopped beating and that used up their attempts fail `lost` (rows still
-- locked by a session being ended are left to the next round). A split run's liveness is
-- its shards' (fail_lost_shards).
UPDATE automation_runs
SET state = 'FAILED', error = 'lost', finished_at = now()
WHERE id IN (
    SELECT id FROM automation_runs
    WHERE state = 'EXECUTING' AND shards = 0
      AND heartbeat_at < now() - make_interval(secs => :stale_seconds::float8)
      AND attempts >= :max_attempts
    FOR UPDATE SKIP LOCKED)
RETURNING id;

-- name: mark_runs_for_redelivery(redeliver_seconds, stale_seconds, max_attempts)
-- The runs that need a new wake-up message, each marked published now so that of several
-- processes asking at once exactly one gets it (the second's UPDATE re-reads published_at):
-- a dry SCHEDULED run not claimed within the lease; an EXECUTING run whose worker stopped
-- beating (attempts left) and that was not republished since; the oldest non-dry SCHEDULED
-- run not claimed within the lease or parked, once no non-dry run is EXECUTING. (A split
-- run's messages are its shards': mark_shards_for_redelivery.)
UPDATE automation_runs AS r SET published_at = now()
WHERE r.id IN (
    SELECT id FROM automation_runs
    WHERE state = 'SCHEDULED' AND dry_run
      AND (published_at IS NULL
           OR published_at < now() - make_interval(secs => :redeliver_seconds::float8))
    UNION ALL
    SELECT id FROM automation_runs
    WHERE state = 'EXECUTING' AND attempts < :max_attempts AND shards = 0
      AND heartbeat_at < now() - make_interval(secs => :stale_seconds::float8)
    UNION ALL
    (SELECT id FROM automation_runs
     WHERE state = 'SCHEDULED' AND NOT dry_run
       AND (published_at IS NULL
            OR published_at < now() - make_interval(secs => :redeliver_seconds::float8))
       AND NOT EXISTS (SELECT 1 FROM automation_runs AS e
                       WHERE e.state = 'EXECUTING' AND NOT e.dry_run)
     ORDER BY seq
     LIMIT 1))
  AND (r.published_at IS NULL
       OR r.published_at < now() - make_interval(secs => :redeliver_seconds::float8)
       OR (r.state = 'EXECUTING' AND r.published_at <= r.heartbeat_at))
RETURNING r.id;

-- Shards (SPEC 6.3). A large run is split at its first claim into id ranges of about equal
-- pending count; each shard is a lease with the same columns and conditions as a run's:
-- claimed as a new epoch on the session that evaluates it, kept by its heartbeat (judged by
-- the database's clock), fenced in every batch (decide_batch's $13), handed back,
-- taken over when stale, republished and failed `lost` by the reapers.

-- name: split_run(id, worker, epoch, shards, pending)
-- Split the run this worker holds (not split yet; :pending versions pending in its range)
-- into :shards id ranges of about equal pending count, each a SCHEDULED shard; the run stays
-- EXECUTING, held by its shards (its own session is no longer its evaluator). The bounds
-- are the pending ids at every (pending / shards)-th place, each found by an index-only
-- scan of versions_pending_idx (cheaper than ranking every id). Answers the shards' ids
-- (none: the lease was lost, or the run was split already).
WITH run AS (
    UPDATE automation_runs
    SET shards = :shards, backend_pid = NULL, backend_started_at = NULL,
        heartbeat_at = clock_timestamp()
    WHERE id = :id AND claimed_by = :worker AND lease_epoch = :epoch AND state = 'EXECUTING'
      AND shards = 0
    RETURNING id, last_version_id, max_version_id
), places AS (
    SELECT s.no, s.no::int8 * :pending / :shards AS place
    FROM generate_series(0, :shards) AS s(no)
), bounds AS (
    SELECT p.no, p.place,
           CASE WHEN p.no = 0 THEN run.last_version_id
                WHEN p.no = :shards THEN run.max_version_id
                ELSE (SELECT v.id FROM versions v
                      WHERE v.status = 'pending' AND v.id > run.last_version_id
                        AND v.id <= run.max_version_id
                      ORDER BY v.id OFFSET p.place - 1 LIMIT 1) END AS id
    FROM places p CROSS JOIN run
)
INSERT INTO automation_run_shards
    (run_id, shard_no, after_id, max_version_id, last_version_id, pending, published_at)
SELECT run.id, b.no, a.id, b.id, a.id, b.place - a.place, now()
FROM run
JOIN bounds b ON b.no > 0
JOIN bounds a ON a.no = b.no - 1
ORDER BY b.no
RETURNING id;

-- name: claim_shard(id, worker, stale_seconds, max_attempts)^
-- Take a shard of an EXECUTING run, as a lease of a new epoch on this session (the same
-- conditions as claim_run): SCHEDULED, or EXECUTING whose worker stopped beating (attempts
-- left). A split run's attempts are the most any of its shards took (raised here when a
-- shard is taken over). Answers the shard and how long ago its run started (the run's one
-- deadline).
WITH claimed AS (
    UPDATE automation_run_shards AS s
    SET state = 'EXECUTING',
        attempts = s.attempts + CASE WHEN s.handed_back THEN 0 ELSE 1 END,
        handed_back = false, claimed_by = :worker, lease_epoch = s.lease_epoch + 1,
        backend_pid = pg_backend_pid(),
        backend_started_at = (SELECT backend_start FROM pg_stat_activity
                              WHERE pid = pg_backend_pid()),
        heartbeat_at = clock_timestamp(), started_at = coalesce(s.started_at, now())
    FROM automation_runs AS run
    WHERE s.id = :id AND run.id = s.run_id AND run.state = 'EXECUTING'
      AND (s.state IN ('PENDING', 'SCHEDULED')
           OR (s.state = 'EXECUTING' AND s.attempts < :max_attempts
               AND s.heartbeat_at < now() - make_interval(secs => :stale_seconds::float8)))
    RETURNING s.*, run.attempts AS run_attempts,
              extract(epoch FROM clock_timestamp() - run.started_at)::float8 AS run_age_seconds
), attempts AS (
    UPDATE automation_runs AS run SET attempts = claimed.attempts
    FROM claimed
    WHERE run.id = claimed.run_id AND claimed.attempts > claimed.run_attempts
    RETURNING run.id
)
SELECT * FROM claimed;

-- name: get_shard(id)^
-- One shard.
SELECT * FROM automation_run_shards WHERE id = :id;

-- name: list_shards(run_id)
-- A run's shards in order.
SELECT * FROM automation_run_shards WHERE run_id = :run_id ORDER BY shard_no;

-- name: beat_shard(id, worker, epoch)$
-- beat_run for a shard: answers whether its run was asked to stop (nothing: the lease was
-- taken over, or the run ended).
UPDATE automation_run_shards AS s SET heartbeat_at = clock_timestamp()
FROM automation_runs AS run
WHERE s.id = :id AND s.claimed_by = :worker AND s.lease_epoch = :epoch
  AND s.state = 'EXECUTING' AND run.id = s.run_id AND run.state = 'EXECUTING'
RETURNING run.cancel_requested_at IS NOT NULL;

-- name: lock_run_of_shard(id)$
-- Before a shard ends: lock its run, so that of two shards ending at once the second sees
-- the first's end (and exactly one of them concludes the run).
SELECT run.id FROM automation_runs AS run
JOIN automation_run_shards AS s ON s.run_id = run.id
WHERE s.id = :id
FOR UPDATE OF run;

-- name: finish_shard(id, worker, epoch, state, error, capped)^
-- End a shard this worker holds: COMPLETED, or FAILED with its error.
UPDATE automation_run_shards
SET state = :state, error = :error, capped = :capped, finished_at = now(), heartbeat_at = now()
WHERE id = :id AND claimed_by = :worker AND lease_epoch = :epoch AND state = 'EXECUTING'
RETURNING *;

-- name: conclude_split_run(id)^
-- End a split run once its shards say so (its row locked by lock_run_of_shard): FAILED as
-- soon as one shard failed (with that shard's error; a stopped one with the reason it was
-- stopped for), COMPLETED when every shard has (capped if one was). Answers the run if it
-- ended now.
UPDATE automation_runs AS run
SET state = CASE WHEN s.failed THEN 'FAILED' ELSE 'COMPLETED' END,
    error = CASE WHEN NOT s.failed THEN NULL
                 WHEN s.error = 'cancelled' THEN coalesce(run.cancel_reason, 'cancelled')
                 ELSE s.error END,
    capped = s.capped, finished_at = now(), heartbeat_at = now(), claimed_by = NULL
FROM (SELECT bool_or(state = 'FAILED') AS failed, coalesce(bool_or(capped), false) AS capped,
             count(*) FILTER (WHERE automation_run_is_active(state)) AS active,
             (array_agg(error ORDER BY finished_at, shard_no)
                 FILTER (WHERE state = 'FAILED'))[1] AS error
      FROM automation_run_shards WHERE run_id = :id) AS s
WHERE run.id = :id AND run.state = 'EXECUTING' AND run.shards > 0
  AND (s.failed OR s.active = 0)
RETURNING run.*;

-- name: stop_shards_of_ended_runs()
-- The shards still active of runs that ended (another shard failed, the run was failed
-- `lost`): FAILED `stopped`; a worker still evaluating one is refused at its next write.
UPDATE automation_run_shards AS s
SET state = 'FAILED', error = 'stopped', finished_at = now()
FROM automation_runs AS run
WHERE run.id = s.run_id AND automation_run_is_active(s.state)
  AND NOT automation_run_is_active(run.state)
RETURNING s.id;

-- name: hand_back_shard(id, worker, epoch)^
-- hand_back_run for a shard: SCHEDULED, its republish recorded, its attempt kept.
UPDATE automation_run_shards
SET state = 'SCHEDULED', handed_back = true, claimed_by = NULL, heartbeat_at = NULL,
    published_at = now()
WHERE id = :id AND claimed_by = :worker AND lease_epoch = :epoch AND state = 'EXECUTING'
RETURNING *;

-- name: end_stale_shard_sessions(stale_seconds)$
-- end_stale_sessions for shards (and, before one is taken over, the same for it alone:
-- that shard is among them).
SELECT count(*) FILTER (WHERE pg_terminate_backend(a.pid, 5000))
FROM automation_run_shards s
JOIN pg_stat_activity a ON a.pid = s.backend_pid AND a.backend_start = s.backend_started_at
WHERE s.state = 'EXECUTING'
  AND s.heartbeat_at < now() - make_interval(secs => :stale_seconds::float8)
  AND a.pid <> pg_backend_pid();

-- name: fail_lost_shards(stale_seconds, max_attempts)
-- fail_lost_runs for shards: a shard whose worker stopped beating past its attempts fails
-- `lost`, and so does its run (what every shard committed stays). Answers the runs.
WITH lost AS (
    UPDATE automation_run_shards
    SET state = 'FAILED', error = 'lost', finished_at = now()
    WHERE id IN (
        SELECT id FROM automation_run_shards
        WHERE state = 'EXECUTING'
          AND heartbeat_at < now() - make_interval(secs => :stale_seconds::float8)
          AND attempts >= :max_attempts
        FOR UPDATE SKIP LOCKED)
    RETURNING run_id
)
UPDATE automation_runs
SET state = 'FAILED', error = 'lost', finished_at = now(), claimed_by = NULL
WHERE id IN (SELECT run_id FROM lost) AND state = 'EXECUTING'
RETURNING id;

-- name: mark_shards_for_redelivery(redeliver_seconds, stale_seconds, max_attempts)
-- mark_runs_for_redelivery for the shards of EXECUTING runs: SCHEDULED and not claimed
-- within the lease, or EXECUTING whose worker stopped beating (attempts left) and not
-- republished since; each marked published now, so that exactly one process republishes it.
UPDATE automation_run_shards AS s SET published_at = now()
FROM automation_runs AS run
WHERE run.id = s.run_id AND run.state = 'EXECUTING'
  AND ((s.state = 'SCHEDULED'
        AND (s.published_at IS NULL
             OR s.published_at < now() - make_interval(secs => :redeliver_seconds::float8)))
       OR (s.state = 'EXECUTING' AND s.attempts < :max_attempts
           AND s.heartbeat_at < now() - make_interval(secs => :stale_seconds::float8)
           AND (s.published_at IS NULL OR s.published_at <= s.heartbeat_at
                OR s.published_at < now() - make_interval(secs => :redeliver_seconds::float8))))
RETURNING s.id;
