-- name: insert_job(id, name, cron, timezone, task, enabled)^
-- A new job definition (PENDING until the scheduler registers it; :enabled NULL is true);
-- nothing if the id is taken, removed jobs included.
INSERT INTO scheduled_jobs (id, name, cron, timezone, task, enabled)
VALUES (:id, :name, :cron, :timezone, :task, coalesce(:enabled::boolean, true))
ON CONFLICT (id) DO NOTHING
RETURNING id;

-- name: update_job(id, name, cron, timezone, task, enabled)^
-- Replace a live job's definition (:enabled NULL keeps it); nothing if it does not exist or
-- is removed.
UPDATE scheduled_jobs
SET name = :name, cron = :cron, timezone = :timezone, task = :task,
    enabled = coalesce(:enabled::boolean, enabled),
    updated_at = now()
WHERE id = :id AND state <> 'REMOVED'
RETURNING id;

-- name: set_job_enabled(id, enabled)^
-- Pause (false) or resume (true) a live job; nothing if it does not exist or is removed.
UPDATE scheduled_jobs
SET enabled = :enabled, updated_at = now()
WHERE id = :id AND state <> 'REMOVED'
RETURNING id;

-- name: remove_job(id)^
-- Take a live job off the schedule; the row and its runs stay.
UPDATE scheduled_jobs
SET state = 'REMOVED', removed_at = now(), updated_at = now()
WHERE id = :id AND state <> 'REMOVED'
RETURNING id;

-- name: get_job_state(id)$
-- The stored state of a job (PENDING, SCHEDULED, PAUSED, REMOVED), or nothing.
SELECT state FROM scheduled_jobs WHERE id = :id;

-- name: list_job_views(id, removed, after_seq, limit)
-- Jobs as the API shows them, in creation order after a cursor: one job by :id, or all live
-- jobs (:removed false) or the removed ones (:removed true). The derived state comes from the
-- job's runs: an unfinished run makes it EXECUTING, else its last run reports.
SELECT j.seq, j.id, j.name, j.cron, j.timezone, j.task, j.enabled, j.state AS stored_state,
       j.created_at, j.updated_at,
       CASE WHEN a.next_run_time IS NULL THEN NULL
            ELSE to_timestamp(a.next_run_time) END AS next_run_at,
       a.func_ref,
       active.id IS NOT NULL AS has_active_run,
       last.id AS last_run_id, last.state AS last_run_state,
       last.finished_at AS last_run_finished_at
FROM scheduled_jobs AS j
LEFT JOIN apscheduler_jobs AS a ON a.id = j.id
LEFT JOIN LATERAL (
    SELECT r.id FROM automation_runs AS r
    WHERE r.job_id = j.id AND automation_run_is_active(r.state)
    LIMIT 1
) AS active ON true
LEFT JOIN LATERAL (
    SELECT r.id, r.state, r.finished_at FROM automation_runs AS r
    WHERE r.job_id = j.id
    ORDER BY r.seq DESC
    LIMIT 1
) AS last ON true
WHERE (:id::text IS NULL OR j.id = :id::text)
  AND (:id::text IS NOT NULL OR (j.state = 'REMOVED') = :removed::boolean)
  AND j.seq > :after_seq
ORDER BY j.seq
LIMIT :limit;

-- name: list_job_definitions()
-- Every job definition the scheduler must reconcile (removed ones too: it unregisters them),
-- with the latest tick that has a run.
SELECT j.id, j.name, j.cron, j.timezone, j.task, j.enabled, j.state, j.updated_at,
       (SELECT max(r.scheduled_for) FROM automation_runs AS r
        WHERE r.job_id = j.id AND r.trigger = 'cron') AS last_tick
FROM scheduled_jobs AS j
ORDER BY j.seq;

-- name: set_job_registered_state(id, state)!
-- The scheduler registered (SCHEDULED) or paused (PAUSED) a job; a removed job stays removed.
UPDATE scheduled_jobs SET state = :state
WHERE id = :id AND state <> 'REMOVED' AND state <> :state;

-- name: create_cron_run(job_id, scheduled_for)^
-- The run of one tick of a job, recorded FAILED `paused` while the brake is on; nothing if
-- that tick already has its run (another scheduler believed it led at the same moment: the
-- unique (job_id, scheduled_for) fences it).
INSERT INTO automation_runs (trigger, job_id, scheduled_for, state, error, finished_at)
SELECT 'cron', :job_id, :scheduled_for,
       CASE WHEN s.paused THEN 'FAILED' ELSE 'PENDING' END,
       CASE WHEN s.paused THEN 'paused' END,
       CASE WHEN s.paused THEN now() END
FROM (SELECT paused FROM automation_state FOR SHARE) AS s
ON CONFLICT (job_id, scheduled_for) DO NOTHING
RETURNING *;

-- name: try_scheduler_leadership()$
-- Take the scheduler's leader lock on this session if it is free (true when taken).
SELECT pg_try_advisory_lock(hashtextextended('tasktracker.scheduler.leader', 0));

-- name: record_scheduler_leader(host, pid)!
-- The leader says who it is (and which backend holds the lock).
UPDATE scheduler_status
SET leader_host = :host, leader_pid = :pid, leader_since = now(),
    leader_backend = pg_backend_pid(), last_wakeup_at = now();

-- name: record_scheduler_wakeup()$
-- The leader is alive and its connection works; answers the time it recorded.
UPDATE scheduler_status SET last_wakeup_at = now()
WHERE leader_backend = pg_backend_pid()
RETURNING last_wakeup_at;

-- name: count_missed_ticks(count)!
-- Ticks dropped because they were later than the misfire grace.
UPDATE scheduler_status SET missed_ticks = missed_ticks + :count;

-- name: get_scheduler_health()^
-- The leader (only while its backend still holds the lock), its last wake-up, and how many
-- live jobs are defined and registered.
SELECT s.leader_host, s.leader_pid, s.leader_since, s.last_wakeup_at, s.missed_ticks,
       EXISTS (
           SELECT 1 FROM pg_locks AS l
           WHERE l.locktype = 'advisory' AND l.granted AND l.pid = s.leader_backend
             AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
       ) AS leader_alive,
       (SELECT count(*) FROM scheduled_jobs WHERE state <> 'REMOVED') AS jobs_defined,
       (SELECT count(*) FROM apscheduler_jobs) AS jobs_registered
FROM scheduler_status AS s;
