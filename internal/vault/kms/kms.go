// Package kms lets a cloud KMS or HashiCorp Vault be the key-encryption
// key: --kek-url awskms://…, gcpkms://…, azurekeyvault://… or
// hashivault://… opens a gocloud.dev/secrets keeper, which wraps the
// vault's keyring. The keeper is called when an instance starts (one
// Decrypt, or one Encrypt when it creates the keyring), when the keyring
// changes (data-key rotation: one Encrypt here, one Decrypt on every
// other instance) and by `storm keys rotate-kek`; never per secret or per
// request, so KMS latency, quotas and outages never touch the hot path.
//
// The cloud keepers weigh about 20 MB of binary, so they are built in only
// with the build tag kms:
//
//	go build -tags kms ./cmd/storm
//
// Without the tag this package still provides the keeper adapter (tests
// prove it with gocloud's local keeper) but registers no scheme, and
// cmd/storm does not import it.
package kms

import (
	"context"
	"fmt"
	"net/url"

	"gocloud.dev/gcerrors"
	"gocloud.dev/secrets"

	"github.com/stormcreds/storm/internal/vault"
)

// Schemes are the KEK URL schemes this package registers with the vault
// when their keepers are built in (build tag kms).
var Schemes = []string{"awskms", "gcpkms", "azurekeyvault", "hashivault"}

func init() {
	for _, scheme := range Schemes {
		if secrets.DefaultURLMux().ValidKeeperScheme(scheme) {
			vault.RegisterKEK(scheme, Open)
		}
	}
}

// Open opens the keeper named by u through gocloud's default URL mux and
// returns it as a vault.KEK.
func Open(ctx context.Context, u *url.URL) (vault.KEK, error) {
	k, err := secrets.DefaultURLMux().OpenKeeperURL(ctx, u)
	if err != nil {
		// KMS URLs name keys, never hold them, so the keeper's error
		// (which may repeat the URL) is safe to show.
		return nil, fmt.Errorf("kek url %s://: %w", u.Scheme, err)
	}
	return KEK(k), nil
}

// KEK adapts a keeper to vault.KEK: Wrap is Encrypt, Unwrap is Decrypt.
func KEK(k *secrets.Keeper) vault.KEK { return keeperKEK{k} }

type keeperKEK struct{ k *secrets.Keeper }

func (k keeperKEK) Wrap(ctx context.Context, plaintext []byte) ([]byte, error) {
	ct, err := k.k.Encrypt(ctx, plaintext)
	if err != nil {
		return nil, fmt.Errorf("kms encrypt: %w", err)
	}
	return ct, nil
}

// Unwrap decrypts; a ciphertext the key refuses is vault.ErrWrongKEK,
// while an unreachable or unauthorised KMS stays a plain error, so the
// operator is not told to change a --kek-url that is right.
func (k keeperKEK) Unwrap(ctx context.Context, ciphertext []byte) ([]byte, error) {
	pt, err := k.k.Decrypt(ctx, ciphertext)
	if err == nil {
		return pt, nil
	}
	switch gcerrors.Code(err) {
	case gcerrors.InvalidArgument, gcerrors.FailedPrecondition, gcerrors.Unknown:
		return nil, fmt.Errorf("%w: kms decrypt: %v", vault.ErrWrongKEK, err)
	}
	return nil, fmt.Errorf("kms decrypt: %w", err)
}
