-- name: get_decision_stats()^
-- Decisions ever made (audit entries approve, reject, escalate), by action, by rule and by
-- person, and the number of enabled live rules. by_rule and by_person are JSON arrays.
WITH decisions AS (
    SELECT action, actor, rule_id FROM audit_log
    WHERE action IN ('approve', 'reject', 'escalate')
), per_rule AS (
    SELECT d.rule_id, r.name, count(*) AS n
    FROM decisions d JOIN automation_rules r ON r.id = d.rule_id
    WHERE d.actor LIKE 'rule:%'
    GROUP BY d.rule_id, r.name
), per_person AS (
    SELECT substr(actor, 6) AS name, count(*) AS n
    FROM decisions WHERE actor LIKE 'user:%'
    GROUP BY actor
)
SELECT
    (SELECT count(*) FROM decisions WHERE action = 'approve') AS approve,
    (SELECT count(*) FROM decisions WHERE action = 'reject') AS reject,
    (SELECT count(*) FROM decisions WHERE action = 'escalate') AS escalate,
    (SELECT count(*) FROM decisions WHERE actor LIKE 'rule:%') AS by_rules,
    (SELECT count(*) FROM decisions) AS total,
    (SELECT coalesce(jsonb_agg(jsonb_build_object('rule_id', rule_id, 'name', name, 'count', n)
                               ORDER BY n DESC, rule_id), '[]'::jsonb) FROM per_rule) AS by_rule,
    (SELECT coalesce(jsonb_agg(jsonb_build_object('name', name, 'count', n)
                               ORDER BY n DESC, name), '[]'::jsonb) FROM per_person) AS by_person,
    (SELECT count(*) FROM automation_rules WHERE enabled AND deleted_at IS NULL) AS active_rules;

-- name: get_decision_trends(days)
-- One row per UTC day for the :days days that end today, zero-filled: decisions by action,
-- by rule and by person (JSON arrays), from the audit log.
WITH days AS (
    SELECT generate_series(
        (now() AT TIME ZONE 'UTC')::date - (:days::int - 1),
        (now() AT TIME ZONE 'UTC')::date,
        interval '1 day')::date AS day
), decisions AS (
    SELECT (a.at AT TIME ZONE 'UTC')::date AS day, a.action, a.actor, a.rule_id
    FROM audit_log a
    WHERE a.action IN ('approve', 'reject', 'escalate')
      AND a.at >= ((now() AT TIME ZONE 'UTC')::date - (:days::int - 1))::timestamp
                   AT TIME ZONE 'UTC'
), per_rule AS (
    SELECT d.day, jsonb_agg(jsonb_build_object('rule_id', d.rule_id, 'name', r.name,
                                               'count', d.n) ORDER BY d.n DESC, d.rule_id) AS list
    FROM (SELECT day, rule_id, count(*) AS n FROM decisions
          WHERE actor LIKE 'rule:%' GROUP BY day, rule_id) AS d
    JOIN automation_rules r ON r.id = d.rule_id
    GROUP BY d.day
), per_person AS (
    SELECT day, jsonb_agg(jsonb_build_object('name', name, 'count', n)
                          ORDER BY n DESC, name) AS list
    FROM (SELECT day, substr(actor, 6) AS name, count(*) AS n FROM decisions
          WHERE actor LIKE 'user:%' GROUP BY day, actor) AS p
    GROUP BY day
), per_action AS (
    SELECT day,
           count(*) FILTER (WHERE action = 'approve') AS approved,
           count(*) FILTER (WHERE action = 'reject') AS rejected,
           count(*) FILTER (WHERE action = 'escalate') AS escalated
    FROM decisions GROUP BY day
)
SELECT days.day AS date,
       coalesce(a.approved, 0) AS approved,
       coalesce(a.rejected, 0) AS rejected,
       coalesce(a.escalated, 0) AS escalated,
       coalesce(r.list, '[]'::jsonb) AS by_rule,
       coalesce(p.list, '[]'::jsonb) AS by_person
FROM days
LEFT JOIN per_action a USING (day)
LEFT JOIN per_rule r USING (day)
LEFT JOIN per_person p USING (day)
ORDER BY days.day;
