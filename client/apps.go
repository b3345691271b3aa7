package client

import (
	"context"
	"errors"
	"net/http"
	"time"
)

// App is one OAuth client registration that many integrations of a
// workspace share. Config's secret is masked by the server; the secret
// itself is never sent back.
type App struct {
	ID            string         `json:"id"`
	Workspace     string         `json:"workspace"`
	WorkspaceName string         `json:"workspace_name,omitempty"`
	Name          string         `json:"name"`
	Provider      string         `json:"provider"`
	AuthMethod    string         `json:"auth_method"`
	Config        map[string]any `json:"config,omitempty"`
	Origin        string         `json:"origin,omitempty"`
	// Issuer and RedirectURI say where Storm registered the client itself
	// (origin "registered", RFC 7591, for remote MCP servers).
	Issuer       string `json:"issuer,omitempty"`
	RedirectURI  string `json:"redirect_uri,omitempty"`
	Integrations int    `json:"integrations"`
	ActiveSecret *struct {
		ID      string `json:"id"`
		Hint    string `json:"hint"`
		Version int    `json:"version"`
	} `json:"active_secret,omitempty"`
	CreatedAt time.Time `json:"created_at,omitzero"`
	UpdatedAt time.Time `json:"updated_at,omitzero"`
}

// AppRequest creates an app. Config is flat: client_id, client_secret,
// scopes and, for provider custom, the endpoints. FromIntegration makes
// the app from an integration's own client instead.
type AppRequest struct {
	Workspace       string         `json:"workspace,omitempty"`
	Name            string         `json:"name"`
	Provider        string         `json:"provider,omitempty"`
	AuthMethod      string         `json:"auth_method,omitempty"`
	Config          map[string]any `json:"config,omitempty"`
	FromIntegration string         `json:"from_integration,omitempty"`
}

// AppSecret is one version of an app's client secret: its hint and
// history, never the secret. Zero times mean "never".
type AppSecret struct {
	ID             string    `json:"id"`
	App            string    `json:"app"`
	Version        int       `json:"version"`
	State          string    `json:"state"`
	Hint           string    `json:"hint,omitempty"`
	CreatedAt      time.Time `json:"created_at,omitzero"`
	LastUsedAt     time.Time `json:"last_used_at,omitzero"`
	LastRejectedAt time.Time `json:"last_rejected_at,omitzero"`
	RevokedAt      time.Time `json:"revoked_at,omitzero"`
}

// AppFilter selects a page of apps.
type AppFilter struct {
	Workspace string
	After     string // id of the last app seen
	Limit     int    // 0: the server's default
}

// AppPage is one page of apps; Next is empty on the last.
type AppPage struct {
	Apps []App  `json:"apps"`
	Next string `json:"next,omitempty"`
}

// AdoptResult says which integrations moved into an app and why others
// did not.
type AdoptResult struct {
	Adopted []string `json:"adopted"`
	Skipped []struct {
		Integration string `json:"integration"`
		Reason      string `json:"reason"`
	} `json:"skipped"`
	App App `json:"app"`
}

func appPath(id string) (string, error) {
	seg, err := segment("app id", id)
	if err != nil {
		return "", err
	}
	return "/v1/apps/" + seg, nil
}

// CreateApp creates an app.
func (c *Client) CreateApp(ctx context.Context, req AppRequest) (*App, error) {
	var out App
	if err := c.do(ctx, http.MethodPost, "/v1/apps", nil, req, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Apps returns one page of a workspace's apps; pass the page's Next as
// the next filter's After.
func (c *Client) Apps(ctx context.Context, f AppFilter) (*AppPage, error) {
	var out AppPage
	if err := c.do(ctx, http.MethodGet, "/v1/apps", pageQuery(f.Workspace, f.After, f.Limit), nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// AllApps follows Apps' pages to the end.
func (c *Client) AllApps(ctx context.Context, workspace string) ([]App, error) {
	var all []App
	f := AppFilter{Workspace: workspace, Limit: 1000}
	for {
		page, err := c.Apps(ctx, f)
		if err != nil {
			return nil, err
		}
		all = append(all, page.Apps...)
		if page.Next == "" || page.Next == f.After {
			return all, nil
		}
		f.After = page.Next
	}
}

// App returns one app, its secret masked.
func (c *Client) App(ctx context.Context, id string) (*App, error) {
	p, err := appPath(id)
	if err != nil {
		return nil, err
	}
	var out App
	if err := c.do(ctx, http.MethodGet, p, nil, nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// UpdateApp renames or reconfigures an app (PATCH with name and/or
// config); the integrations that use it follow.
func (c *Client) UpdateApp(ctx context.Context, id string, patch map[string]any) (*App, error) {
	p, err := appPath(id)
	if err != nil {
		return nil, err
	}
	var out App
	if err := c.do(ctx, http.MethodPatch, p, nil, patch, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// DeleteApp deletes an app that no integration uses.
func (c *Client) DeleteApp(ctx context.Context, id string) error {
	p, err := appPath(id)
	if err != nil {
		return err
	}
	return c.do(ctx, http.MethodDelete, p, nil, nil, nil)
}

// AppSecretPage returns one page of an app's client secret versions,
// oldest first (f.Workspace does not apply).
func (c *Client) AppSecretPage(ctx context.Context, id string, f ListFilter) (*Page[AppSecret], error) {
	p, err := appPath(id)
	if err != nil {
		return nil, err
	}
	return getPage[AppSecret](ctx, c, p+"/secrets", pageQuery("", f.After, f.Limit), "secrets")
}

// AppSecrets lists an app's client secret versions, following every
// page.
func (c *Client) AppSecrets(ctx context.Context, id string) ([]AppSecret, error) {
	return follow(ListFilter{}, func(f ListFilter) (*Page[AppSecret], error) { return c.AppSecretPage(ctx, id, f) })
}

// AddAppSecret adds a client secret to an app: it becomes the newest,
// used first, and the one it replaces the fallback until revoked.
func (c *Client) AddAppSecret(ctx context.Context, id, clientSecret string) (*AppSecret, error) {
	if clientSecret == "" {
		return nil, errors.New("client: the client secret is empty")
	}
	p, err := appPath(id)
	if err != nil {
		return nil, err
	}
	in := struct {
		ClientSecret string `json:"client_secret"`
	}{clientSecret}
	var out AppSecret
	if err := c.do(ctx, http.MethodPost, p+"/secrets", nil, in, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// RevokeAppSecret revokes one of an app's client secret versions.
func (c *Client) RevokeAppSecret(ctx context.Context, id, secretID string) (*AppSecret, error) {
	p, err := appPath(id)
	if err != nil {
		return nil, err
	}
	seg, err := segment("secret id", secretID)
	if err != nil {
		return nil, err
	}
	var out AppSecret
	if err := c.do(ctx, http.MethodPost, p+"/secrets/"+seg+"/revoke", nil, nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// AdoptIntoApp moves integrations holding an identical client into the
// app; no ids means every such integration of the app's workspace.
func (c *Client) AdoptIntoApp(ctx context.Context, id string, integrations []string) (*AdoptResult, error) {
	p, err := appPath(id)
	if err != nil {
		return nil, err
	}
	in := struct {
		Integrations []string `json:"integrations,omitempty"`
	}{integrations}
	var out AdoptResult
	if err := c.do(ctx, http.MethodPost, p+"/adopt", nil, in, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// AppIntegrationPage returns one page of the integrations that use an
// app, in id order (f.Workspace does not apply).
func (c *Client) AppIntegrationPage(ctx context.Context, id string, f ListFilter) (*Page[Integration], error) {
	p, err := appPath(id)
	if err != nil {
		return nil, err
	}
	return getPage[Integration](ctx, c, p+"/integrations", pageQuery("", f.After, f.Limit), "integrations")
}

// AppIntegrations lists the integrations that use an app, following
// every page.
func (c *Client) AppIntegrations(ctx context.Context, id string) ([]Integration, error) {
	return follow(ListFilter{}, func(f ListFilter) (*Page[Integration], error) { return c.AppIntegrationPage(ctx, id, f) })
}
