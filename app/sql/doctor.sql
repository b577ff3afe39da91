-- name: get_server_timezone()$
-- PostgreSQL's TimeZone setting (what `SHOW TimeZone` answers) for this session.
SELECT current_setting('TimeZone');

-- name: list_job_registrations()
-- Every live job (not removed) with its registration in APScheduler's store: whether the row
-- exists and its next run (NULL when paused, or not registered).
SELECT j.id, j.cron, j.timezone, j.enabled,
       a.id IS NOT NULL AS registered,
       CASE WHEN a.next_run_time IS NULL THEN NULL
            ELSE to_timestamp(a.next_run_time) END AS next_run_at
FROM scheduled_jobs AS j
LEFT JOIN apscheduler_jobs AS a ON a.id = j.id
WHERE j.state <> 'REMOVED'
ORDER BY j.seq;

-- name: get_recent_run_activity()^
-- The latest finished run (NULL columns when none), how many runs exist at all, and whether a
-- run.trigger audit entry was written in the last 25 hours (a daily job leaves one a day).
SELECT last.id, last.state, last.error, last.finished_at, last.dry_run,
       (SELECT count(*) FROM automation_runs) AS runs,
       EXISTS (
           SELECT 1 FROM audit_log
           WHERE action = 'run.trigger' AND at > now() - interval '25 hours'
       ) AS triggered_recently
FROM (SELECT 1) AS one
LEFT JOIN LATERAL (
    SELECT r.id, r.state, r.error, r.finished_at, r.dry_run
    FROM automation_runs AS r
    WHERE r.state IN ('COMPLETED', 'FAILED')
    ORDER BY r.finished_at DESC, r.seq DESC
    LIMIT 1
) AS last ON true;

-- name: count_decidable_versions()$
-- How many pending versions the enabled rules ({deciding_rule}: the compiled CASE a run uses,
-- its values from $1 on) would decide now.
SELECT count(*)
FROM versions v
WHERE v.status = 'pending' AND {deciding_rule} IS NOT NULL;

-- name: get_last_run_decisions()^
-- The latest finished non-dry run: the decisions its counters hold and the decision entries
-- (approve, reject, escalate) the audit log holds for it; nothing when there is no such run.
SELECT r.id, r.state,
       r.approved + r.rejected + r.escalated AS counted,
       (SELECT count(*) FROM audit_log AS a
        WHERE a.run_id = r.id AND a.action IN ('approve', 'reject', 'escalate')) AS audited
FROM automation_runs AS r
WHERE NOT r.dry_run AND r.state IN ('COMPLETED', 'FAILED')
ORDER BY r.finished_at DESC, r.seq DESC
LIMIT 1;

-- name: get_database_role()^
-- Who the processes connect as: superuser, the owner of the audit log, and whether that role
-- could change the log by privilege (it should only read and append).
SELECT current_user AS role,
       r.rolsuper AS superuser,
       pg_get_userbyid(c.relowner) = current_user AS owner,
       has_table_privilege('audit_log', 'UPDATE')
           OR has_table_privilege('audit_log', 'DELETE')
           OR has_table_privilege('audit_log', 'TRUNCATE') AS can_change_audit
FROM pg_roles AS r, pg_class AS c
WHERE r.rolname = current_user AND c.oid = 'audit_log'::regclass;
