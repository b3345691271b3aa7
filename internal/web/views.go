package web

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/stormcreds/storm/internal/api"
	"github.com/stormcreds/storm/internal/catalog"
	"github.com/stormcreds/storm/internal/store"
)

// Base is what every page shows: the title, who is signed in, the CSRF
// token for its forms and a message left by the previous action.
type Base struct {
	Title string
	CSRF  string
	User  *userView
	Flash *flash
	Nav   string
	// Bare pages (a connect link's) show no way into the rest of Storm.
	Bare bool
}

type userView struct {
	TokenName string
	Role      string
	Workspace string
	Admin     bool
	CanEdit   bool
}

func (u *UI) base(c *reqCtx, title string) Base {
	b := Base{Title: title, CSRF: c.sess.CSRF}
	if c.signedIn() {
		b.User = &userView{TokenName: c.tok.Name, Role: c.tok.Role, Workspace: c.ws.Name,
			Admin: c.tok.Role == store.RoleAdmin, CanEdit: c.canEdit()}
	}
	if c.r.Method == http.MethodGet {
		b.Flash = u.takeFlash(c.w, c.r)
	}
	return b
}

// timeView is a moment as pages show it: relative, with the exact UTC
// time in a <time> element.
type timeView struct {
	Zero bool
	Past bool
	ISO  string
	Text string
	Ago  string
}

func (u *UI) when(t time.Time) timeView {
	if t.IsZero() {
		return timeView{Zero: true}
	}
	d := u.now().Sub(t)
	return timeView{Past: d > 0, ISO: t.UTC().Format(time.RFC3339), Text: t.UTC().Format("2006-01-02 15:04:05 UTC"), Ago: relative(d)}
}

// relative says how long ago (d > 0) or how far ahead (d < 0) a moment is.
func relative(d time.Duration) string {
	future := d < 0
	if future {
		d = -d
	}
	var s string
	switch {
	case d < time.Minute:
		if future {
			return "in under a minute"
		}
		return "just now"
	case d < time.Hour:
		s = plural(int(d/time.Minute), "minute")
	case d < 48*time.Hour:
		s = plural(int(d/time.Hour), "hour")
	default:
		s = plural(int(d/(24*time.Hour)), "day")
	}
	if future {
		return "in " + s
	}
	return s + " ago"
}

func plural(n int, unit string) string {
	if n == 1 {
		return "1 " + unit
	}
	return fmt.Sprintf("%d %ss", n, unit)
}

// Words the product page uses.
var (
	statusLabels = map[string]string{
		store.StatusConnected:         "Connected",
		store.StatusDegraded:          "Degraded",
		store.StatusReconnectRequired: "Reconnect required",
		store.StatusPending:           "Pending",
		store.StatusDisabled:          "Disabled",
	}
	methodLabels = map[string]string{
		catalog.MethodAPIKey:         "API key",
		catalog.MethodOAuth2:         "OAuth 2.0",
		catalog.MethodServiceAccount: "Service account",
		catalog.MethodBasic:          "User name and password",
		catalog.MethodOAuth1:         "OAuth 1.0a",
	}
	stateLabels = map[string]string{store.StateActive: "Active", store.StatePrevious: "Previous", store.StateRevoked: "Revoked"}
	// methodAbout is the product page's "when to use" for each method.
	methodAbout = map[string]string{
		catalog.MethodAPIKey:         "Long-lived tokens issued by the external service. Simple, and good for server-to-server connections where OAuth is not available.",
		catalog.MethodOAuth2:         "Lets a user authorize the platform to act on their behalf without sharing a password. Storm refreshes the tokens automatically.",
		catalog.MethodServiceAccount: "A non-personal identity for machine-to-machine access, when access must not be tied to a person or the service does not support OAuth.",
		catalog.MethodBasic:          "A user name and password (or an ID and secret pair) sent as HTTP Basic. Rotated like API keys, without failed syncs.",
		catalog.MethodOAuth1:         "The older OAuth: a user authorizes Storm, or tokens issued by the service (NetSuite token-based authentication) are saved. Storm signs every request.",
	}
)

func methodLabel(m string) string {
	if l, ok := methodLabels[m]; ok {
		return l
	}
	return m
}

// integrationView is an integration in lists and on its page.
type integrationView struct {
	ID           string
	Name         string
	Provider     string
	ProviderName string
	LogoURL      string
	Method       string
	MethodLabel  string
	Status       string
	StatusLabel  string
	StatusReason string
	Workspace    string
	Created      timeView
	LastVerified timeView
	LastUsed     timeView
	// App is the app whose client the integration uses, if any.
	App string
}

func (u *UI) integrationView(in store.Integration, wsName string) integrationView {
	label := statusLabels[in.Status]
	if label == "" {
		label = in.Status
	}
	return integrationView{ID: in.ID, Name: in.Name, Provider: in.Provider, ProviderName: u.providerName(in.Provider), LogoURL: u.logoURL(in.Provider),
		Method: in.AuthMethod, MethodLabel: methodLabel(in.AuthMethod), Status: in.Status, StatusLabel: label,
		StatusReason: in.StatusReason, Workspace: wsName, Created: u.when(in.CreatedAt),
		LastVerified: u.when(in.LastVerifiedAt), LastUsed: u.when(in.LastUsedAt), App: in.AppID}
}

// logoURL is the provider's logo, served by the API (img-src 'self').
func (u *UI) logoURL(name string) string {
	l, ok := u.cfg.Catalog.Logo(name)
	if !ok {
		return ""
	}
	return api.LogoURL(name, l)
}

func (u *UI) providerName(name string) string {
	if p, ok := u.cfg.Catalog.Get(name); ok && p.DisplayName != "" {
		return p.DisplayName
	}
	return name
}

// credView is one credential version: never its secret, only the hint.
type credView struct {
	ID          string
	Version     int
	State       string
	StateLabel  string
	Hint        string
	Fingerprint string
	Created     timeView
	Verified    timeView
	Expires     timeView
	Revoked     timeView
	Warnings    []string
}

func (u *UI) credView(in store.Integration, c store.Credential) credView {
	return credView{ID: c.ID, Version: c.Version, State: c.State, StateLabel: stateLabels[c.State], Hint: hintText(c.Hint),
		Fingerprint: c.Fingerprint, Created: u.when(c.CreatedAt), Verified: u.when(c.VerifiedAt), Expires: u.when(c.ExpiresAt),
		Revoked: u.when(c.RevokedAt), Warnings: u.cfg.Creds.Warnings(in, c)}
}

// eventView is an event of the integration's log.
type eventView struct {
	At     timeView
	Type   string
	Title  string
	Detail string
	Tone   string // ok | warn | bad | ""
}

var eventTitles = map[string]string{
	"integration.created":            "Integration created",
	"integration.updated":            "Integration updated",
	"integration.connected":          "Connected",
	"integration.degraded":           "Degraded",
	"integration.reconnect_required": "Reconnect required",
	"integration.recovered":          "Recovered",
	"credential.saved":               "Credential saved",
	"credential.revoked":             "Credential revoked",
	"credential.fallback_used":       "Previous credential used as fallback",
	"credential.expiring":            "Credential expiring",
	"credential.key_age":             "Key is due for rotation",
	"verification.failed":            "Verification failed",
	"verification.succeeded":         "Verification succeeded",
	"token.refreshed":                "Token refreshed",
	"token.refresh_failed":           "Token refresh failed",
	"authorization.failed":           "Authorization failed",
	"connect.completed":              "Connected through a connect link",
	"connect.locked":                 "Connect link locked",
}

func eventTone(typ string) string {
	switch typ {
	case "integration.connected", "integration.recovered", "credential.saved", "verification.succeeded", "connect.completed":
		return "ok"
	case "integration.degraded", "credential.expiring", "credential.key_age", "credential.fallback_used":
		return "warn"
	case "integration.reconnect_required", "verification.failed", "token.refresh_failed", "authorization.failed", "connect.locked":
		return "bad"
	}
	return ""
}

func (u *UI) eventView(e store.Event, method string) eventView {
	title, detail := eventSentence(e, method)
	return eventView{At: u.when(e.At), Type: e.Type, Title: title, Detail: detail, Tone: eventTone(e.Type)}
}

// summarize renders a JSON object of an event or audit record (never a
// secret, by their contract) as "key: value" pairs.
func summarize(data []byte) string {
	var m map[string]any
	if len(data) == 0 || json.Unmarshal(data, &m) != nil {
		return ""
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		v := m[k]
		var s string
		switch v := v.(type) {
		case nil:
			continue
		case string:
			s = v
		case float64:
			s = fmt.Sprint(v)
		case bool:
			s = fmt.Sprint(v)
		default:
			b, _ := json.Marshal(v)
			s = string(b)
		}
		if len(s) > 200 {
			s = s[:200] + "…"
		}
		parts = append(parts, strings.ReplaceAll(k, "_", " ")+": "+s)
	}
	return strings.Join(parts, " · ")
}

// auditView is an audit record: who did what, from where, as a
// sentence (Action keeps the code, for the element's data attribute).
type auditView struct {
	At     timeView
	Action string
	Title  string
	Detail string
	IP     string
}

// option is a choice of a select or a list of links.
type option struct {
	Value    string
	Label    string
	Selected bool
}
