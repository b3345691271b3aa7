package web

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	"github.com/stormcreds/storm/internal/catalog"
	"github.com/stormcreds/storm/internal/outcome"
	"github.com/stormcreds/storm/internal/store"
)

// Activity and audit entries read as sentences ("Key saved by bootstrap
// admin · verified") built from their type and data, never as codes. An
// entry this file does not know falls back to its type, humanised, and
// its data as "key: value" pairs.

// noun is what an integration's credential is called on its page.
func noun(method string) string {
	switch method {
	case catalog.MethodOAuth2:
		return "Token set"
	case catalog.MethodServiceAccount:
		return "Credentials file"
	}
	return "Key"
}

// dataOf decodes an event's or audit record's JSON object.
func dataOf(b []byte) map[string]any {
	var m map[string]any
	if len(b) > 0 {
		_ = json.Unmarshal(b, &m)
	}
	return m
}

func str(m map[string]any, k string) string {
	if s, ok := m[k].(string); ok {
		return s
	}
	return ""
}

func num(m map[string]any, k string) (int, bool) {
	f, ok := m[k].(float64)
	return int(f), ok
}

// joinParts joins the non-empty parts with " · ".
func joinParts(parts ...string) string {
	var out []string
	for _, p := range parts {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return strings.Join(out, " · ")
}

func version(m map[string]any) string {
	if v, ok := num(m, "version"); ok && v > 0 {
		return fmt.Sprintf("version %d", v)
	}
	return ""
}

// reasonWords is a verification reason as a short phrase.
func reasonWords(reason string, status int) string {
	var s string
	switch outcome.Reason(reason) {
	case outcome.Rejected:
		s = "the provider refused it"
	case outcome.Unreachable:
		s = "the provider could not be reached, so it was not judged"
	case outcome.Blocked:
		s = "the provider's address is blocked (STORM_ALLOW_PRIVATE_UPSTREAMS)"
	case outcome.NotChecked:
		return "not checked: there is no verify request"
	case outcome.Unexpected:
		s = "the provider gave an unexpected answer"
	default:
		s = "it did not work"
	}
	if status > 0 {
		s += fmt.Sprintf(" (HTTP %d)", status)
	}
	return s
}

var revokeWhy = map[string]string{
	"revoked":          "",
	"replaced":         "replaced by a newer version",
	"reauthorized":     "replaced by a new authorization",
	"endpoint_changed": "the integration's endpoints changed",
}

// eventSentence is an event of the integration's log as a sentence and
// the detail that follows it.
func eventSentence(e store.Event, method string) (title, detail string) {
	d := dataOf(e.Data)
	n := noun(method)
	switch e.Type {
	case "integration.created":
		return "Integration created", joinParts(str(d, "provider"), methodLabel(str(d, "auth_method")))
	case "integration.updated":
		return "Settings changed", changedList(d)
	case "credential.saved":
		verified := ""
		if v, ok := d["verified"].(bool); ok {
			verified = map[bool]string{true: "verified", false: "saved without verification"}[v]
		}
		return n + " saved", joinParts(version(d), hintText(str(d, "hint")), verified)
	case "credential.revoked":
		return n + " revoked", joinParts(version(d), revokeWhy[str(d, "reason")])
	case "credential.fallback_used":
		return "The previous version was used as a fallback", ""
	case "verification.succeeded":
		return "Verified: working", ""
	case "verification.failed":
		status, _ := num(d, "status")
		return "Verification failed: " + reasonWords(str(d, "reason"), status), quoted(str(d, "provider_message"))
	case "integration.connected":
		return "Connected", ""
	case "integration.recovered":
		return "Working again", ""
	case "integration.degraded":
		return "Degraded", str(d, "reason")
	case "integration.reconnect_required":
		return "Reconnect required", str(d, "reason")
	case "token.refreshed":
		return "Token refreshed", ""
	case "token.refresh_failed":
		return "Token refresh failed", firstOf(str(d, "error"), str(d, "reason"))
	case "authorization.failed":
		return "Authorization failed", str(d, "reason")
	case "credential.expiring":
		return n + " expires soon", joinParts(hintText(str(d, "hint")), str(d, "expires_at"))
	case "credential.key_age":
		age, _ := num(d, "age_days")
		return n + " is due for rotation", joinParts(hintText(str(d, "hint")), fmt.Sprintf("%d days old", age))
	case "connect.completed":
		what := "connected it"
		if d["created"] == true {
			what = "created and connected it"
		}
		return "Connected through a connect link", "the account's owner " + what
	case "connect.locked":
		fails, _ := num(d, "failures")
		return "Connect link locked", fmt.Sprintf("after %d failed attempts", fails)
	}
	if t, ok := eventTitles[e.Type]; ok {
		return t, summarize(e.Data)
	}
	return humanize(e.Type), summarize(e.Data)
}

// auditSentence is an audit record as "what, by whom" and its detail.
func auditSentence(a store.AuditRecord, actor, method string) (title, detail string) {
	d := dataOf(a.Detail)
	n := noun(method)
	by := " by " + actor
	switch a.Action {
	case "credential.save":
		if d["unchanged"] == true {
			return n + " saved again" + by, joinParts(version(d), "the same secret: nothing changed")
		}
		verified := ""
		if v, ok := d["verified"].(bool); ok {
			verified = map[bool]string{true: "verified", false: "not verified"}[v]
		}
		return n + " saved" + by, joinParts(verified, version(d))
	case "credential.save_rejected":
		status, _ := num(d, "status")
		return n + " not saved (tried" + by + ")", reasonWords(str(d, "reason"), status)
	case "credential.revoke":
		return n + " revoked" + by, joinParts(version(d), revokeWhy[str(d, "reason")])
	case "credential.authorize":
		return "Authorized" + by, version(d)
	case "integration.authorize":
		return "Authorization started" + by, ""
	case "integration.create":
		return "Integration created" + by, ""
	case "integration.update":
		return "Settings changed" + by, changedList(d)
	case "integration.delete":
		return "Integration deleted" + by, ""
	case "integration.verify":
		status, _ := num(d, "status")
		switch d["ok"] {
		case true:
			return "Verified" + by, "working"
		case nil:
			return "Verify asked" + by, "not checked: there is no verify request"
		}
		return "Verified" + by, "not working: " + reasonWords(str(d, "reason"), status)
	case "credential.access":
		return n + " read" + by, times(d)
	case "credential.proxy":
		return "Requests proxied" + by, times(d)
	case "credential.fallback_used":
		return "Previous version used as a fallback" + by, times(d)
	case "connect.create":
		return "Connect link made" + by, ""
	case "connect.delete":
		return "Connect link deleted" + by, ""
	case "connect.complete":
		return "Connected through a connect link", ""
	case "connect.attempt_failed":
		fails, _ := num(d, "failures")
		return "An attempt through a connect link failed", fmt.Sprintf("%d so far", fails)
	case "connect.lock":
		return "Connect link locked", "too many failed attempts"
	}
	return humanize(a.Action) + by, summarize(a.Detail)
}

func times(d map[string]any) string {
	if c, ok := num(d, "count"); ok && c > 1 {
		return fmt.Sprintf("%d times", c)
	}
	return ""
}

// changedList names the settings an update changed.
func changedList(d map[string]any) string {
	l, ok := d["changed"].([]any)
	if !ok || len(l) == 0 {
		return ""
	}
	var names []string
	for _, v := range l {
		if s, ok := v.(string); ok {
			names = append(names, strings.ReplaceAll(s, "_", " "))
		}
	}
	return "changed: " + strings.Join(names, ", ")
}

func quoted(s string) string {
	if s == "" {
		return ""
	}
	return "the provider said “" + s + "”"
}

func firstOf(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}

// humanize turns "integration.verify" into "Integration verify".
func humanize(code string) string {
	s := strings.NewReplacer(".", " ", "_", " ").Replace(code)
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// hintText is a credential's hint as a page shows it: a key too short
// to show any of it has the bare "…", which reads as nothing at all.
func hintText(h string) string {
	if h == "…" {
		return "short key, no hint"
	}
	return h
}

// causeHeadline says in one sentence why a new or current credential
// does not work, from the verification reason, for the page's notice.
func causeHeadline(reason, provider string, status int) string {
	switch outcome.Reason(reason) {
	case outcome.Rejected:
		return provider + " refused the credential."
	case outcome.Unreachable:
		return provider + " could not be reached (DNS, connection, TLS or timeout), so the credential was not judged. Try again later."
	case outcome.Blocked:
		return "Storm's egress guard blocks " + provider + "'s address (private, loopback or reserved). " +
			"An operator can allow private upstreams by starting the server with STORM_ALLOW_PRIVATE_UPSTREAMS=true."
	case outcome.Unexpected:
		if status > 0 {
			return fmt.Sprintf("%s gave an unexpected answer (HTTP %d %s).", provider, status, http.StatusText(status))
		}
		return provider + " gave an unexpected answer."
	case outcome.NotChecked:
		return "Not checked: this integration has no verify request."
	}
	return provider + " did not accept the credential."
}
