-- name: insert_audit_entry(actor, action, version_id, rule_id, rule_revision, run_id, details)^
-- Append one audit entry. :actor, :action, :version_id, :rule_id, :rule_revision, :run_id, :details
INSERT INTO audit_log (actor, action, version_id, rule_id, rule_revision, run_id, details)
VALUES (:actor, :action, :version_id, :rule_id, :rule_revision, :run_id, :details)
RETURNING id, at, actor, action, version_id, rule_id, rule_revision, run_id, details;
