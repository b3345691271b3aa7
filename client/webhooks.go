package client

import (
	"context"
	"net/http"
)

func webhookPath(id string) (string, error) {
	seg, err := segment("webhook id", id)
	if err != nil {
		return "", err
	}
	return "/v1/webhooks/" + seg, nil
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
