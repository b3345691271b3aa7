// Package web is Storm's browser UI: server-rendered pages (html/template,
// embedded templates and static assets) for signing in with an API token,
// listing and adding integrations, and saving, verifying, rotating and
// revoking their credentials.
//
// It changes nothing itself: every action goes through package creds, as
// the HTTP API's do, so both behave the same. It never renders a secret
// beyond its hint, and every form it serves carries a CSRF token.
package web
