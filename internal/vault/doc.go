// Package vault encrypts secrets before they reach storage: AES-256-GCM
// with a keyring of data keys (terms) that is itself wrapped by a
// key-encryption key (KEK) from a key file, an inline key or a KMS.
//
// Every ciphertext carries its key term and format version and is bound by
// additional data to its row and field, so storage is treated as untrusted:
// a flipped byte or a ciphertext moved to another row fails to open. The
// vault never logs or returns plaintext except to its caller.
package vault
