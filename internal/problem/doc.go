// Package problem is Storm's error vocabulary for people and programs:
// RFC 9457 problem details with field errors, written as
// application/problem+json. Details never contain secrets.
package problem
