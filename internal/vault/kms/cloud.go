//go:build kms

package kms

// The cloud keepers, built in with -tags kms. Each registers its scheme
// with gocloud's default URL mux; this package's init then registers it
// with the vault. Their URLs and credentials are gocloud's:
//
//   - awskms://<key id, ARN or alias/NAME>?region=REGION — AWS credentials
//     from the default chain (environment, shared config, instance role).
//   - gcpkms://projects/P/locations/L/keyRings/R/cryptoKeys/K — Google
//     application default credentials.
//   - azurekeyvault://<vault>.vault.azure.net/keys/<name>[/<version>]
//     [?algorithm=RSA-OAEP-256] — Azure default credentials (environment,
//     managed identity, az login).
//   - hashivault://<transit key name> — VAULT_SERVER_URL (or VAULT_ADDR)
//     and VAULT_SERVER_TOKEN (or VAULT_TOKEN); the transit engine.
import (
	_ "gocloud.dev/secrets/awskms"
	_ "gocloud.dev/secrets/azurekeyvault"
	_ "gocloud.dev/secrets/gcpkms"
	_ "gocloud.dev/secrets/hashivault"
)
