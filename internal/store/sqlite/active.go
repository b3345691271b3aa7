package sqlite

import (
	"context"
	"fmt"

	"github.com/stormcreds/storm/internal/store"
	"github.com/stormcreds/storm/internal/store/sqldb"
)

// activeCredentialsSQL reads the partial index credentials_one_active
// (integration_id WHERE state = 'active') in order: one short range per
// page of integrations (explain_test.go). Named, because without
// statistics SQLite prefers credentials_due (state first), which reads
// every active version and sorts them.
const activeCredentialsSQL = `SELECT ` + store.CredentialColumns + ` FROM credentials INDEXED BY credentials_one_active
	WHERE state = 'active' AND integration_id > ? AND integration_id <= ? ORDER BY integration_id`

// ActiveCredentials returns the active versions of the integrations whose
// ids sort in (after, through], in integration id order.
func (s *Store) ActiveCredentials(ctx context.Context, after, through string) ([]store.Credential, error) {
	cs, err := sqldb.QueryAll(ctx, conn{s.ro}, scan.Credential, activeCredentialsSQL, after, through)
	if err != nil {
		return nil, fmt.Errorf("active credentials after %s: %w", after, err)
	}
	return cs, nil
}
