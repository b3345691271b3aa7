-- API tokens: when each was last used (written at most once a minute per
-- token and instance), and an index for listing a workspace's tokens a
-- page at a time in id order.
ALTER TABLE api_tokens ADD COLUMN last_used_at INTEGER;

CREATE INDEX api_tokens_workspace ON api_tokens (workspace_id, id);
