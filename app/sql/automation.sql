-- name: lock_versions_for_scope()!
-- In fix_run_scope's transaction, before it: wait for the transactions writing versions to
-- end and hold new ones back until the scope is fixed, so that no version with an id at or
-- below the run's max_version_id commits after it (ids come from a sequence: a lower id can
-- commit later). Bounded by the transaction's lock_timeout.
LOCK TABLE versions IN SHARE MODE;

-- name: fix_run_scope(id, worker, epoch, rules, engine, ages, closed)^
-- At the first claim, fix what every attempt evaluates: the enabled rules as they are
-- (:rules, in evaluation order, and their digest, with the evaluation's own revision
-- :engine), the instant age_hours is measured at,
-- the highest pending id, and the scope: the id ranges to evaluate. The scope is everything
-- up to the highest pending id, unless the last run that COMPLETED (not dry, not capped) did
-- so under the same rules with its scope closed (:closed, lock_versions_for_scope taken):
-- then every version pending at or below its max_version_id was left undecided by these
-- rules, and the scope is the ids above it, plus the pending ids at or below it whose age
-- crossed one of :ages (the thresholds of the rules' age_hours leaves, in hours) between its
-- evaluated_at and now (a second either side: age_hours is a float). docs/performance.md,
-- "What a run evaluates".
WITH fixed AS (
    SELECT (SELECT coalesce(max(id), 0) FROM versions WHERE status = 'pending') AS max_id,
           md5(:engine::int4 || ':' || :rules::jsonb::text) AS digest
), previous AS (
    SELECT p.max_version_id, p.evaluated_at, p.rules_digest, p.scope_closed
    FROM automation_runs AS p
    WHERE p.state = 'COMPLETED' AND NOT p.dry_run AND NOT p.capped AND p.id <> :id
    ORDER BY p.finished_at DESC
    LIMIT 1
), seen AS (
    SELECT CASE WHEN p.scope_closed AND p.rules_digest = f.digest
                THEN least(p.max_version_id, f.max_id) ELSE 0 END AS upto,
           p.evaluated_at
    FROM fixed AS f LEFT JOIN previous AS p ON true
), windows AS (
    SELECT unnest(merged.windows) AS window
    FROM (SELECT range_agg(tstzrange(
                     s.evaluated_at - make_interval(secs => a.hours * 3600 + 1),
                     now() - make_interval(secs => a.hours * 3600 - 1), '[]')) AS windows
          FROM seen AS s CROSS JOIN unnest(:ages::float8[]) AS a(hours)
          WHERE s.upto > 0) AS merged
), aged_ids AS (
    -- Each window read through versions_pending_created_idx (OFFSET 0 keeps the id bound out
    -- of the subquery: with it the planner would walk the whole pending id index instead).
    SELECT DISTINCT v.id
    FROM windows AS w
    CROSS JOIN LATERAL (
        SELECT p.id FROM versions AS p
        WHERE p.status = 'pending'
          AND p.created_at >= lower(w.window) AND p.created_at <= upper(w.window)
        OFFSET 0
    ) AS v
    CROSS JOIN seen AS s
    WHERE v.id <= s.upto
), aged AS (
    -- The aged ids as ranges, a new one past a gap of 1,000 ids: a range costs its batch
    -- statement (~1 ms, about what evaluating a hundred versions costs), a gap the versions
    -- in it. Ids follow created_at, so a window is usually one range.
    SELECT int8range(min(id), max(id), '[]') AS ids
    FROM (SELECT id, count(*) FILTER (WHERE id - prev > 1000) OVER (ORDER BY id) AS island
          FROM (SELECT id, lag(id) OVER (ORDER BY id) AS prev FROM aged_ids) AS a) AS i
    GROUP BY island
), scope AS (
    SELECT coalesce(range_agg(r.ids), '{}'::int8multirange) AS ids
    FROM (SELECT int8range(s.upto, f.max_id, '(]') AS ids FROM seen AS s CROSS JOIN fixed AS f
          UNION ALL
          SELECT ids FROM aged) AS r
)
UPDATE automation_runs AS run
SET max_version_id = coalesce(run.max_version_id, (SELECT max_id FROM fixed)),
    evaluated_at = coalesce(run.evaluated_at, now()),
    rules = coalesce(run.rules, :rules::jsonb),
    rules_digest = coalesce(run.rules_digest, (SELECT digest FROM fixed)),
    scope_closed = CASE WHEN run.scope IS NULL THEN :closed ELSE run.scope_closed END,
    scope = coalesce(run.scope, (SELECT ids FROM scope))
WHERE run.id = :id AND run.claimed_by = :worker AND run.lease_epoch = :epoch
  AND run.state = 'EXECUTING'
RETURNING *;

-- name: list_run_scope(id, after_id, max_id)
-- The id ranges of the run's scope within after_id < id <= max_id (a shard's range, or the
-- rest of a run), in order, each as (after_id, upto_id]: what the batches walk.
SELECT greatest(lower(r) - 1, :after_id::int8) AS after_id,
       least(upper(r) - 1, :max_id::int8) AS upto_id
FROM automation_runs AS run, unnest(automation_run_scope(run.scope, run.max_version_id)) AS r
WHERE run.id = :id AND upper(r) - 1 > :after_id::int8 AND lower(r) - 1 < :max_id::int8
ORDER BY lower(r);

-- name: count_pending_in_scope(id, after_id)$
-- Pending versions of the run's scope with an id above after_id (what it still evaluates):
-- each range counted by its own index range scan (a join would scan every pending version).
SELECT coalesce(sum(c.n), 0)::int8
FROM automation_runs AS run
CROSS JOIN unnest(automation_run_scope(run.scope, run.max_version_id)) AS r
CROSS JOIN LATERAL (
    SELECT count(*) AS n FROM versions AS v
    WHERE v.status = 'pending' AND v.id >= lower(r) AND v.id < upper(r) AND v.id > :after_id
) AS c
WHERE run.id = :id;

-- name: park_run(id)$
-- A non-dry run whose turn has not come (another non-dry run is EXECUTING) waits in the
-- database, not in a consumer slot: SCHEDULED with no message in flight, woken by the end of
-- the active run or by a reaper (mark_leases_for_redelivery). Answers whether it was parked.
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

-- Shards (SPEC 6.3): a large run is split at its first claim into id ranges of about equal
-- pending count, each a lease of its own (see Leases, below); the run's batches are its
-- shards', fenced in decide_batch ($13).

-- name: split_run(id, worker, epoch, shards, pending)
-- Split the run this worker holds (not split yet; :pending versions pending in its scope)
-- into :shards id ranges of about equal pending count, each a SCHEDULED shard; the run stays
-- EXECUTING, its lease passed to its shards (claimed_by NULL: nobody holds the run itself). The bounds
-- are the pending ids at every (pending / shards)-th place, each found by an index-only
-- scan of versions_pending_idx (cheaper than ranking every id). Answers the shards' ids
-- (none: the lease was lost, or the run was split already).
WITH run AS (
    UPDATE automation_runs
    SET shards = :shards, claimed_by = NULL, backend_pid = NULL, backend_started_at = NULL,
        heartbeat_at = clock_timestamp()
    WHERE id = :id AND claimed_by = :worker AND lease_epoch = :epoch AND state = 'EXECUTING'
      AND shards = 0
    RETURNING id, last_version_id, max_version_id, scope
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
                        AND v.id <@ automation_run_scope(run.scope, run.max_version_id)
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

-- name: get_shard(id)^
-- One shard.
SELECT * FROM automation_run_shards WHERE id = :id;

-- name: list_shards(run_id)
-- A run's shards in order.
SELECT * FROM automation_run_shards WHERE run_id = :run_id ORDER BY shard_no;

-- name: lock_run_of_shard(id)$
-- Before a shard ends: lock its run, so that of two shards ending at once the second sees
-- the first's end (and exactly one of them concludes the run).
SELECT run.id FROM automation_runs AS run
JOIN automation_run_shards AS s ON s.run_id = run.id
WHERE s.id = :id
FOR UPDATE OF run;

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
-- Called with the run's row locked (the shard that ended it), it skips the shards whose
-- row another transaction holds (a batch, a claim: they lock the shard before the run, so
-- waiting here would deadlock); the reaper's next round stops those.
UPDATE automation_run_shards AS s
SET state = 'FAILED', error = 'stopped', finished_at = now()
WHERE s.id IN (
    SELECT shard.id FROM automation_run_shards AS shard
    JOIN automation_runs AS run ON run.id = shard.run_id
    WHERE automation_run_is_active(shard.state) AND NOT automation_run_is_active(run.state)
    FOR UPDATE OF shard SKIP LOCKED)
RETURNING s.id;

-- Leases (SPEC 4 and 6.3). A run, and each shard of a split run, is a lease:
-- automation_leases (migration 0008) is the parent of automation_runs and
-- automation_run_shards by table inheritance and holds the lease's columns, so that each verb
-- below is one statement over both kinds of row. A lease is claimed as a new epoch on the
-- session that evaluates it, kept by its heartbeat (judged by the database's clock), fenced
-- by every write of its worker (worker and epoch), handed back, taken over when stale,
-- republished and failed `lost` by the reapers. A split run's lease passed to its shards:
-- its claimed_by is NULL, so it is never taken over, republished or failed `lost` itself.

-- name: claim_lease(id, worker, stale_seconds, max_attempts)^
-- Take a run or a shard to evaluate, as a lease of a new epoch on this session: PENDING or
-- SCHEDULED, or EXECUTING whose worker stopped beating (attempts left; past them the reaper
-- fails it `lost`). A claim counts as an attempt unless the lease was handed back. A non-dry
-- run is taken only while no other non-dry run is EXECUTING (the unique index
-- automation_runs_one_evaluating settles two claims at once); a shard only while its run is
-- EXECUTING. Answers the kind of row (its table) and the new epoch.
UPDATE automation_leases AS l
SET state = 'EXECUTING',
    attempts = l.attempts + CASE WHEN l.handed_back THEN 0 ELSE 1 END,
    handed_back = false, claimed_by = :worker, lease_epoch = l.lease_epoch + 1,
    backend_pid = pg_backend_pid(),
    backend_started_at = (SELECT backend_start FROM pg_stat_activity
                          WHERE pid = pg_backend_pid()),
    heartbeat_at = clock_timestamp(), started_at = coalesce(l.started_at, now())
WHERE l.id = :id
  AND (l.state IN ('PENDING', 'SCHEDULED')
       OR (l.state = 'EXECUTING' AND l.claimed_by IS NOT NULL AND l.attempts < :max_attempts
           AND l.heartbeat_at < now() - make_interval(secs => :stale_seconds::float8)))
  AND CASE l.tableoid
        WHEN 'automation_runs'::regclass THEN EXISTS (
            SELECT 1 FROM automation_runs AS r
            WHERE r.id = l.id AND (r.dry_run OR NOT EXISTS (
                SELECT 1 FROM automation_runs AS other
                WHERE other.state = 'EXECUTING' AND NOT other.dry_run AND other.id <> r.id)))
        ELSE EXISTS (
            SELECT 1 FROM automation_run_shards AS s
            JOIN automation_runs AS run ON run.id = s.run_id
            WHERE s.id = l.id AND run.state = 'EXECUTING') END
RETURNING l.tableoid::regclass::text AS kind, l.lease_epoch;

-- name: note_shard_claim(id)^
-- After a shard's claim, in its transaction: a split run's attempts are the most any of its
-- shards took. Answers how long ago the run started (its one deadline, by the database's
-- clock).
-- (The run's row is written only when its attempts rise: a takeover, not every claim.)
WITH raised AS (
    UPDATE automation_runs AS run SET attempts = s.attempts
    FROM automation_run_shards AS s
    WHERE s.id = :id AND run.id = s.run_id AND s.attempts > run.attempts
    RETURNING run.id
)
SELECT extract(epoch FROM clock_timestamp() - run.started_at)::float8 AS run_age_seconds
FROM automation_runs AS run
JOIN automation_run_shards AS s ON s.run_id = run.id
WHERE s.id = :id;

-- name: beat_lease(id, run_id, worker, epoch)$
-- The worker is alive and still holds the lease (of run :run_id, or of one of its shards);
-- answers whether the run was asked to stop (NULL: the lease was taken over, or the run
-- ended).
UPDATE automation_leases AS l SET heartbeat_at = clock_timestamp()
WHERE l.id = :id AND l.claimed_by = :worker AND l.lease_epoch = :epoch
  AND l.state = 'EXECUTING'
RETURNING (SELECT run.cancel_requested_at IS NOT NULL FROM automation_runs AS run
           WHERE run.id = :run_id AND run.state = 'EXECUTING');

-- name: finish_lease(id, worker, epoch, state, error, capped)^
-- End a lease this worker holds: COMPLETED, or FAILED with its error. A stopped run
-- ("cancelled") takes the reason it was stopped for, a cancel or the brake ("paused"); a
-- stopped shard passes "cancelled" on to its run (conclude_split_run). Answers its kind.
UPDATE automation_leases AS l
SET state = :state,
    error = CASE WHEN :error = 'cancelled'
                 THEN coalesce((SELECT run.cancel_reason FROM automation_runs AS run
                                WHERE run.id = l.id), 'cancelled')
                 ELSE :error END,
    capped = :capped, finished_at = now(), heartbeat_at = now()
WHERE l.id = :id AND l.claimed_by = :worker AND l.lease_epoch = :epoch
  AND l.state = 'EXECUTING'
RETURNING l.tableoid::regclass::text AS kind;

-- name: hand_back_lease(id, worker, epoch)$
-- A worker that is stopping returns the lease to the queue: SCHEDULED, its republish
-- recorded (so the lease redelivers it if that publish fails). Its attempts stay as they are
-- (what it decided is counted); the next claim does not count a new one. Answers whether it
-- was still this worker's.
UPDATE automation_leases
SET state = 'SCHEDULED', handed_back = true, claimed_by = NULL, heartbeat_at = NULL,
    published_at = now()
WHERE id = :id AND claimed_by = :worker AND lease_epoch = :epoch AND state = 'EXECUTING'
RETURNING true;

-- name: end_stale_sessions(id, stale_seconds)$
-- End the sessions of the leases whose worker stopped beating (a frozen worker keeps its TCP
-- link, its transaction and its locks), waiting up to 5 s for each to go: all of them (the
-- reaper's round), or :id's alone (before it is taken over). The backend's start time guards
-- against a reused pid. Answers how many.
SELECT count(*) FILTER (WHERE pg_terminate_backend(a.pid, 5000))
FROM automation_leases AS l
JOIN pg_stat_activity AS a ON a.pid = l.backend_pid AND a.backend_start = l.backend_started_at
WHERE l.state = 'EXECUTING' AND (:id::uuid IS NULL OR l.id = :id::uuid)
  AND l.heartbeat_at < now() - make_interval(secs => :stale_seconds::float8)
  AND a.pid <> pg_backend_pid();

-- name: fail_lost_leases(stale_seconds, max_attempts)
-- Leases whose worker stopped beating and that used up their attempts fail `lost` (rows
-- still locked by a session being ended are left to the next round); so does the run of a
-- lost shard (what every shard committed stays). Answers the runs.
WITH lost AS (
    UPDATE automation_leases
    SET state = 'FAILED', error = 'lost', finished_at = now()
    WHERE id IN (
        SELECT id FROM automation_leases
        WHERE state = 'EXECUTING' AND claimed_by IS NOT NULL
          AND heartbeat_at < now() - make_interval(secs => :stale_seconds::float8)
          AND attempts >= :max_attempts
        FOR UPDATE SKIP LOCKED)
    RETURNING id, tableoid
), runs_of_lost_shards AS (
    UPDATE automation_runs
    SET state = 'FAILED', error = 'lost', finished_at = now()
    WHERE id IN (SELECT s.run_id FROM automation_run_shards AS s JOIN lost ON lost.id = s.id)
      AND state = 'EXECUTING'
    RETURNING id
)
SELECT id FROM lost WHERE tableoid = 'automation_runs'::regclass
UNION
SELECT id FROM runs_of_lost_shards;

-- name: mark_leases_for_redelivery(redeliver_seconds, stale_seconds, max_attempts)
-- The runs and shards that need a new wake-up message, each marked published now so that of
-- several processes asking at once exactly one gets it (the second's UPDATE re-reads
-- published_at): a lease whose worker stopped beating (attempts left) and that was not
-- republished since; a shard of an EXECUTING run, or a dry run, SCHEDULED and not claimed
-- within the lease; the oldest non-dry SCHEDULED run not claimed within the lease or
-- parked, once no non-dry run is EXECUTING.
UPDATE automation_leases AS l SET published_at = now()
WHERE l.id IN (
    SELECT id FROM automation_leases
    WHERE state = 'EXECUTING' AND claimed_by IS NOT NULL AND attempts < :max_attempts
      AND heartbeat_at < now() - make_interval(secs => :stale_seconds::float8)
    UNION ALL
    SELECT s.id FROM automation_run_shards AS s
    JOIN automation_runs AS run ON run.id = s.run_id
    WHERE s.state = 'SCHEDULED' AND run.state = 'EXECUTING'
    UNION ALL
    SELECT id FROM automation_runs WHERE state = 'SCHEDULED' AND dry_run
    UNION ALL
    (SELECT id FROM automation_runs
     WHERE state = 'SCHEDULED' AND NOT dry_run
       AND (published_at IS NULL
            OR published_at < now() - make_interval(secs => :redeliver_seconds::float8))
       AND NOT EXISTS (SELECT 1 FROM automation_runs AS e
                       WHERE e.state = 'EXECUTING' AND NOT e.dry_run)
     ORDER BY seq
     LIMIT 1))
  AND (l.published_at IS NULL
       OR l.published_at < now() - make_interval(secs => :redeliver_seconds::float8)
       OR (l.state = 'EXECUTING' AND l.published_at <= l.heartbeat_at))
RETURNING l.id;
