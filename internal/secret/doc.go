// Package secret holds types for secret values that redact themselves, so
// a careless %v, log attribute or JSON encoding can never leak one.
//
// Code that must send the real value (the upstream request, the /access
// response) asks for it explicitly with Reveal.
package secret
