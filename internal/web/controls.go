package web

import (
	"encoding/json"

	"github.com/stormcreds/storm/internal/catalog"
	"github.com/stormcreds/storm/internal/creds"
	"github.com/stormcreds/storm/internal/problem"
	"github.com/stormcreds/storm/internal/store"
)

// controls is what the credential controls (the "controls" template in
// partials.html) need: the integration page and a connect link's page
// show the same ones, for every auth method.
type controls struct {
	// Action is where the forms post (Action/credentials,
	// Action/authorize); SetupURL opens the setup dialog without a
	// script.
	Action   string
	SetupURL string
	// CanEdit shows the forms at all.
	CanEdit      bool
	ProviderName string
	OAuth        bool
	APIKey       bool
	SA           bool
	Basic        bool
	OAuth1       bool
	// ThreeLegged: an OAuth 1.0a provider a person authorizes (else its
	// tokens are pasted).
	ThreeLegged   bool
	UsernameLabel string
	PasswordLabel string
	Reconnect     bool
	KeyLabel      string
	SAKind        string
	SAKindLabel   string
	Upload        []field
	SetupOpen     bool
	// RedirectURI is shown under Authorize for whoever registers the app
	// (not on a connect link's page).
	RedirectURI string
	// HasActive: the integration holds a working credential already.
	HasActive bool
	// SaveError is a failed Save: what the provider answered (or why the
	// input was refused). Nothing was changed.
	SaveError    string
	SaveVerify   *verifyResult
	UploadErrors []problem.FieldError
	// Hidden are fields every form carries (a connect link's choice).
	Hidden []hidden
	// Link: a connect link's page, whose forms also say whether the page
	// has an opener (set by the script; see storm.js).
	Link bool
}

// hidden is a hidden form field.
type hidden struct{ Name, Value string }

// methodControls fills in what the controls of in's auth method show:
// which forms, their labels, the upload's fields. docsURL is the
// provider's documentation for that method.
func (u *UI) methodControls(in store.Integration) (c controls, docsURL string) {
	m := in.AuthMethod
	c = controls{ProviderName: u.providerName(in.Provider), OAuth: m == catalog.MethodOAuth2, APIKey: m == catalog.MethodAPIKey,
		SA: m == catalog.MethodServiceAccount, Basic: m == catalog.MethodBasic, OAuth1: m == catalog.MethodOAuth1,
		Reconnect: in.Status == store.StatusReconnectRequired}
	if p, ok := u.cfg.Catalog.Get(in.Provider); ok {
		docsURL = p.DocsURL
	}
	var cfg map[string]any
	_ = json.Unmarshal(in.Config, &cfg)
	if r, err := u.cfg.Catalog.ResolveMethod(in.Provider, m, cfg); err == nil {
		if c.APIKey && r.Provider.APIKey != nil {
			c.KeyLabel = r.Provider.APIKey.Label
		}
		if c.SA && r.Provider.ServiceAccount != nil {
			c.SAKind = r.Provider.ServiceAccount.Kind
			if r.Provider.ServiceAccount.DocsURL != "" {
				docsURL = r.Provider.ServiceAccount.DocsURL
			}
		}
		if c.OAuth && r.Provider.OAuth2 != nil && r.Provider.OAuth2.DocsURL != "" {
			docsURL = r.Provider.OAuth2.DocsURL
		}
		if b := r.Provider.Basic; c.Basic && b != nil {
			c.UsernameLabel, c.PasswordLabel = b.UsernameLabel, b.PasswordLabel
			if b.DocsURL != "" {
				docsURL = b.DocsURL
			}
		}
		if o := r.Provider.OAuth1; c.OAuth1 && o != nil {
			c.ThreeLegged = o.ThreeLegged()
			if o.DocsURL != "" {
				docsURL = o.DocsURL
			}
		}
	}
	if c.UsernameLabel == "" {
		c.UsernameLabel = "User name"
	}
	if c.PasswordLabel == "" {
		c.PasswordLabel = "Password"
	}
	if c.KeyLabel == "" {
		c.KeyLabel = "API key"
	}
	c.SAKindLabel = saKindLabels[c.SAKind]
	if c.SA {
		c.Upload = uploadFields(c.SAKind)
	}
	if c.OAuth || c.ThreeLegged {
		c.RedirectURI = u.publicURL + creds.CallbackPath
	}
	return c, docsURL
}
