package vault

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/stormcreds/storm/internal/store"
)

// RewrapKEK re-wraps the stored keyring from oldKEK to newKEK: the data
// keys stay the same, so every ciphertext still opens and running
// instances keep working with the keys they loaded. It is a
// compare-and-swap of the stored keyring, safe while instances run, and
// idempotent: a keyring that newKEK already opens is left as is
// (rewrapped false). The keyring's terms are returned.
//
// Instances started with the old KEK cannot load keyring changes after
// this (Refresh answers ErrStaleKEK): restart them with the new --kek-url.
func RewrapKEK(ctx context.Context, ks KeyringStore, oldKEK, newKEK KEK) (info Info, rewrapped bool, err error) {
	for range 3 {
		raw, err := ks.Keyring(ctx)
		if err != nil {
			return Info{}, false, fmt.Errorf("vault: load keyring: %w", err)
		}
		pt, err := oldKEK.Unwrap(ctx, raw)
		if err != nil {
			// Already done (a second run, or a retry after a crash)?
			if done, derr := newKEK.Unwrap(ctx, raw); derr == nil {
				info, err := infoOf(done)
				clear(done)
				return info, false, err
			}
			return Info{}, false, fmt.Errorf("%w: neither the old nor the new KEK opens the stored keyring", ErrWrongKEK)
		}
		info, err := infoOf(pt)
		if err != nil {
			clear(pt)
			return Info{}, false, err
		}
		next, err := newKEK.Wrap(ctx, pt)
		if err != nil {
			clear(pt)
			return Info{}, false, fmt.Errorf("vault: wrap keyring with the new KEK: %w", err)
		}
		// Prove the new wrapping opens before replacing the old one.
		back, err := newKEK.Unwrap(ctx, next)
		ok := err == nil && bytes.Equal(back, pt)
		clear(back)
		clear(pt)
		if !ok {
			return Info{}, false, fmt.Errorf("vault: the new KEK does not open what it wrapped: %v", err)
		}
		err = ks.PutKeyring(ctx, raw, next)
		if errors.Is(err, store.ErrConflict) {
			continue // rotated meanwhile: wrap the new keyring
		}
		if err != nil {
			return Info{}, false, fmt.Errorf("vault: store keyring: %w", err)
		}
		return info, true, nil
	}
	return Info{}, false, errors.New("vault: keyring keeps changing; try again")
}

// infoOf parses and checks an unwrapped keyring.
func infoOf(pt []byte) (Info, error) {
	var doc keyringDoc
	if err := json.Unmarshal(pt, &doc); err != nil {
		return Info{}, fmt.Errorf("vault: keyring is corrupt: %w", err)
	}
	defer func() {
		for _, t := range doc.Terms {
			clear(t.Key)
		}
		clear(doc.FingerprintKey)
	}()
	if _, err := buildRing(nil, doc); err != nil {
		return Info{}, err
	}
	out := Info{Active: doc.Active}
	for _, t := range doc.Terms {
		out.Terms = append(out.Terms, TermInfo{Term: t.Term, CreatedAt: t.CreatedAt})
	}
	return out, nil
}
