package client

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
)

func webhookPath(id string) (string, error) {
	seg, err := segment("webhook id", id)
	if err != nil {
		return "", err
	}
	return "/v1/webhooks/" + seg, nil
}

// ListWebhooks lists a workspace's webhooks (empty: the token's own, or
// every workspace's for an admin), without their secrets.
func (c *Client) ListWebhooks(ctx context.Context, workspace string) ([]Webhook, error) {
	q := url.Values{}
	if workspace != "" {
		q.Set("workspace", workspace)
	}
	var out struct {
		Webhooks []Webhook `json:"webhooks"`
	}
	if err := c.do(ctx, http.MethodGet, "/v1/webhooks", q, nil, &out); err != nil {
		return nil, err
	}
	return out.Webhooks, nil
}

// Webhook returns one webhook with its delivery state.
func (c *Client) Webhook(ctx context.Context, id string) (*Webhook, error) {
	p, err := webhookPath(id)
	if err != nil {
		return nil, err
	}
	var out Webhook
	if err := c.do(ctx, http.MethodGet, p, nil, nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// DeleteWebhook deletes a webhook and its delivery log.
func (c *Client) DeleteWebhook(ctx context.Context, id string) error {
	p, err := webhookPath(id)
	if err != nil {
		return err
	}
	return c.do(ctx, http.MethodDelete, p, nil, nil, nil)
}

// EnableWebhook re-enables a webhook disabled after repeated failures;
// delivery resumes with the event it stopped at.
func (c *Client) EnableWebhook(ctx context.Context, id string) (*Webhook, error) {
	p, err := webhookPath(id)
	if err != nil {
		return nil, err
	}
	var out Webhook
	if err := c.do(ctx, http.MethodPost, p+"/enable", nil, nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Deliveries returns a webhook's delivery log, newest first, at most
// limit entries (0: the server's default).
func (c *Client) Deliveries(ctx context.Context, id string, limit int) ([]WebhookDelivery, error) {
	p, err := webhookPath(id)
	if err != nil {
		return nil, err
	}
	q := url.Values{}
	if limit > 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	var out struct {
		Deliveries []WebhookDelivery `json:"deliveries"`
	}
	if err := c.do(ctx, http.MethodGet, p+"/deliveries", q, nil, &out); err != nil {
		return nil, err
	}
	return out.Deliveries, nil
}
