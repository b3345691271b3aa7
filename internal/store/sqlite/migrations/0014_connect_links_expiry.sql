-- Creating a connect link forgets links expired for a month, oldest
-- first (store.ConnectLinkForgetAfter): this index keeps that a short
-- range read however many links exist.
CREATE INDEX connect_links_expiry ON connect_links (expires_at);
