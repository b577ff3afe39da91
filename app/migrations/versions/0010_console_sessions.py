"""console_sessions: the console's sessions live on the server; the cookie holds a random id.

A row per session, keyed by the SHA-256 of the id the cookie carries (never the id itself, so
a copy of the table opens no session). A session names its token: every request joins the
still-live token, so revoking it ends its sessions at once, and `Sign out` deletes the row.
The api purges expired rows hourly (index on expires_at).

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-09
"""

from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("""
    CREATE TABLE console_sessions (
        session_hash  bytea PRIMARY KEY CHECK (octet_length(session_hash) = 32),
        token_id      integer NOT NULL REFERENCES api_tokens (id) ON DELETE CASCADE,
        role          text NOT NULL CHECK (role IN ('viewer', 'operator', 'admin')),
        csrf          text NOT NULL,
        created_at    timestamptz NOT NULL DEFAULT now(),
        expires_at    timestamptz NOT NULL,
        last_seen_at  timestamptz NOT NULL DEFAULT now()
    );
    CREATE INDEX console_sessions_expires_at ON console_sessions (expires_at);
    CREATE INDEX console_sessions_token_id ON console_sessions (token_id);
    """)


def downgrade() -> None:
    op.execute("DROP TABLE console_sessions;")
