"""Run shards: a large run's id range split into shards, each a lease of its own.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02
"""

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("""
    -- How many shards the run was split into at its first claim (0: not split; the run row is
    -- its own lease). A split run stays EXECUTING while its shards evaluate; its counters are
    -- the sums of every shard's batches, written by the batches themselves.
    ALTER TABLE automation_runs ADD COLUMN shards integer NOT NULL DEFAULT 0;

    -- One id range of a split run: a message and a lease of its own, with the same lease
    -- columns and conditions as a run's (state, attempts, handed_back, claimed_by,
    -- lease_epoch, backend, heartbeat_at, published_at).
    CREATE TABLE automation_run_shards (
        id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        run_id          uuid NOT NULL REFERENCES automation_runs (id),
        shard_no        integer NOT NULL,
        after_id        bigint NOT NULL,          -- the range: after_id < id <= max_version_id
        max_version_id  bigint NOT NULL,
        pending         integer NOT NULL,         -- pending in the range at the split
        state           text NOT NULL DEFAULT 'SCHEDULED' CHECK (
                            state IN ('PENDING', 'SCHEDULED', 'EXECUTING', 'COMPLETED', 'FAILED')),
        attempts        integer NOT NULL DEFAULT 0,
        handed_back     boolean NOT NULL DEFAULT false,
        claimed_by      text,
        lease_epoch     bigint NOT NULL DEFAULT 0,
        backend_pid     integer,
        backend_started_at timestamptz,
        heartbeat_at    timestamptz,
        published_at    timestamptz,
        started_at      timestamptz,
        finished_at     timestamptz,
        last_version_id bigint NOT NULL,          -- progress: batches done up to this id
        evaluated       integer NOT NULL DEFAULT 0,
        decided         integer NOT NULL DEFAULT 0,
        capped          boolean NOT NULL DEFAULT false,
        error           text,
        CONSTRAINT automation_run_shards_run_no_key UNIQUE (run_id, shard_no),
        CONSTRAINT automation_run_shards_final_has_finish CHECK (
            state NOT IN ('COMPLETED', 'FAILED') OR finished_at IS NOT NULL)
    );
    CREATE INDEX automation_run_shards_active_idx ON automation_run_shards (state)
        WHERE state IN ('PENDING', 'SCHEDULED', 'EXECUTING');
    """)


def downgrade() -> None:
    op.execute("""
    DROP TABLE automation_run_shards;
    ALTER TABLE automation_runs DROP COLUMN shards;
    """)
