-- Indexes for the keyset pages of the listings (store.ListPage): a
-- workspace's integrations and webhooks in id order, read as one index
-- range instead of a scan of the table and a sort. Every other listing is
-- served by an index that already exists (see explain_test.go).
CREATE INDEX integrations_workspace_id ON integrations (workspace_id, id);
CREATE INDEX webhooks_workspace_id ON webhooks (workspace_id, id);
