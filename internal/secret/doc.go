// Package secret holds types for secret values that redact themselves, so
// a careless %v, log attribute or JSON encoding can never leak one, and
// Scrub, which removes secrets from text that came from outside (a
// provider repeating a key back in an error message, in any of its
// encodings).
//
// Code that must send the real value (the upstream request, the /access
// response) asks for it explicitly with Reveal.
package secret
