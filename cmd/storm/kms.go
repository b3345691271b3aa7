//go:build kms

package main

// Built with -tags kms, --kek-url also takes awskms://, gcpkms://,
// azurekeyvault:// and hashivault:// (see internal/vault/kms).
import _ "github.com/stormcreds/storm/internal/vault/kms"
