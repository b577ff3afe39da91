-- name: limit_transaction(statement_timeout, lock_timeout, idle_timeout, jit)$
-- Bound the current transaction, each setting local to it (milliseconds as text; jit 'on' or
-- 'off'; NULL leaves a setting as it is): how long a statement runs, how long it waits for a
-- row lock (a session being ended still holds it), how long the transaction may sit idle (a
-- worker frozen before COMMIT loses it, and its locks). jit off for a run's batches: measured,
-- it gives nothing to the compiled decision and costs up to 1.8 s per 100,000 versions on rule
-- sets the compiler's guards do not cover (docs/performance.md).
SELECT concat(
    CASE WHEN :statement_timeout::text IS NOT NULL
         THEN set_config('statement_timeout', :statement_timeout, true) END,
    CASE WHEN :lock_timeout::text IS NOT NULL
         THEN set_config('lock_timeout', :lock_timeout, true) END,
    CASE WHEN :idle_timeout::text IS NOT NULL
         THEN set_config('idle_in_transaction_session_timeout', :idle_timeout, true) END,
    CASE WHEN :jit::text IS NOT NULL THEN set_config('jit', :jit, true) END);

-- name: set_session_setting(name, value)$
-- Set :name to :value for the rest of this session (not only the transaction).
SELECT set_config(:name, :value, false);

-- name: ping()$
-- The server answers.
SELECT 1;
