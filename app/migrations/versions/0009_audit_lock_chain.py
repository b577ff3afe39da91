"""audit_lock_chain(): take the audit chain's head first, as a sealing transaction does.

A decision batch seals its audit entries (locking the chain's head row to commit) before it
adds its counts to the run's row. A cancel or the brake locks the run's row and then writes
its audit entry (locking the head): the opposite order, a deadlock whenever a cancel lands
between a batch's two statements. The processes' role may not lock the head itself (it holds
no UPDATE on the audit tables), so this owner's function does it for them: the brake and a
cancel call it before they touch a run, and every transaction then takes the locks in one
order (automation_state, the chain's head, the run).

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02
"""

from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    schema = op.get_bind().exec_driver_sql("SELECT quote_ident(current_schema())").scalar()
    op.execute(f"""
    CREATE FUNCTION audit_lock_chain() RETURNS void
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, {schema}, pg_temp AS $fn$
    BEGIN
        PERFORM 1 FROM audit_chain_head WHERE singleton FOR UPDATE;
    END;
    $fn$;
    REVOKE EXECUTE ON FUNCTION audit_lock_chain() FROM PUBLIC;
    """)


def downgrade() -> None:
    op.execute("DROP FUNCTION audit_lock_chain();")
