package postgres

import (
	"context"
	"fmt"

	"github.com/stormcreds/storm/internal/store"
	"github.com/stormcreds/storm/internal/store/sqldb"
)

// activeCredentialsSQL reads the partial index credentials_one_active
// (integration_id WHERE state = 'active') in order: one short range per
// page of integrations (explain_test.go).
const activeCredentialsSQL = `SELECT ` + store.CredentialColumns + ` FROM credentials
	WHERE state = 'active' AND integration_id > $1 AND integration_id <= $2 ORDER BY integration_id`

// ActiveCredentials returns the active versions of the integrations whose
// ids sort in (after, through], in integration id order.
func (s *Store) ActiveCredentials(ctx context.Context, after, through string) ([]store.Credential, error) {
	cs, err := sqldb.QueryAll(ctx, conn{s.pool}, scan.Credential, activeCredentialsSQL, after, through)
	if err != nil {
		return nil, fmt.Errorf("active credentials after %s: %w", after, err)
	}
	return cs, nil
}
