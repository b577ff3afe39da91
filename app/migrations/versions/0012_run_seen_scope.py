"""A run's cost follows what changed: the scope a run evaluates is a set of id ranges.

`rules_digest` is a hash of the run's rules snapshot (evaluation order, ids, revisions,
priorities, actions, conditions); `scope_closed` says that no version with an id at or below
the run's max_version_id could commit after its scope was fixed (the scope was fixed under a
SHARE lock on versions); `scope` holds the id ranges the run evaluates (everything up to
max_version_id, or, after a completed run under the same rules, only the new ids and the
pending versions whose age crossed a threshold of an `age_hours` rule). The partial index on
created_at finds those; a decided version leaves it like versions_pending_idx (docs/
performance.md, "What a run evaluates").

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07
"""

from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("""
    ALTER TABLE automation_runs
        ADD COLUMN rules_digest text,
        ADD COLUMN scope_closed boolean NOT NULL DEFAULT false,
        ADD COLUMN scope int8multirange;
    CREATE INDEX automation_runs_completed_idx ON automation_runs (finished_at)
        WHERE state = 'COMPLETED' AND NOT dry_run AND NOT capped;
    CREATE INDEX versions_pending_created_idx ON versions (created_at)
        WHERE status = 'pending';
    -- A run's scope; a run whose scope was fixed before this migration: all up to its max.
    CREATE FUNCTION automation_run_scope(scope int8multirange, max_version_id bigint)
    RETURNS int8multirange LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN coalesce(scope, int8multirange(int8range(0, max_version_id, '(]')));
    """)


def downgrade() -> None:
    op.execute("""
    DROP FUNCTION automation_run_scope(int8multirange, bigint);
    DROP INDEX versions_pending_created_idx;
    DROP INDEX automation_runs_completed_idx;
    ALTER TABLE automation_runs
        DROP COLUMN scope,
        DROP COLUMN scope_closed,
        DROP COLUMN rules_digest;
    """)
