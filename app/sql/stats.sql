-- name: get_decision_stats()^
-- Decisions the audit log holds (entries approve, reject, escalate), by action, by rule and by
-- person, from the decision_counts summary (migration 0011), and the number of enabled live
-- rules. by_rule and by_person are JSON arrays.
WITH decisions AS (
    SELECT action, actor_kind, rule_id, person, sum(n) AS n
    FROM decision_counts
    GROUP BY action, actor_kind, rule_id, person
    HAVING sum(n) <> 0
), per_rule AS (
    SELECT d.rule_id, r.name, sum(d.n) AS n
    FROM decisions d JOIN automation_rules r ON r.id = d.rule_id
    WHERE d.actor_kind = 'rule'
    GROUP BY d.rule_id, r.name
), per_person AS (
    SELECT person AS name, sum(n) AS n
    FROM decisions WHERE actor_kind = 'user'
    GROUP BY person
)
SELECT
    (SELECT coalesce(sum(n), 0) FROM decisions WHERE action = 'approve')::bigint AS approve,
    (SELECT coalesce(sum(n), 0) FROM decisions WHERE action = 'reject')::bigint AS reject,
    (SELECT coalesce(sum(n), 0) FROM decisions WHERE action = 'escalate')::bigint AS escalate,
    (SELECT coalesce(sum(n), 0) FROM decisions WHERE actor_kind = 'rule')::bigint AS by_rules,
    (SELECT coalesce(sum(n), 0) FROM decisions)::bigint AS total,
    (SELECT coalesce(jsonb_agg(jsonb_build_object('rule_id', rule_id, 'name', name, 'count', n)
                               ORDER BY n DESC, rule_id), '[]'::jsonb)
     FROM per_rule WHERE n <> 0) AS by_rule,
    (SELECT coalesce(jsonb_agg(jsonb_build_object('name', name, 'count', n)
                               ORDER BY n DESC, name), '[]'::jsonb)
     FROM per_person WHERE n <> 0) AS by_person,
    (SELECT count(*) FROM automation_rules WHERE enabled AND deleted_at IS NULL) AS active_rules;

-- name: get_decision_trends(days)
-- One row per UTC day for the :days days that end today, zero-filled: decisions by action,
-- by rule and by person (JSON arrays), from the decision_counts summary (migration 0011).
WITH days AS (
    SELECT generate_series(
        (now() AT TIME ZONE 'UTC')::date - (:days::int - 1),
        (now() AT TIME ZONE 'UTC')::date,
        interval '1 day')::date AS day
), decisions AS (
    SELECT day, action, actor_kind, rule_id, person, sum(n) AS n
    FROM decision_counts
    WHERE day >= (now() AT TIME ZONE 'UTC')::date - (:days::int - 1)
    GROUP BY day, action, actor_kind, rule_id, person
    HAVING sum(n) <> 0
), per_rule AS (
    SELECT d.day, jsonb_agg(jsonb_build_object('rule_id', d.rule_id, 'name', r.name,
                                               'count', d.n) ORDER BY d.n DESC, d.rule_id) AS list
    FROM (SELECT day, rule_id, sum(n) AS n FROM decisions
          WHERE actor_kind = 'rule' GROUP BY day, rule_id HAVING sum(n) <> 0) AS d
    JOIN automation_rules r ON r.id = d.rule_id
    GROUP BY d.day
), per_person AS (
    SELECT day, jsonb_agg(jsonb_build_object('name', name, 'count', n)
                          ORDER BY n DESC, name) AS list
    FROM (SELECT day, person AS name, sum(n) AS n FROM decisions
          WHERE actor_kind = 'user' GROUP BY day, person HAVING sum(n) <> 0) AS p
    GROUP BY day
), per_action AS (
    SELECT day,
           coalesce(sum(n) FILTER (WHERE action = 'approve'), 0)::bigint AS approved,
           coalesce(sum(n) FILTER (WHERE action = 'reject'), 0)::bigint AS rejected,
           coalesce(sum(n) FILTER (WHERE action = 'escalate'), 0)::bigint AS escalated
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
