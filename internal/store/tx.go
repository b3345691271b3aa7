package store

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"sort"
)

// Tx is one write transaction of a backend, as the shared
// read-modify-write flows (RunMutate, RunUpdateIntegration,
// RunUpdateCredential) use it. Backends implement it with their own SQL;
// its errors are already translated into the sentinels.
type Tx interface {
	// LockIntegration loads an integration and holds it against every
	// other Mutate, UpdateIntegration and UpdateCredential of it until the
	// transaction ends.
	LockIntegration(ctx context.Context, id string) (Integration, error)
	// LockCredential loads a credential, holding its integration as
	// LockIntegration does.
	LockCredential(ctx context.Context, id string) (Credential, error)
	GetIntegration(ctx context.Context, id string) (Integration, error)
	GetCredential(ctx context.Context, id string) (Credential, error)
	// LiveCredentials returns an integration's live versions (active and
	// previous) ordered by Version, reading none of its revoked ones.
	LiveCredentials(ctx context.Context, integrationID string) ([]Credential, error)
	// MaxVersion returns the highest Version of an integration's versions,
	// revoked ones included; 0 when it has none.
	MaxVersion(ctx context.Context, integrationID string) (int, error)
	// UpdateIntegration writes in over the row at revision old, else
	// returns ErrConflict. Id, workspace and creation time never change.
	UpdateIntegration(ctx context.Context, in Integration, old int64) error
	// InsertCredential inserts c with revision 1.
	InsertCredential(ctx context.Context, c Credential) error
	// UpdateCredential writes c over the row at revision old, else returns
	// ErrConflict. Id, owners and creation time never change.
	UpdateCredential(ctx context.Context, c Credential, old int64) error
	// AppendEvents appends es in order, giving each an id when it has
	// none, and returns them as stored.
	AppendEvents(ctx context.Context, es []Event) ([]Event, error)
}

// InTx runs fn in one write transaction of a backend and commits unless fn
// fails. fn's error is returned as is.
type InTx func(ctx context.Context, fn func(Tx) error) error

// RunMutate is Store.Mutate for every backend: in one transaction of inTx
// it locks the integration, loads it, its live versions and its highest
// version number (CredentialSet), applies fn, and stores the integration,
// the credentials fn changed or added (new ones, without an id or with an
// id not loaded, are inserted) and the set's Events. It returns what was
// stored: the versions fn left in the set, those written read back so
// revisions and times are exact. fn's error is returned unchanged and
// nothing is stored. Its cost does not grow with the integration's
// revoked versions: none of them is read or written.
func RunMutate(ctx context.Context, inTx InTx, integrationID string, fn func(*CredentialSet) error) (CredentialSet, error) {
	var out CredentialSet
	var fnErr error
	err := inTx(ctx, func(tx Tx) error {
		in, err := tx.LockIntegration(ctx, integrationID)
		if err != nil {
			return err
		}
		creds, err := tx.LiveCredentials(ctx, integrationID)
		if err != nil {
			return err
		}
		maxVersion, err := tx.MaxVersion(ctx, integrationID)
		if err != nil {
			return err
		}
		loaded := make(map[string]Credential, len(creds))
		for _, c := range creds {
			c.Secret = bytes.Clone(c.Secret) // fn may not reach the copy kept
			loaded[c.ID] = c
		}
		set := CredentialSet{Integration: in, Credentials: slices.Clone(creds), MaxVersion: maxVersion}
		if err := fn(&set); err != nil {
			fnErr = err
			return err
		}

		set.Integration.ID = in.ID
		if err := tx.UpdateIntegration(ctx, set.Integration, in.Revision); err != nil {
			return err
		}
		out.MaxVersion = maxVersion
		for _, c := range writeOrder(set.Credentials) {
			if c.ID == "" {
				c.ID = NewID("cred")
			}
			c.IntegrationID, c.WorkspaceID = in.ID, in.WorkspaceID
			if old, ok := loaded[c.ID]; ok {
				// Only versions fn changed are written (and read back).
				if sameCredential(c, old) {
					out.Credentials = append(out.Credentials, old)
					continue
				}
				err = tx.UpdateCredential(ctx, c, old.Revision)
			} else {
				err = tx.InsertCredential(ctx, c)
			}
			if err != nil {
				return err
			}
			if c, err = tx.GetCredential(ctx, c.ID); err != nil {
				return err
			}
			out.Credentials = append(out.Credentials, c)
			out.MaxVersion = max(out.MaxVersion, c.Version)
		}
		slices.SortFunc(out.Credentials, func(a, b Credential) int { return a.Version - b.Version })
		if out.Integration, err = tx.GetIntegration(ctx, in.ID); err != nil {
			return err
		}

		// Events last: a backend may serialise event appends with a lock
		// held until commit, which should be as short as possible.
		events := make([]Event, len(set.Events))
		for i, e := range set.Events {
			if e.WorkspaceID == "" {
				e.WorkspaceID = in.WorkspaceID
			}
			if e.IntegrationID == "" {
				e.IntegrationID = in.ID
			}
			events[i] = e
		}
		out.Events, err = tx.AppendEvents(ctx, events)
		return err
	})
	if fnErr != nil {
		return CredentialSet{}, fnErr
	}
	if err != nil {
		return CredentialSet{}, fmt.Errorf("mutate integration %s: %w", integrationID, err)
	}
	return out, nil
}

// writeOrder returns creds with the versions that end up active last, so
// that a demotion is written before the promotion replacing it and the
// one-active index never sees two at once.
func writeOrder(creds []Credential) []Credential {
	out := append([]Credential(nil), creds...)
	sort.SliceStable(out, func(i, j int) bool {
		return out[i].State != StateActive && out[j].State == StateActive
	})
	return out
}

// RunUpdateIntegration is Store.UpdateIntegration for every backend: a
// compare-and-swap, in one transaction of inTx, of the locked integration.
// fn's error is returned unchanged and nothing is stored.
func RunUpdateIntegration(ctx context.Context, inTx InTx, id string, fn func(Integration) (Integration, error)) (Integration, error) {
	var out Integration
	var fnErr error
	err := inTx(ctx, func(tx Tx) error {
		old, err := tx.LockIntegration(ctx, id)
		if err != nil {
			return err
		}
		in, err := fn(old)
		if err != nil {
			fnErr = err
			return err
		}
		in.ID = old.ID
		if err := tx.UpdateIntegration(ctx, in, old.Revision); err != nil {
			return err
		}
		out, err = tx.GetIntegration(ctx, id)
		return err
	})
	if fnErr != nil {
		return Integration{}, fnErr
	}
	if err != nil {
		return Integration{}, err
	}
	return out, nil
}

// RunUpdateCredential is Store.UpdateCredential for every backend: a
// compare-and-swap, in one transaction of inTx, of one credential, holding
// its integration's lock so it is serialised with Mutate. fn's error is
// returned unchanged and nothing is stored.
func RunUpdateCredential(ctx context.Context, inTx InTx, id string, fn func(Credential) (Credential, error)) (Credential, error) {
	var out Credential
	var fnErr error
	err := inTx(ctx, func(tx Tx) error {
		old, err := tx.LockCredential(ctx, id)
		if err != nil {
			return err
		}
		c, err := fn(old)
		if err != nil {
			fnErr = err
			return err
		}
		c.ID = old.ID
		if err := tx.UpdateCredential(ctx, c, old.Revision); err != nil {
			return err
		}
		out, err = tx.GetCredential(ctx, id)
		return err
	})
	if fnErr != nil {
		return Credential{}, fnErr
	}
	if err != nil {
		return Credential{}, err
	}
	return out, nil
}

// sameCredential reports whether a and b hold the same stored values
// (times compared as instants). TestSameCredentialComparesEveryField
// fails when a field is added to Credential and not here.
func sameCredential(a, b Credential) bool {
	return a.ID == b.ID && a.IntegrationID == b.IntegrationID && a.WorkspaceID == b.WorkspaceID &&
		a.Version == b.Version && a.State == b.State && a.Hint == b.Hint && a.Fingerprint == b.Fingerprint &&
		bytes.Equal(a.Secret, b.Secret) && a.CreatedAt.Equal(b.CreatedAt) && a.VerifiedAt.Equal(b.VerifiedAt) &&
		a.ExpiresAt.Equal(b.ExpiresAt) && a.RevokedAt.Equal(b.RevokedAt) && a.RefreshAt.Equal(b.RefreshAt) &&
		a.Failures == b.Failures && a.Revision == b.Revision
}
