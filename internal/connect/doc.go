// Package connect owns connect links (shared/API.md "Connect links"): a
// single-use, expiring secret URL that lets a person without an API token
// connect one integration, or create one among allowed providers, on a
// page of its own.
//
// It makes the link's secret (256 random bits), stores only its SHA-256,
// decides whether a link may still be used (spent, expired, deleted or
// locked after too many failed attempts), and runs each attempt: it
// claims the link, saves or authorizes through package creds with the
// link as the actor, and spends the link or counts the failure. It never
// logs, records or returns a link's secret except in the URL handed to
// the link's creator once.
package connect
