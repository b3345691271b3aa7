// Package suggest finds the word someone most likely meant when they
// typed one that does not exist: a provider name, a command or a flag.
// It compares case-insensitively by edit distance and suggests nothing
// rather than a far-fetched guess.
package suggest
