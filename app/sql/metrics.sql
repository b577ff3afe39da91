-- name: get_metric_counts()^
-- What /metrics reports, read at scrape time so that it covers every process. Each field is a
-- small JSON document; every scan is bounded by an index, the runs table or a summary
-- (version_counts, migration 0011).
SELECT
    (SELECT coalesce(jsonb_agg(jsonb_build_object('trigger', trigger, 'state', state, 'n', n)),
                     '[]'::jsonb)
     FROM (SELECT trigger, state, count(*) AS n FROM automation_runs
           GROUP BY trigger, state) AS r) AS runs,
    (SELECT coalesce(jsonb_agg(jsonb_build_object('action', action, 'rule', rule, 'n', n)),
                     '[]'::jsonb)
     FROM (SELECT r ->> 'action' AS action, r ->> 'id' AS rule,
                  sum((run.decisions_by_rule ->> (r ->> 'id'))::bigint) AS n
           FROM automation_runs AS run, jsonb_array_elements(run.rules) AS r
           WHERE NOT run.dry_run AND run.decisions_by_rule ? (r ->> 'id')
           GROUP BY 1, 2) AS d) AS decisions,
    (SELECT jsonb_build_object(
                'topic', coalesce(sum(n) FILTER (WHERE entity_type = 'topic'), 0),
                'atom', coalesce(sum(n) FILTER (WHERE entity_type = 'atom'), 0))
     FROM version_counts WHERE status = 'pending') AS pending,
    (SELECT count(*) FROM automation_runs WHERE state = 'PENDING') AS relay_backlog,
    (SELECT coalesce(jsonb_agg(jsonb_build_object(
                'job', id,
                'lag', greatest(0, extract(epoch FROM now()) - next_run_time))), '[]'::jsonb)
     FROM apscheduler_jobs WHERE next_run_time IS NOT NULL) AS tick_lag,
    (SELECT missed_ticks FROM scheduler_status) AS missed_ticks;

-- name: get_run_durations(bounds)^
-- Finished runs' durations (seconds) as cumulative counts at each bound of :bounds, with
-- their sum and count: a Prometheus histogram computed in SQL.
WITH finished AS (
    SELECT extract(epoch FROM finished_at - started_at)::float8 AS seconds
    FROM automation_runs
    WHERE state IN ('COMPLETED', 'FAILED') AND started_at IS NOT NULL
)
SELECT (SELECT array_agg((SELECT count(*) FROM finished WHERE seconds <= b) ORDER BY b)
        FROM unnest(:bounds::float8[]) AS b) AS buckets,
       (SELECT coalesce(sum(seconds), 0) FROM finished)::float8 AS total_seconds,
       (SELECT count(*) FROM finished) AS runs;
