"""The trusted audit log: entries sealed in commit order by a SHA-256 hash chain, the purge as
an owner's function that deletes only expired seals in bounded batches, no session setting
that opens the log.

The canonical form hashed here is documented in docs/audit.md and recomputed, independently,
by app/audit/canonical.py: change one and the other together.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02
"""

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

# One entry's canonical line (docs/audit.md): PostgreSQL's text form of the row of its fields
# in this order (record_out: a field quoted when empty or holding a quote, backslash,
# parenthesis, comma or white space, quotes and backslashes doubled inside; NULL as nothing),
# the time in ISO style and UTC (the functions that seal fix DateStyle and TimeZone), details
# as jsonb's own text. One C function per row: the cheapest canonical form to compute.
ENTRY_LINE = """
    ROW(e.id, e.at, e.actor, e.action, e.version_id, e.rule_id, e.rule_revision, e.run_id,
        e.details)::text
"""

# A seal's index: per entry, its id (8 bytes, big-endian) and the first 16 bytes of the SHA-256
# of its canonical line, in the order the statement inserted them (id order for the processes'
# inserts; verify sorts by id). The seal hashes the whole index; the index lets verify name the
# entry that changed, went or came.
ENTRY_INDEX = f"""
    string_agg(int8send(e.id) || substr(sha256(convert_to({ENTRY_LINE}, 'UTF8')), 1, 16),
               ''::bytea)
"""

SEAL_FUNCTIONS = f"""
-- Seals the entries one INSERT statement wrote (its transition table `new_entries`): the
-- chain's head row is locked (FOR UPDATE, so to commit: seals are appended in commit order),
-- the seal is hashed over the previous seal's hash and written. TG_ARGV names the seal table
-- and the head table (the benchmark's floor seals its copy of the log the same way).
CREATE FUNCTION audit_log_seal() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER AS $fn$
DECLARE
    entries bigint;
    low bigint;
    high bigint;
    idx bytea;
    head_seq bigint;
    head_hash bytea;
    stamp timestamptz;
    digest bytea;
    seal_hash bytea;
    newest timestamptz;
    me xid8 := pg_current_xact_id();
BEGIN
    SELECT count(*), min(e.id), max(e.id), max(e.at), {ENTRY_INDEX}
    INTO entries, low, high, newest, idx
    FROM new_entries AS e;
    IF entries = 0 THEN
        RETURN NULL;
    END IF;
    EXECUTE format('SELECT seq, hash FROM %I WHERE singleton FOR UPDATE', TG_ARGV[1])
    INTO head_seq, head_hash;
    stamp := clock_timestamp();
    digest := sha256(idx);
    seal_hash := sha256(convert_to(
        (head_seq + 1)::text || '|' || me::text || '|' || low::text || '|' || high::text
        || '|' || entries::text
        || '|' || to_char(newest AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')
        || '|' || to_char(stamp AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')
        || '|' || encode(digest, 'hex') || '|' || encode(head_hash, 'hex'), 'UTF8'));
    EXECUTE format(
        'INSERT INTO %I (seq, xid, first_id, last_id, entry_count, entry_index, entries_digest,'
        ' prev_hash, hash, newest_at, sealed_at)'
        ' VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)',
        TG_ARGV[0])
    USING head_seq + 1, me, low, high, entries, idx, digest, head_hash, seal_hash, newest, stamp;
    EXECUTE format('UPDATE %I SET seq = $1, hash = $2 WHERE singleton', TG_ARGV[1])
    USING head_seq + 1, seal_hash;
    RETURN NULL;
END;
$fn$;
"""  # noqa: S608 - constant SQL fragments, no input


def upgrade() -> None:
    schema = op.get_bind().exec_driver_sql("SELECT quote_ident(current_schema())").scalar()
    path = f"pg_catalog, {schema}, pg_temp"
    op.execute(f"""
    -- The transaction that wrote the entry (the seal names it: ids of concurrent transactions
    -- interleave, so a seal is its transaction's entries within its id range).
    ALTER TABLE audit_log ADD COLUMN xid xid8 NOT NULL DEFAULT pg_current_xact_id();

    CREATE TABLE audit_seals (
        seq            bigint PRIMARY KEY CHECK (seq >= 1),
        xid            xid8 NOT NULL,
        first_id       bigint NOT NULL,
        last_id        bigint NOT NULL,
        entry_count    bigint NOT NULL CHECK (entry_count >= 1),
        entry_index    bytea NOT NULL,
        entries_digest bytea NOT NULL,
        prev_hash      bytea NOT NULL,
        hash           bytea NOT NULL,
        -- The newest entry's time (what the retention is measured against) and the sealing's.
        newest_at      timestamptz NOT NULL,
        sealed_at      timestamptz NOT NULL
    );
    CREATE INDEX audit_seals_xid_idx ON audit_seals (xid, first_id);

    -- Where the chain ends: one row, locked by each sealing transaction until it commits.
    -- Not evidence (verify recomputes from the seals); the pointer sealing appends after.
    CREATE TABLE audit_chain_head (
        singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
        seq       bigint NOT NULL,
        hash      bytea NOT NULL
    );
    -- The chain starts after seal 0, whose hash is 32 zero bytes.
    INSERT INTO audit_chain_head (seq, hash) VALUES (0, decode(repeat('00', 32), 'hex'));

    -- Left by each purge batch: the last seal it removed, so verify starts after it.
    CREATE TABLE audit_checkpoints (
        seq        bigint PRIMARY KEY,
        hash       bytea NOT NULL,
        seals      bigint NOT NULL,
        entries    bigint NOT NULL,
        cutoff     timestamptz NOT NULL,
        purged_at  timestamptz NOT NULL DEFAULT clock_timestamp()
    );

    -- The purge's settings, written by `tasktracker migrate` (AUDIT_RETENTION_DAYS) as the
    -- owner: the purge reads its cutoff here, never from its caller.
    CREATE TABLE audit_settings (
        singleton      boolean PRIMARY KEY DEFAULT true CHECK (singleton),
        retention_days integer NOT NULL DEFAULT 365 CHECK (retention_days >= 0),
        purge_batch_entries integer NOT NULL DEFAULT 10000 CHECK (purge_batch_entries >= 1)
    );
    INSERT INTO audit_settings DEFAULT VALUES;

    {SEAL_FUNCTIONS}
    ALTER FUNCTION audit_log_seal() SET search_path = {path};
    ALTER FUNCTION audit_log_seal() SET TimeZone = 'UTC';
    ALTER FUNCTION audit_log_seal() SET DateStyle = 'ISO, MDY';

    SET LOCAL TimeZone = 'UTC';
    SET LOCAL DateStyle = 'ISO, MDY';

    -- Whatever the log holds already is sealed now, as one seal of this transaction.
    DO $seal$
    DECLARE
        entries bigint; low bigint; high bigint; idx bytea; digest bytea; stamp timestamptz;
        newest timestamptz; me xid8 := pg_current_xact_id();
    BEGIN
        SELECT count(*), min(e.id), max(e.id), max(e.at), {ENTRY_INDEX}
        INTO entries, low, high, newest, idx FROM audit_log AS e;
        IF entries > 0 THEN
            stamp := clock_timestamp();
            digest := sha256(idx);
            INSERT INTO audit_seals (seq, xid, first_id, last_id, entry_count, entry_index,
                                     entries_digest, prev_hash, hash, newest_at, sealed_at)
            VALUES (1, me, low, high, entries, idx, digest, decode(repeat('00', 32), 'hex'),
                    sha256(convert_to(
                        '1|' || me::text || '|' || low::text || '|' || high::text
                        || '|' || entries::text
                        || '|' || to_char(newest AT TIME ZONE 'UTC',
                                          'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')
                        || '|' || to_char(stamp AT TIME ZONE 'UTC',
                                          'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')
                        || '|' || encode(digest, 'hex') || '|' || repeat('00', 32), 'UTF8')),
                    newest, stamp);
            UPDATE audit_chain_head SET seq = 1, hash = (SELECT hash FROM audit_seals);
        END IF;
    END;
    $seal$;

    CREATE TRIGGER audit_log_seal
        AFTER INSERT ON audit_log REFERENCING NEW TABLE AS new_entries
        FOR EACH STATEMENT EXECUTE FUNCTION audit_log_seal('audit_seals', 'audit_chain_head');

    -- Append-only, for every role: UPDATE and TRUNCATE always refused, DELETE only from inside
    -- audit_purge_batch() running as the tables' owner (SECURITY DEFINER). No session setting
    -- opens the log any more: the app role can neither become the owner nor run other code as
    -- it, and the purge takes no argument.
    CREATE OR REPLACE FUNCTION audit_log_refuse_change() RETURNS trigger
    LANGUAGE plpgsql AS $fn$
    DECLARE
        stack text;
    BEGIN
        IF TG_OP = 'DELETE' THEN
            GET DIAGNOSTICS stack = PG_CONTEXT;
            IF current_user = (SELECT pg_get_userbyid(c.relowner) FROM pg_catalog.pg_class AS c
                               WHERE c.oid = TG_RELID)
               AND stack LIKE '%PL/pgSQL function audit_purge_batch() line % at SQL statement%'
            THEN
                RETURN NULL;
            END IF;
        END IF;
        RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP
            USING ERRCODE = 'insufficient_privilege';
    END;
    $fn$;
    ALTER FUNCTION audit_log_refuse_change() SET search_path = {path};
    DROP TRIGGER audit_log_append_only_rows ON audit_log;
    CREATE TRIGGER audit_log_append_only_rows
        BEFORE UPDATE OR DELETE ON audit_log
        FOR EACH STATEMENT EXECUTE FUNCTION audit_log_refuse_change();
    CREATE TRIGGER audit_seals_append_only_rows
        BEFORE UPDATE OR DELETE ON audit_seals
        FOR EACH STATEMENT EXECUTE FUNCTION audit_log_refuse_change();
    CREATE TRIGGER audit_seals_append_only_truncate
        BEFORE TRUNCATE ON audit_seals
        FOR EACH STATEMENT EXECUTE FUNCTION audit_log_refuse_change();
    CREATE TRIGGER audit_checkpoints_append_only_rows
        BEFORE UPDATE OR DELETE ON audit_checkpoints
        FOR EACH STATEMENT EXECUTE FUNCTION audit_log_refuse_change();
    CREATE TRIGGER audit_checkpoints_append_only_truncate
        BEFORE TRUNCATE ON audit_checkpoints
        FOR EACH STATEMENT EXECUTE FUNCTION audit_log_refuse_change();

    -- One purge batch: the oldest whole seals whose newest entry is older than now() -
    -- retention_days (the
    -- database's clock and settings), up to purge_batch_entries entries (at least one seal),
    -- their entries and the seals deleted, a checkpoint left. Answers what went; (0, 0) when
    -- nothing has expired or another purge holds the lock. Each call is its own transaction,
    -- so the caller loops until it answers no seal.
    CREATE FUNCTION audit_purge_batch(OUT seals bigint, OUT entries bigint)
    LANGUAGE plpgsql SECURITY DEFINER AS $fn$
    DECLARE
        cutoff timestamptz;
        budget bigint;
        s record;
        gone bigint;
        last_seq bigint;
        last_hash bytea;
    BEGIN
        seals := 0;
        entries := 0;
        IF NOT pg_try_advisory_xact_lock(hashtextextended('tasktracker.audit.purge', 0)) THEN
            RETURN;
        END IF;
        SELECT now() - make_interval(days => a.retention_days), a.purge_batch_entries
        INTO cutoff, budget FROM audit_settings AS a;
        FOR s IN SELECT a.seq, a.xid, a.first_id, a.last_id, a.entry_count, a.hash, a.newest_at
                 FROM audit_seals AS a ORDER BY a.seq LIMIT budget LOOP
            EXIT WHEN s.newest_at >= cutoff OR (seals > 0 AND entries + s.entry_count > budget);
            DELETE FROM audit_log AS e
            WHERE e.id BETWEEN s.first_id AND s.last_id AND e.xid = s.xid;
            GET DIAGNOSTICS gone = ROW_COUNT;
            entries := entries + gone;
            seals := seals + 1;
            last_seq := s.seq;
            last_hash := s.hash;
        END LOOP;
        IF seals > 0 THEN
            DELETE FROM audit_seals AS a WHERE a.seq <= last_seq;
            INSERT INTO audit_checkpoints (seq, hash, seals, entries, cutoff)
            VALUES (last_seq, last_hash, seals, entries, cutoff);
        END IF;
    END;
    $fn$;
    ALTER FUNCTION audit_purge_batch() SET search_path = {path};
    REVOKE EXECUTE ON FUNCTION audit_purge_batch() FROM PUBLIC;
    """)  # noqa: S608 - constant SQL and the schema's quote_ident'ed name


def downgrade() -> None:
    op.execute("""
    DROP FUNCTION audit_purge_batch();
    DROP TRIGGER audit_log_seal ON audit_log;
    DROP FUNCTION audit_log_seal();
    DROP TABLE audit_settings;
    DROP TABLE audit_checkpoints;
    DROP TABLE audit_chain_head;
    DROP TABLE audit_seals;
    ALTER TABLE audit_log DROP COLUMN xid;
    DROP TRIGGER audit_log_append_only_rows ON audit_log;
    CREATE OR REPLACE FUNCTION audit_log_refuse_change() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
        RAISE EXCEPTION 'audit_log is append-only: % refused', TG_OP
            USING ERRCODE = 'insufficient_privilege';
    END;
    $$;
    CREATE TRIGGER audit_log_append_only_rows
        BEFORE UPDATE OR DELETE ON audit_log
        FOR EACH ROW EXECUTE FUNCTION audit_log_refuse_change();
    """)
