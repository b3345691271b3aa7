package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"strconv"
)

// Health reports whether the server process is alive (GET /healthz). It
// needs no API token.
func (c *Client) Health(ctx context.Context) error {
	return c.do(ctx, http.MethodGet, "/healthz", nil, nil, nil)
}

// Ready reports whether the server's storage and key are usable
// (GET /readyz); a 503 comes back as *Error. It needs no API token.
func (c *Client) Ready(ctx context.Context) error {
	return c.do(ctx, http.MethodGet, "/readyz", nil, nil, nil)
}

// Providers lists the provider catalog.
func (c *Client) Providers(ctx context.Context) ([]Provider, error) {
	var out struct {
		Providers []Provider `json:"providers"`
	}
	if err := c.do(ctx, http.MethodGet, "/v1/providers", nil, nil, &out); err != nil {
		return nil, err
	}
	return out.Providers, nil
}

// Provider returns the full, non-secret definition of the named provider
// as the server sends it; its listing fields are those of Provider.
func (c *Client) Provider(ctx context.Context, name string) (map[string]any, error) {
	seg, err := segment("provider name", name)
	if err != nil {
		return nil, err
	}
	var out map[string]any
	if err := c.do(ctx, http.MethodGet, "/v1/providers/"+seg, nil, nil, &out); err != nil {
		return nil, err
	}
	return out, nil
}

// CreateWorkspace creates a workspace (admin only).
func (c *Client) CreateWorkspace(ctx context.Context, name string) (*Workspace, error) {
	var out Workspace
	in := struct {
		Name string `json:"name"`
	}{name}
	if err := c.do(ctx, http.MethodPost, "/v1/workspaces", nil, in, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// CreateToken creates an API token. The returned Token.Token is the only
// copy of the secret the server will ever hand out.
func (c *Client) CreateToken(ctx context.Context, req TokenRequest) (*Token, error) {
	var out Token
	if err := c.do(ctx, http.MethodPost, "/v1/tokens", nil, req, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Tokens returns one page of API tokens (admin only), never their
// secrets; pass the page's Next as the next filter's After.
func (c *Client) Tokens(ctx context.Context, f TokenFilter) (*TokenPage, error) {
	var out TokenPage
	if err := c.do(ctx, http.MethodGet, "/v1/tokens", pageQuery(f.Workspace, f.After, f.Limit), nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// AllTokens follows Tokens' pages to the end.
func (c *Client) AllTokens(ctx context.Context, workspace string) ([]APIToken, error) {
	var all []APIToken
	f := TokenFilter{Workspace: workspace, Limit: 1000}
	for {
		page, err := c.Tokens(ctx, f)
		if err != nil {
			return nil, err
		}
		all = append(all, page.Tokens...)
		if page.Next == "" || page.Next == f.After {
			return all, nil
		}
		f.After = page.Next
	}
}

// DeleteToken deletes the API token with the given id.
func (c *Client) DeleteToken(ctx context.Context, id string) error {
	seg, err := segment("token id", id)
	if err != nil {
		return err
	}
	return c.do(ctx, http.MethodDelete, "/v1/tokens/"+seg, nil, nil, nil)
}

// CreateIntegration creates an integration; it starts "pending" until a
// credential is saved or authorized.
func (c *Client) CreateIntegration(ctx context.Context, req IntegrationRequest) (*Integration, error) {
	var out Integration
	if err := c.do(ctx, http.MethodPost, "/v1/integrations", nil, req, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

func integrationPath(id string) (string, error) {
	seg, err := segment("integration id", id)
	if err != nil {
		return "", err
	}
	return "/v1/integrations/" + seg, nil
}

// Integration returns one integration, its config secrets masked.
func (c *Client) Integration(ctx context.Context, id string) (*Integration, error) {
	p, err := integrationPath(id)
	if err != nil {
		return nil, err
	}
	var out Integration
	if err := c.do(ctx, http.MethodGet, p, nil, nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// UpdateIntegration sends patch as a JSON merge of the integration's
// fields (PATCH). It returns the updated integration when the server
// answers with one, and nil (with a nil error) when it answers 204 No
// Content; call Integration for the new state then.
func (c *Client) UpdateIntegration(ctx context.Context, id string, patch map[string]any) (*Integration, error) {
	p, err := integrationPath(id)
	if err != nil {
		return nil, err
	}
	var raw json.RawMessage
	if err := c.do(ctx, http.MethodPatch, p, nil, patch, &raw); err != nil {
		if errors.Is(err, errEmptyBody) { // 2xx without a body
			return nil, nil
		}
		return nil, err
	}
	if len(raw) == 0 { // 204
		return nil, nil
	}
	var out Integration
	if err := json.Unmarshal(raw, &out); err != nil {
		return nil, fmt.Errorf("client: decoding integration: %w", err)
	}
	return &out, nil
}

// DeleteIntegration deletes an integration; the server revokes what the
// provider lets it revoke and destroys the integration's key material.
func (c *Client) DeleteIntegration(ctx context.Context, id string) error {
	p, err := integrationPath(id)
	if err != nil {
		return err
	}
	return c.do(ctx, http.MethodDelete, p, nil, nil, nil)
}

func verifyQuery(verify bool) url.Values {
	if verify {
		return nil
	}
	return url.Values{"verify": {"false"}}
}

// SaveCredential stores a new credential version from a JSON body such as
// {"api_key": "…"} (see API.md for each auth method). With verify the
// server checks the secret first and answers 422 (nothing saved) when it
// does not work; without it the check is skipped. body is sent once and
// not retained.
func (c *Client) SaveCredential(ctx context.Context, id string, body map[string]any, verify bool) (*CredentialVersion, error) {
	p, err := integrationPath(id)
	if err != nil {
		return nil, err
	}
	var out CredentialVersion
	if err := c.do(ctx, http.MethodPut, p+"/credentials", verifyQuery(verify), body, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// SaveCredentialFile is SaveCredential for a key file (a service
// account's JSON key, PEM, …), sent as multipart/form-data in a part named
// "file" with the given file name.
func (c *Client) SaveCredentialFile(ctx context.Context, id, filename string, file io.Reader, verify bool) (*CredentialVersion, error) {
	p, err := integrationPath(id)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	part, err := mw.CreateFormFile("file", filename)
	if err != nil {
		return nil, fmt.Errorf("client: %w", err)
	}
	if _, err := io.Copy(part, file); err != nil {
		return nil, fmt.Errorf("client: reading key file: %w", err)
	}
	if err := mw.Close(); err != nil {
		return nil, fmt.Errorf("client: %w", err)
	}
	req, err := c.request(ctx, http.MethodPut, p+"/credentials", verifyQuery(verify), &buf)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", mw.FormDataContentType())
	var out CredentialVersion
	if err := c.send(req, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// RevokeCredential revokes one credential version and returns it in state
// "revoked".
func (c *Client) RevokeCredential(ctx context.Context, id, credID string) (*CredentialVersion, error) {
	p, err := integrationPath(id)
	if err != nil {
		return nil, err
	}
	cred, err := segment("credential id", credID)
	if err != nil {
		return nil, err
	}
	var out CredentialVersion
	if err := c.do(ctx, http.MethodPost, p+"/credentials/"+cred+"/revoke", nil, nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Verify checks the active credential against the provider. A credential
// that does not work is a result with OK false, not an error.
func (c *Client) Verify(ctx context.Context, id string) (*VerifyResult, error) {
	p, err := integrationPath(id)
	if err != nil {
		return nil, err
	}
	var out VerifyResult
	if err := c.do(ctx, http.MethodPost, p+"/verify", nil, nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Access returns what a sync needs to call the provider itself: a bearer
// token, an API key and where it goes, or AWS keys. The result holds a
// secret; see Access for how it is kept out of logs.
func (c *Client) Access(ctx context.Context, id string) (*Access, error) {
	p, err := integrationPath(id)
	if err != nil {
		return nil, err
	}
	var out Access
	if err := c.do(ctx, http.MethodGet, p+"/access", nil, nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Authorize starts the OAuth 2.0 flow of an integration and returns the
// provider URL to send the user to. returnTo, if not empty, is where the
// server redirects after the callback.
func (c *Client) Authorize(ctx context.Context, id, returnTo string) (string, error) {
	p, err := integrationPath(id)
	if err != nil {
		return "", err
	}
	in := struct {
		ReturnTo string `json:"return_to,omitempty"`
	}{returnTo}
	var out struct {
		AuthorizeURL string `json:"authorize_url"`
	}
	if err := c.do(ctx, http.MethodPost, p+"/authorize", nil, in, &out); err != nil {
		return "", err
	}
	return out.AuthorizeURL, nil
}

func pageQuery(workspace, after string, limit int) url.Values {
	q := url.Values{}
	if workspace != "" {
		q.Set("workspace", workspace)
	}
	if after != "" {
		q.Set("after", after)
	}
	if limit > 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	return q
}

// Audit lists audit records, oldest first, as selected by f.
func (c *Client) Audit(ctx context.Context, f AuditFilter) ([]AuditRecord, error) {
	var raw json.RawMessage
	if err := c.do(ctx, http.MethodGet, "/v1/audit", pageQuery(f.Workspace, f.After, f.Limit), nil, &raw); err != nil {
		return nil, err
	}
	var list []AuditRecord
	if err := decodeList(raw, &list, "audit", "records"); err != nil {
		return nil, fmt.Errorf("client: decoding audit records: %w", err)
	}
	return list, nil
}

// decodeList decodes a list whose envelope API.md does not fix: a bare
// array, or an object holding the array under one of keys (the
// {"name":[…]} form every fixed list uses).
func decodeList(raw json.RawMessage, list any, keys ...string) error {
	raw = bytes.TrimSpace(raw)
	if len(raw) > 0 && raw[0] == '[' {
		return json.Unmarshal(raw, list)
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(raw, &obj); err != nil {
		return err
	}
	for _, k := range keys {
		if v, ok := obj[k]; ok {
			return json.Unmarshal(v, list)
		}
	}
	return nil
}

// CreateWebhook subscribes a URL to events. The returned Webhook.Secret,
// which signs deliveries, is shown only here.
func (c *Client) CreateWebhook(ctx context.Context, req WebhookRequest) (*Webhook, error) {
	var out Webhook
	if err := c.do(ctx, http.MethodPost, "/v1/webhooks", nil, req, &out); err != nil {
		return nil, err
	}
	return &out, nil
}
