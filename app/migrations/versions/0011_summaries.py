"""Summaries kept in the decisions' own transactions, and the indexes the audit filters need.

Two summary tables, written only by statement-level AFTER triggers (transition tables), so
that every path that changes versions or the audit log (a run's batch, a person's decision, a
submission, the retention purge) keeps them exact without knowing of them:

- `version_counts` (status, entity_type, n): versions per status and type;
- `decision_counts` (day, action, actor_kind, rule_id, person, n): audit entries that are
  decisions (approve, reject, escalate) per UTC day and action, by rule (`rule:` actors, with
  the entry's rule_id) or by person (`user:` actors, the name after the prefix).

Writers only append delta rows (an INSERT ... SELECT grouped over the statement's rows; no
shared counter row is updated, so concurrent shards' batches never wait on each other here).
Readers sum the rows of a key. `summaries_compact()` folds each table's rows into one per key
in one statement (DELETE ... RETURNING feeding an INSERT of the sums): a concurrent writer's
rows it cannot see stay as they are, so no delta is lost or counted twice.

The trigger functions and the compaction are the owner's (SECURITY DEFINER, fixed
search_path): the processes' role reads the summaries and may call the compaction, never write
them. The trigger functions take their summary table's name as an argument, so that the
benchmark's floor pays the same rollup on its copies (bench/floors.py).

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07
"""

from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

# One delta row per (status, entity_type) the statement changed: +1 per new row, -1 per old
# one; an UPDATE that leaves a row's status as it was adds nothing (the sums cancel).
VERSION_COUNTS_FUNCTION = """
CREATE FUNCTION versions_count_change() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER AS $fn$
BEGIN
    IF TG_OP = 'INSERT' THEN
        EXECUTE format(
            'INSERT INTO %I (status, entity_type, n)'
            ' SELECT status, entity_type, count(*) FROM new_versions GROUP BY 1, 2',
            TG_ARGV[0]);
    ELSIF TG_OP = 'UPDATE' THEN
        EXECUTE format(
            'INSERT INTO %I (status, entity_type, n)'
            ' SELECT status, entity_type, sum(n) FROM ('
            '   SELECT status, entity_type, -1 AS n FROM old_versions'
            '   UNION ALL SELECT status, entity_type, 1 FROM new_versions) AS d'
            ' GROUP BY 1, 2 HAVING sum(n) <> 0',
            TG_ARGV[0]);
    ELSIF TG_OP = 'DELETE' THEN
        EXECUTE format(
            'INSERT INTO %I (status, entity_type, n)'
            ' SELECT status, entity_type, -count(*) FROM old_versions GROUP BY 1, 2',
            TG_ARGV[0]);
    ELSE  -- TRUNCATE
        EXECUTE format('DELETE FROM %I', TG_ARGV[0]);
    END IF;
    RETURN NULL;
END;
$fn$;
"""

# The decisions among the statement's audit entries, grouped by the key the stats and trends
# read: +count on INSERT, -count on DELETE (the retention purge: stats count what the log
# still holds, as before).
DECISION_KEY = """
    (e.at AT TIME ZONE 'UTC')::date,
    e.action,
    CASE WHEN e.actor LIKE 'rule:%' THEN 'rule'
         WHEN e.actor LIKE 'user:%' THEN 'user' ELSE 'other' END,
    CASE WHEN e.actor LIKE 'rule:%' THEN e.rule_id END,
    CASE WHEN e.actor LIKE 'user:%' THEN substr(e.actor, 6) END
"""

# The key again, inside format()'s string literal: quotes doubled, % escaped.
QUOTED_KEY = DECISION_KEY.replace("'", "''").replace("%", "%%")

DECISION_COUNTS_FUNCTION = f"""
CREATE FUNCTION audit_log_count_decisions() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER AS $fn$
BEGIN
    EXECUTE format(
        'INSERT INTO %I (day, action, actor_kind, rule_id, person, n)'
        ' SELECT {QUOTED_KEY}, %s FROM %I AS e'
        ' WHERE e.action IN (''approve'', ''reject'', ''escalate'')'
        ' GROUP BY 1, 2, 3, 4, 5',
        TG_ARGV[0],
        CASE TG_OP WHEN 'INSERT' THEN 'count(*)' ELSE '-count(*)' END,
        CASE TG_OP WHEN 'INSERT' THEN 'new_entries' ELSE 'old_entries' END);
    RETURN NULL;
END;
$fn$;
"""  # noqa: S608 - constant SQL fragments, no input

# Folds each summary's delta rows into one row per key, in one statement per table: the rows
# this statement's snapshot sees are deleted and their sums inserted by the same transaction
# (readers see either the deltas or the sums, never both); rows a concurrent writer commits
# meanwhile are not seen, so they stay, and a concurrent compaction skips the rows this one
# deleted. An advisory lock keeps a second compaction from doing the same work. Keys that sum
# to zero go.
COMPACT_FUNCTION = """
CREATE FUNCTION summaries_compact(OUT folded bigint)
LANGUAGE plpgsql SECURITY DEFINER AS $fn$
DECLARE
    more bigint;
BEGIN
    folded := 0;
    IF NOT pg_try_advisory_xact_lock(hashtextextended('tasktracker.summaries.compact', 0)) THEN
        RETURN;
    END IF;
    WITH gone AS (
        DELETE FROM version_counts RETURNING status, entity_type, n
    ), summed AS (
        INSERT INTO version_counts (status, entity_type, n)
        SELECT status, entity_type, sum(n) FROM gone GROUP BY 1, 2 HAVING sum(n) <> 0
    )
    SELECT count(*) INTO folded FROM gone;
    WITH gone AS (
        DELETE FROM decision_counts RETURNING day, action, actor_kind, rule_id, person, n
    ), summed AS (
        INSERT INTO decision_counts (day, action, actor_kind, rule_id, person, n)
        SELECT day, action, actor_kind, rule_id, person, sum(n) FROM gone
        GROUP BY 1, 2, 3, 4, 5 HAVING sum(n) <> 0
    )
    SELECT count(*) INTO more FROM gone;
    folded := folded + more;
END;
$fn$;
"""


def upgrade() -> None:
    schema = op.get_bind().exec_driver_sql("SELECT quote_ident(current_schema())").scalar()
    path = f"pg_catalog, {schema}, pg_temp"
    op.execute(f"""
    CREATE TABLE version_counts (
        status      text NOT NULL,
        entity_type text NOT NULL,
        n           bigint NOT NULL
    );
    CREATE TABLE decision_counts (
        day         date NOT NULL,
        action      text NOT NULL,
        actor_kind  text NOT NULL CHECK (actor_kind IN ('rule', 'user', 'other')),
        rule_id     integer,
        person      text,
        n           bigint NOT NULL
    );
    CREATE INDEX decision_counts_day_idx ON decision_counts (day);

    {VERSION_COUNTS_FUNCTION}
    ALTER FUNCTION versions_count_change() SET search_path = {path};
    REVOKE EXECUTE ON FUNCTION versions_count_change() FROM PUBLIC;
    {DECISION_COUNTS_FUNCTION}
    ALTER FUNCTION audit_log_count_decisions() SET search_path = {path};
    ALTER FUNCTION audit_log_count_decisions() SET TimeZone = 'UTC';
    REVOKE EXECUTE ON FUNCTION audit_log_count_decisions() FROM PUBLIC;
    {COMPACT_FUNCTION}
    ALTER FUNCTION summaries_compact() SET search_path = {path};
    REVOKE EXECUTE ON FUNCTION summaries_compact() FROM PUBLIC;

    -- Each trigger locks its table against writes until this migration commits, so the
    -- backfill below counts exactly what the triggers will not.
    CREATE TRIGGER versions_count_insert
        AFTER INSERT ON versions REFERENCING NEW TABLE AS new_versions
        FOR EACH STATEMENT EXECUTE FUNCTION versions_count_change('version_counts');
    CREATE TRIGGER versions_count_update
        AFTER UPDATE ON versions REFERENCING OLD TABLE AS old_versions NEW TABLE AS new_versions
        FOR EACH STATEMENT EXECUTE FUNCTION versions_count_change('version_counts');
    CREATE TRIGGER versions_count_delete
        AFTER DELETE ON versions REFERENCING OLD TABLE AS old_versions
        FOR EACH STATEMENT EXECUTE FUNCTION versions_count_change('version_counts');
    CREATE TRIGGER versions_count_truncate
        AFTER TRUNCATE ON versions
        FOR EACH STATEMENT EXECUTE FUNCTION versions_count_change('version_counts');
    CREATE TRIGGER audit_log_count_insert
        AFTER INSERT ON audit_log REFERENCING NEW TABLE AS new_entries
        FOR EACH STATEMENT EXECUTE FUNCTION audit_log_count_decisions('decision_counts');
    CREATE TRIGGER audit_log_count_delete
        AFTER DELETE ON audit_log REFERENCING OLD TABLE AS old_entries
        FOR EACH STATEMENT EXECUTE FUNCTION audit_log_count_decisions('decision_counts');

    INSERT INTO version_counts (status, entity_type, n)
    SELECT status, entity_type, count(*) FROM versions GROUP BY 1, 2;
    INSERT INTO decision_counts (day, action, actor_kind, rule_id, person, n)
    SELECT {DECISION_KEY}, count(*) FROM audit_log AS e
    WHERE e.action IN ('approve', 'reject', 'escalate')
    GROUP BY 1, 2, 3, 4, 5;

    -- The audit filters people use, each served with its order (id DESC) and cursor by one
    -- index: run, version, actor, action (rule_id's (rule_id, id) exists; time: the BRIN on
    -- at, or the primary key backwards for recent windows). Actor and action are partial:
    -- the rules' decisions, nearly every entry, are not in them (each index is paid once per
    -- decision); those actors and actions are dense in the log, so the primary key read
    -- backwards meets them at once, and a rule's decisions have (rule_id, id).
    DROP INDEX audit_log_run_id_idx;
    CREATE INDEX audit_log_run_id_idx ON audit_log (run_id, id);
    DROP INDEX audit_log_version_id_idx;
    CREATE INDEX audit_log_version_id_idx ON audit_log (version_id, id);
    CREATE INDEX audit_log_actor_idx ON audit_log (actor, id) WHERE actor NOT LIKE 'rule:%';
    CREATE INDEX audit_log_action_idx ON audit_log (action, id)
        WHERE action NOT IN ('approve', 'reject', 'escalate');

    -- Pending counts by type from the index alone (an index-only scan).
    DROP INDEX versions_pending_idx;
    CREATE INDEX versions_pending_idx ON versions (id) INCLUDE (entity_type)
        WHERE status = 'pending';
    """)  # noqa: S608 - constant SQL and the schema's quote_ident'ed name


def downgrade() -> None:
    op.execute("""
    DROP INDEX versions_pending_idx;
    CREATE INDEX versions_pending_idx ON versions (id) WHERE status = 'pending';
    DROP INDEX audit_log_action_idx;
    DROP INDEX audit_log_actor_idx;
    DROP INDEX audit_log_version_id_idx;
    CREATE INDEX audit_log_version_id_idx ON audit_log (version_id);
    DROP INDEX audit_log_run_id_idx;
    CREATE INDEX audit_log_run_id_idx ON audit_log (run_id);
    DROP TRIGGER audit_log_count_delete ON audit_log;
    DROP TRIGGER audit_log_count_insert ON audit_log;
    DROP TRIGGER versions_count_truncate ON versions;
    DROP TRIGGER versions_count_delete ON versions;
    DROP TRIGGER versions_count_update ON versions;
    DROP TRIGGER versions_count_insert ON versions;
    DROP FUNCTION summaries_compact();
    DROP FUNCTION audit_log_count_decisions();
    DROP FUNCTION versions_count_change();
    DROP TABLE decision_counts;
    DROP TABLE version_counts;
    """)
