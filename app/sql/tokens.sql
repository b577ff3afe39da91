-- name: insert_token(name, role, token_hash)^
-- Store a new API token by its hash. :name, :role, :token_hash
INSERT INTO api_tokens (name, role, token_hash)
VALUES (:name, :role, :token_hash)
RETURNING id, name, role, created_at, revoked_at;

-- name: get_active_token_by_hash(token_hash)^
-- The live token with this hash, if any. :token_hash
SELECT id, name, role, token_hash, created_at, revoked_at
FROM api_tokens
WHERE token_hash = :token_hash AND revoked_at IS NULL;

-- name: list_tokens()
-- Every token, live and revoked, oldest first (never the hashes).
SELECT id, name, role, created_at, revoked_at
FROM api_tokens
ORDER BY id;

-- name: revoke_token(name)^
-- Revoke a live token by name. :name
UPDATE api_tokens
SET revoked_at = now()
WHERE name = :name AND revoked_at IS NULL
RETURNING id, name, role, created_at, revoked_at;
