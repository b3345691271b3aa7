-- Listing a workspace's integrations of one status a page at a time in
-- id order (GET /v1/integrations?status=, the UI's status filter): one
-- index range however many integrations have other statuses.
CREATE INDEX integrations_workspace_status ON integrations (workspace_id, status, id);

-- The integrations that use an app, a page at a time in id order
-- (GET /v1/apps/{id}/integrations).
CREATE INDEX integrations_app_id ON integrations (app_id, id);
