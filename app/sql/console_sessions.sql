-- name: insert_console_session(session_hash, token_hash, csrf, lifetime_seconds)^
-- Open a session for the live token with this hash; no row when it is unknown or revoked.
-- :session_hash, :token_hash, :csrf, :lifetime_seconds
INSERT INTO console_sessions (session_hash, token_id, role, csrf, expires_at)
SELECT :session_hash, t.id, t.role, :csrf, now() + make_interval(secs => :lifetime_seconds)
FROM api_tokens AS t
WHERE t.token_hash = :token_hash AND t.revoked_at IS NULL
RETURNING expires_at;

-- name: get_console_session(session_hash)^
-- The unexpired session with this hash, joined with its still-live token, and its last
-- sighting moved to now when it is more than a minute old (a write a minute at most).
-- :session_hash
WITH found AS (
    SELECT s.session_hash, s.role, s.csrf, s.expires_at, s.last_seen_at, t.name
    FROM console_sessions AS s
    JOIN api_tokens AS t ON t.id = s.token_id AND t.revoked_at IS NULL
    WHERE s.session_hash = :session_hash AND s.expires_at > now()
), seen AS (
    UPDATE console_sessions AS s
    SET last_seen_at = now()
    FROM found AS f
    WHERE s.session_hash = f.session_hash AND f.last_seen_at < now() - interval '1 minute'
)
SELECT name, role, csrf, expires_at
FROM found;

-- name: delete_console_session(session_hash)!
-- End one session (Sign out). :session_hash
DELETE FROM console_sessions
WHERE session_hash = :session_hash;

-- name: delete_expired_console_sessions()$
-- Remove every expired session; answers how many.
WITH gone AS (
    DELETE FROM console_sessions
    WHERE expires_at <= now()
    RETURNING 1
)
SELECT count(*) FROM gone;
