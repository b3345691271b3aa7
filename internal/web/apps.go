package web

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/stormcreds/storm/internal/api"
	"github.com/stormcreds/storm/internal/apps"
	"github.com/stormcreds/storm/internal/catalog"
	"github.com/stormcreds/storm/internal/problem"
	"github.com/stormcreds/storm/internal/store"
)

// The Apps pages: a workspace's apps (OAuth clients shared by many
// integrations), one app with its secret versions and the integrations
// using it, and the forms that create an app, rotate its secret (add the
// new one, revoke the old one), adopt integrations and delete it.

func (u *UI) appRoutes() {
	u.handle("GET /apps", reader, u.appsPage)
	u.handle("POST /apps", editor, u.createApp)
	u.handle("GET /apps/{id}", reader, u.appPage)
	u.handle("POST /apps/{id}/secrets", editor, u.addAppSecret)
	u.handle("POST /apps/{id}/secrets/{secret}/revoke", editor, u.revokeAppSecret)
	u.handle("POST /apps/{id}/adopt", editor, u.adoptIntoApp)
	u.handle("POST /apps/{id}/delete", editor, u.deleteApp)
}

type appItem struct {
	ID, Name, Provider, ProviderName, LogoURL, Method, ClientID, Hint string
	Integrations                                                      int
	// Issuer is set for a client Storm registered itself (RFC 7591) at
	// that authorization server: Storm manages its client and secret.
	Issuer string
}

func (u *UI) appItem(a store.App) appItem {
	cfg, _ := apps.Decode(a.Config)
	it := appItem{ID: a.ID, Name: a.Name, Provider: a.Provider, ProviderName: u.providerName(a.Provider), LogoURL: u.logoURL(a.Provider),
		Method: methodLabel(a.AuthMethod), ClientID: apps.ClientID(a.AuthMethod, cfg), Integrations: a.Integrations}
	if apps.IsRegistered(a) {
		it.Issuer = a.Issuer
	}
	return it
}

type appsData struct {
	Base
	Workspace  string
	Workspaces []option
	Apps       []appItem
	// The create form.
	Providers []option
	Fields    []field
	Name      string
	Message   string
	Errors    []problem.FieldError
}

// appProviders are the providers an app can be made for: those with
// OAuth 2.0 settings, custom first.
func (u *UI) appProviders(selected string) []option {
	opts := []option{{Value: catalog.Custom, Label: "Custom (any OAuth 2.0 server)", Selected: selected == catalog.Custom}}
	for _, p := range u.cfg.Catalog.List() {
		if p.Name != catalog.Custom && p.OAuth2 != nil && p.Supports(catalog.MethodOAuth2) {
			opts = append(opts, option{Value: p.Name, Label: p.DisplayName, Selected: p.Name == selected})
		}
	}
	return opts
}

// appFields are the create form's inputs; the endpoints apply to custom
// apps only.
func appFields() []field {
	id := newField("config.client_id", "Client ID", "text", "The client id of your app at the provider.")
	id.Required = true
	sec := newField("config.client_secret", "Client secret", "password", "Stored encrypted and never shown again. Leave empty for a public client.")
	scopes := newField("config.scopes", "Scopes", "text", "Separated by spaces; narrows the provider's defaults. Leave empty for the defaults.")
	iss := newField("config.issuer", "Issuer (custom only)", "url", "Enough when the server publishes discovery metadata.")
	auth := newField("config.authorize_url", "Authorization endpoint (custom only)", "url", "")
	tok := newField("config.token_url", "Token endpoint (custom only)", "url", "The one place the client secret is ever sent.")
	rev := newField("config.revoke_url", "Revocation endpoint (custom only)", "url", "Optional (RFC 7009).")
	return []field{id, sec, scopes, iss, auth, tok, rev}
}

func (u *UI) appsPage(c *reqCtx) error {
	return u.renderApps(c, http.StatusOK, c.r.URL.Query().Get("workspace"), nil)
}

// renderApps shows a workspace's apps, with the create form (and its
// problem, when a creation was refused).
func (u *UI) renderApps(c *reqCtx, status int, wsRef string, refused *appsData) error {
	if u.cfg.Apps == nil {
		return errNotFound
	}
	ws, err := u.workspace(c, wsRef)
	if err != nil {
		return err
	}
	d := appsData{Base: u.base(c, "Apps"), Workspace: ws.Name, Providers: u.appProviders(catalog.Custom), Fields: appFields()}
	if refused != nil {
		d.Providers, d.Fields, d.Name, d.Message, d.Errors = refused.Providers, refused.Fields, refused.Name, refused.Message, refused.Errors
	}
	d.Nav = "apps"
	if d.Workspaces, err = u.workspaceOptions(c, ws); err != nil {
		return err
	}
	for after := ""; ; {
		page, err := u.cfg.Store.ListApps(c.r.Context(), store.AppPage{WorkspaceID: ws.ID, After: after, Limit: 1000})
		if err != nil {
			return err
		}
		for _, a := range page {
			d.Apps = append(d.Apps, u.appItem(a))
		}
		if len(page) < 1000 {
			break
		}
		after = page[len(page)-1].ID
	}
	return u.render(c, status, "apps", d)
}

func (u *UI) createApp(c *reqCtx) error {
	if u.cfg.Apps == nil {
		return errNotFound
	}
	f := c.r.PostForm
	ws, err := u.workspace(c, f.Get("workspace"))
	if err != nil {
		return err
	}
	provider := f.Get("provider")
	sets := []fieldset{{Fields: appFields()}}
	cfg := configFromForm(f, sets)
	if provider != catalog.Custom {
		for _, k := range []string{"issuer", "authorize_url", "token_url", "revoke_url"} {
			if _, set := cfg[k]; set {
				delete(cfg, k)
			}
		}
	}
	name := strings.TrimSpace(f.Get("name"))
	a, _, err := u.cfg.Apps.Create(c.r.Context(), c.actor(), ws, apps.CreateInput{Name: name, Provider: provider, AuthMethod: catalog.MethodOAuth2, Config: cfg})
	if err != nil {
		p, ok := asProblem(err)
		if !ok || p.Status >= 500 {
			return err
		}
		rest := fillForm(sets, f, p.Errors)
		d := &appsData{Providers: u.appProviders(provider), Fields: sets[0].Fields, Name: name, Message: p.Detail, Errors: rest}
		if len(p.Errors) > 0 {
			d.Message = "The app was not created. Check the fields marked below."
		}
		return u.renderApps(c, p.Status, ws.Name, d)
	}
	u.setFlash(c.w, c.r, flash{Kind: "ok", Message: "App created. Integrations of " + u.providerName(a.Provider) + " can now use its client."})
	http.Redirect(c.w, c.r, "/apps/"+a.ID, http.StatusSeeOther)
	return nil
}

// app loads the app named in the path, if the session's token may see it.
func (u *UI) app(c *reqCtx) (store.App, error) {
	if u.cfg.Apps == nil {
		return store.App{}, errNotFound
	}
	a, err := u.cfg.Store.GetApp(c.r.Context(), c.r.PathValue("id"))
	if errors.Is(err, store.ErrNotFound) || (err == nil && !api.Visible(c.tok, a.WorkspaceID)) {
		return store.App{}, errNotFound
	}
	return a, err
}

type appSecretView struct {
	ID, State, StateLabel, Hint string
	Version                     int
	Created, LastUsed, Refused  timeView
	Revoked                     timeView
}

type appData struct {
	Base
	A            appItem
	Workspace    string
	Config       []option // name, value pairs of the non-secret config
	CanEdit      bool
	Secrets      []appSecretView
	Previous     *appSecretView
	Active       *appSecretView
	Full         bool // two unrevoked secrets: revoke one before adding
	Integrations []integrationView
	AddURL       string
}

func (u *UI) appPage(c *reqCtx) error {
	a, err := u.app(c)
	if err != nil {
		return err
	}
	ctx := c.r.Context()
	d := appData{Base: u.base(c, a.Name), A: u.appItem(a), CanEdit: c.canEdit()}
	d.Nav = "apps"
	if ws, err := u.cfg.Store.GetWorkspace(ctx, a.WorkspaceID); err == nil {
		d.Workspace = ws.Name
	}
	cfg, _ := apps.Decode(a.Config)
	for _, k := range sortedConfigKeys(cfg) {
		if k == "legacy_registration" {
			continue // migration 0012's marker, until Storm converts it
		}
		d.Config = append(d.Config, option{Value: k, Label: configText(cfg[k])})
	}
	xs, err := u.cfg.Store.ListAppSecrets(ctx, a.ID)
	if err != nil {
		return err
	}
	live := 0
	for _, x := range xs {
		v := appSecretView{ID: x.ID, State: x.State, StateLabel: stateLabel(x.State), Hint: x.Hint, Version: x.Version,
			Created: u.when(x.CreatedAt), LastUsed: u.when(x.LastUsedAt), Refused: u.when(x.LastRejectedAt), Revoked: u.when(x.RevokedAt)}
		d.Secrets = append(d.Secrets, v)
		switch x.State {
		case store.StateActive:
			d.Active = &d.Secrets[len(d.Secrets)-1]
			live++
		case store.StatePrevious:
			d.Previous = &d.Secrets[len(d.Secrets)-1]
			live++
		}
	}
	// Pointers into the slice stay valid: it is not appended to again.
	d.Full = live >= apps.MaxUnrevoked
	ins, err := u.cfg.Store.ListAppIntegrations(ctx, a.ID)
	if err != nil {
		return err
	}
	for _, in := range ins {
		d.Integrations = append(d.Integrations, u.integrationView(in, d.Workspace))
	}
	q := url.Values{"provider": {a.Provider}, "method": {a.AuthMethod}, "app": {a.ID}}
	if a.WorkspaceID != c.ws.ID {
		q.Set("workspace", d.Workspace)
	}
	d.AddURL = "/integrations/new?" + q.Encode()
	return u.render(c, http.StatusOK, "app", d)
}

func stateLabel(s string) string {
	switch s {
	case store.StateActive:
		return "Active"
	case store.StatePrevious:
		return "Previous (fallback)"
	case store.StateRevoked:
		return "Revoked"
	}
	return s
}

func sortedConfigKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func configText(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case []any:
		var parts []string
		for _, s := range v {
			parts = append(parts, fmt.Sprint(s))
		}
		return strings.Join(parts, " ")
	}
	return fmt.Sprint(v)
}

// appDone redirects to the app's page with a message.
func (u *UI) appDone(c *reqCtx, id, anchor string, f flash) error {
	u.setFlash(c.w, c.r, f)
	http.Redirect(c.w, c.r, "/apps/"+id+anchor, http.StatusSeeOther)
	return nil
}

// appRefused shows a refused action as a message on the app's page.
func (u *UI) appRefused(c *reqCtx, id, anchor string, err error) error {
	p, ok := asProblem(err)
	if !ok || p.Status >= 500 {
		return err
	}
	return u.appDone(c, id, anchor, flash{Kind: "error", Message: p.Detail})
}

func (u *UI) addAppSecret(c *reqCtx) error {
	a, err := u.app(c)
	if err != nil {
		return err
	}
	x, err := u.cfg.Apps.AddSecret(c.r.Context(), c.actor(), a.ID, c.r.PostForm.Get("client_secret"))
	if err != nil {
		return u.appRefused(c, a.ID, "#secrets", err)
	}
	return u.appDone(c, a.ID, "#secrets", flash{Kind: "ok", Message: fmt.Sprintf(
		"Added secret v%d (%s). Token requests use it first and fall back to the previous secret while the provider refuses it. "+
			"Once the provider no longer accepts the old secret, revoke it here.", x.Version, x.Hint)})
}

func (u *UI) revokeAppSecret(c *reqCtx) error {
	a, err := u.app(c)
	if err != nil {
		return err
	}
	x, err := u.cfg.Apps.RevokeSecret(c.r.Context(), c.actor(), a.ID, c.r.PathValue("secret"))
	if err != nil {
		return u.appRefused(c, a.ID, "#secrets", err)
	}
	return u.appDone(c, a.ID, "#secrets", flash{Kind: "ok", Message: fmt.Sprintf("Revoked secret v%d (%s). It is destroyed and never sent again.", x.Version, x.Hint)})
}

func (u *UI) adoptIntoApp(c *reqCtx) error {
	a, err := u.app(c)
	if err != nil {
		return err
	}
	res, err := u.cfg.Apps.Adopt(c.r.Context(), c.actor(), a, nil)
	if err != nil {
		return u.appRefused(c, a.ID, "#integrations", err)
	}
	msg := fmt.Sprintf("%d integrations now use this app.", len(res.Adopted))
	if len(res.Skipped) > 0 {
		var why []string
		for _, s := range res.Skipped {
			why = append(why, s.Integration+": "+s.Reason)
		}
		msg += " Left as they were: " + strings.Join(why, "; ") + "."
	}
	return u.appDone(c, a.ID, "#integrations", flash{Kind: "ok", Message: msg})
}

func (u *UI) deleteApp(c *reqCtx) error {
	a, err := u.app(c)
	if err != nil {
		return err
	}
	if c.r.PostForm.Get("confirm") != a.Name {
		return u.appDone(c, a.ID, "#danger", flash{Kind: "error", Message: "Type the app's name to confirm."})
	}
	if err := u.cfg.Apps.Delete(c.r.Context(), c.actor(), a); err != nil {
		return u.appRefused(c, a.ID, "#danger", err)
	}
	u.setFlash(c.w, c.r, flash{Kind: "ok", Message: "App " + a.Name + " deleted; its secrets are destroyed."})
	http.Redirect(c.w, c.r, "/apps", http.StatusSeeOther)
	return nil
}

// appChoices are the workspace's apps an integration of provider p may
// use, for the add-integration form.
func (u *UI) appChoices(c *reqCtx, ws store.Workspace, provider, method, selected string) ([]option, error) {
	if u.cfg.Apps == nil || method != catalog.MethodOAuth2 {
		return nil, nil
	}
	var opts []option
	for after := ""; ; {
		page, err := u.cfg.Store.ListApps(c.r.Context(), store.AppPage{WorkspaceID: ws.ID, After: after, Limit: 1000})
		if err != nil {
			return nil, err
		}
		for _, a := range page {
			if a.Provider == provider && a.AuthMethod == method {
				cfg, _ := apps.Decode(a.Config)
				opts = append(opts, option{Value: a.ID, Label: a.Name + " (client " + apps.ClientID(a.AuthMethod, cfg) + ")", Selected: a.ID == selected})
			}
		}
		if len(page) < 1000 {
			break
		}
		after = page[len(page)-1].ID
	}
	if len(opts) == 0 {
		return nil, nil
	}
	own := option{Value: "", Label: "None: enter a client for this integration only", Selected: selected == ""}
	return append(opts, own), nil
}

// isClientField reports a form field that holds an OAuth client's id,
// secret or endpoints: what an app supplies.
func isClientField(name string) bool {
	switch strings.TrimPrefix(strings.TrimPrefix(name, "config."), "oauth2.") {
	case "client_id", "client_secret", "issuer", "authorize_url", "token_url", "revoke_url":
		return true
	}
	return false
}

// withoutClient drops the client settings from an integration's form
// config when it uses an app, which supplies them (the form's PKCE box
// included).
func withoutClient(cfg map[string]any) {
	delete(cfg, "client_id")
	delete(cfg, "client_secret")
	if o, ok := cfg["oauth2"].(map[string]any); ok {
		for _, k := range []string{"client_id", "client_secret", "issuer", "authorize_url", "token_url", "revoke_url", "pkce"} {
			delete(o, k)
		}
		if len(o) == 0 {
			delete(cfg, "oauth2")
		}
	}
}
