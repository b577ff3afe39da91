-- name: get_automation_state()^
-- The global brake: paused or not, since when, by whom, why.
SELECT paused, changed_at, changed_by, reason FROM automation_state;

-- name: lock_automation_state_shared()^
-- The brake as a trigger sees it, held until the trigger commits, so that a pause waits for
-- it (and then stops the run it created) instead of racing with it.
SELECT paused, changed_at, changed_by, reason FROM automation_state FOR SHARE;

-- name: set_automation_paused(paused, actor, reason)^
-- Engage or release the brake; answers the new state (and whether it changed).
UPDATE automation_state AS s
SET paused = :paused, changed_at = now(), changed_by = :actor, reason = :reason
FROM (SELECT paused AS was FROM automation_state FOR UPDATE) AS before
RETURNING s.paused, s.changed_at, s.changed_by, s.reason, before.was <> s.paused AS changed;

-- name: stop_active_runs(reason)
-- Stop every unfinished run: one still waiting ends FAILED with :reason at once; one being
-- evaluated is asked to stop at its next batch (ending FAILED with :reason).
UPDATE automation_runs
SET cancel_requested_at = coalesce(cancel_requested_at, now()),
    cancel_reason = coalesce(cancel_reason, :reason),
    state = CASE WHEN state IN ('PENDING', 'SCHEDULED') THEN 'FAILED' ELSE state END,
    error = CASE WHEN state IN ('PENDING', 'SCHEDULED') THEN :reason ELSE error END,
    finished_at = CASE WHEN state IN ('PENDING', 'SCHEDULED') THEN now() ELSE finished_at END
WHERE automation_run_is_active(state)
RETURNING id, state;

-- name: cancel_run(id)^
-- Stop one unfinished run (see stop_active_runs); nothing if it is finished or unknown.
UPDATE automation_runs
SET cancel_requested_at = coalesce(cancel_requested_at, now()),
    cancel_reason = coalesce(cancel_reason, 'cancelled'),
    state = CASE WHEN state IN ('PENDING', 'SCHEDULED') THEN 'FAILED' ELSE state END,
    error = CASE WHEN state IN ('PENDING', 'SCHEDULED') THEN 'cancelled' ELSE error END,
    finished_at = CASE WHEN state IN ('PENDING', 'SCHEDULED') THEN now() ELSE finished_at END
WHERE id = :id AND automation_run_is_active(state)
RETURNING *;
