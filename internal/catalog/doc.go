// Package catalog holds the provider definitions: where each service's
// API lives, how an API key, OAuth 2.0 app or service account is applied
// to it, and which cheap request verifies a credential. The embedded
// definitions (providers/*.yaml) can be extended or replaced by an
// operator's files (LoadDir); each provider has a logo (logos/, written by
// gen-logos from simple-icons, or a monogram) and categories from a closed
// vocabulary.
//
// The catalog is validated when it is loaded, so a bad entry stops the
// server at start, naming file and line, rather than failing a user
// later. It never holds secrets.
package catalog
