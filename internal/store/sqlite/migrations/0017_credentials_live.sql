-- An integration's live versions (active and previous), the ones a
-- Mutate can still change: one short index range however many revoked
-- versions the integration has (store.RunMutate). Revoked versions are
-- final, so they leave the index for good.
CREATE INDEX credentials_live ON credentials (integration_id, version) WHERE state IN ('active', 'previous');
