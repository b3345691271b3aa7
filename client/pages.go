package client

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
)

// Page is one page of a list: its items and Next, the After of the
// following page, empty on the last page.
type Page[T any] struct {
	Items []T
	Next  string
}

// ListFilter selects a page of a list: Workspace (name or id; empty: the
// token's own, or every workspace's for an admin where the list allows),
// After (the Next of the page before; empty: the first page) and Limit
// (1–1000; 0: the server's default of 100).
type ListFilter struct {
	Workspace string
	After     string
	Limit     int
}

// getPage reads one page of the list at path; key names its items.
func getPage[T any](ctx context.Context, c *Client, path string, q url.Values, key string) (*Page[T], error) {
	var raw json.RawMessage
	if err := c.do(ctx, http.MethodGet, path, q, nil, &raw); err != nil {
		return nil, err
	}
	out := &Page[T]{}
	if err := decodeList(raw, &out.Items, key); err != nil {
		return nil, fmt.Errorf("client: decoding %s: %w", key, err)
	}
	var env struct {
		Next string `json:"next"`
	}
	if len(raw) > 0 && raw[0] == '{' {
		if err := json.Unmarshal(raw, &env); err != nil {
			return nil, fmt.Errorf("client: decoding %s: %w", key, err)
		}
	}
	out.Next = env.Next
	return out, nil
}

// follow reads pages of 1000 from f.After until the last and returns
// every item. A server that answers the same Next twice ends the walk
// rather than looping.
func follow[T any](f ListFilter, page func(ListFilter) (*Page[T], error)) ([]T, error) {
	var all []T
	if f.Limit == 0 {
		f.Limit = 1000
	}
	for {
		p, err := page(f)
		if err != nil {
			return nil, err
		}
		all = append(all, p.Items...)
		if p.Next == "" || p.Next == f.After {
			return all, nil
		}
		f.After = p.Next
	}
}

// WorkspacePage returns one page of the workspaces visible to the token,
// in id order (f.Workspace does not apply).
func (c *Client) WorkspacePage(ctx context.Context, f ListFilter) (*Page[Workspace], error) {
	return getPage[Workspace](ctx, c, "/v1/workspaces", pageQuery("", f.After, f.Limit), "workspaces")
}

// Workspaces lists the workspaces visible to the token, following every
// page.
func (c *Client) Workspaces(ctx context.Context) ([]Workspace, error) {
	return follow(ListFilter{}, func(f ListFilter) (*Page[Workspace], error) { return c.WorkspacePage(ctx, f) })
}

// IntegrationPage returns one page of a workspace's integrations, in id
// order.
func (c *Client) IntegrationPage(ctx context.Context, f ListFilter) (*Page[Integration], error) {
	return getPage[Integration](ctx, c, "/v1/integrations", pageQuery(f.Workspace, f.After, f.Limit), "integrations")
}

// Integrations lists a workspace's integrations (empty: the token's own),
// following every page.
func (c *Client) Integrations(ctx context.Context, workspace string) ([]Integration, error) {
	return follow(ListFilter{Workspace: workspace}, func(f ListFilter) (*Page[Integration], error) { return c.IntegrationPage(ctx, f) })
}

// CredentialPage returns one page of an integration's credential
// versions, oldest first (f.Workspace does not apply).
func (c *Client) CredentialPage(ctx context.Context, id string, f ListFilter) (*Page[CredentialVersion], error) {
	p, err := integrationPath(id)
	if err != nil {
		return nil, err
	}
	return getPage[CredentialVersion](ctx, c, p+"/credentials", pageQuery("", f.After, f.Limit), "credentials")
}

// Credentials lists an integration's credential versions, following
// every page.
func (c *Client) Credentials(ctx context.Context, id string) ([]CredentialVersion, error) {
	return follow(ListFilter{}, func(f ListFilter) (*Page[CredentialVersion], error) { return c.CredentialPage(ctx, id, f) })
}

// WebhookPage returns one page of the webhooks, in id order, without
// their secrets.
func (c *Client) WebhookPage(ctx context.Context, f ListFilter) (*Page[Webhook], error) {
	return getPage[Webhook](ctx, c, "/v1/webhooks", pageQuery(f.Workspace, f.After, f.Limit), "webhooks")
}

// ListWebhooks lists a workspace's webhooks (empty: the token's own, or
// every workspace's for an admin), without their secrets, following
// every page.
func (c *Client) ListWebhooks(ctx context.Context, workspace string) ([]Webhook, error) {
	return follow(ListFilter{Workspace: workspace}, func(f ListFilter) (*Page[Webhook], error) { return c.WebhookPage(ctx, f) })
}

// DeliveryPage returns one page of a webhook's delivery log, newest
// first: f.After is the last delivery seen, and the page holds older
// ones (f.Workspace does not apply).
func (c *Client) DeliveryPage(ctx context.Context, id string, f ListFilter) (*Page[WebhookDelivery], error) {
	p, err := webhookPath(id)
	if err != nil {
		return nil, err
	}
	return getPage[WebhookDelivery](ctx, c, p+"/deliveries", pageQuery("", f.After, f.Limit), "deliveries")
}

// Deliveries returns a webhook's delivery log, newest first, at most
// limit entries (0: the server's default).
func (c *Client) Deliveries(ctx context.Context, id string, limit int) ([]WebhookDelivery, error) {
	p, err := c.DeliveryPage(ctx, id, ListFilter{Limit: limit})
	if err != nil {
		return nil, err
	}
	return p.Items, nil
}

// EventPage returns one page of events, oldest first, as selected by f;
// pass its Next as the next filter's After.
func (c *Client) EventPage(ctx context.Context, f EventFilter) (*Page[Event], error) {
	q := pageQuery(f.Workspace, f.After, f.Limit)
	if f.Integration != "" {
		q.Set("integration", f.Integration)
	}
	return getPage[Event](ctx, c, "/v1/events", q, "events")
}

// Events lists events, oldest first, as selected by f: one page.
func (c *Client) Events(ctx context.Context, f EventFilter) ([]Event, error) {
	p, err := c.EventPage(ctx, f)
	if err != nil {
		return nil, err
	}
	return p.Items, nil
}
