"""Admin surface: the global brake, and why a run was stopped.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01
"""

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("""
    -- The global brake: while paused, triggers are refused and cron ticks recorded FAILED.
    CREATE TABLE automation_state (
        singleton  boolean PRIMARY KEY DEFAULT true CHECK (singleton),
        paused     boolean NOT NULL DEFAULT false,
        changed_at timestamptz NOT NULL DEFAULT now(),
        changed_by text NOT NULL DEFAULT 'system',
        reason     text
    );
    INSERT INTO automation_state DEFAULT VALUES;

    -- A stop asked of a running run: `cancelled` (a cancel) or `paused` (the brake). The run
    -- ends FAILED with this as its error at its next batch.
    ALTER TABLE automation_runs ADD COLUMN cancel_reason text
        CHECK (cancel_reason IN ('cancelled', 'paused'));
    """)


def downgrade() -> None:
    op.execute("""
    ALTER TABLE automation_runs DROP COLUMN cancel_reason;
    DROP TABLE automation_state;
    """)
