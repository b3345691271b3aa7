// Package web is Storm's browser UI: server-rendered pages (html/template,
// embedded templates and static assets) for signing in with an API token,
// listing and adding integrations, and saving, verifying, rotating and
// revoking their credentials; and the pages of connect links
// (/connect/<secret>), where a person who is not signed in connects one
// integration with the same controls.
//
// It changes nothing itself: every action goes through package creds (or
// connect, for a link), as the HTTP API's do, so both behave the same. It
// never renders a secret beyond its hint, and every form it serves
// carries a CSRF token.
package web
