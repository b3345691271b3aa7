package client

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"
)

// ConnectLink is a single-use link that lets a person without an API
// token connect one integration (or create one among Providers). URL
// holds the link's secret and is set only in the answer that created
// it; String, Format and LogValue leave it out.
type ConnectLink struct {
	ID          string `json:"id"`
	Workspace   string `json:"workspace"`
	Integration string `json:"integration,omitempty"`
	// Providers and Name are set for a link that creates an integration.
	Providers      []string  `json:"providers,omitempty"`
	Name           string    `json:"name,omitempty"`
	URL            string    `json:"url,omitempty"`
	ReturnURL      string    `json:"return_url,omitempty"`
	State          string    `json:"state"` // open, used, expired, deleted or locked
	FailedAttempts int       `json:"failed_attempts"`
	CreatedBy      string    `json:"created_by"`
	CreatedAt      time.Time `json:"created_at,omitzero"`
	ExpiresAt      time.Time `json:"expires_at,omitzero"`
	UsedAt         time.Time `json:"used_at,omitzero"`
}

// ConnectLinkRequest makes a link. ExpiresIn is a Go duration ("30m",
// "2h"; from 1s to 168h, default 30m); ReturnURL is where the browser goes
// once connected (https, or http on loopback), with
// ?integration=<id>&status=connected added.
type ConnectLinkRequest struct {
	ExpiresIn string `json:"expires_in,omitempty"`
	ReturnURL string `json:"return_url,omitempty"`
}

// NewConnectLinkRequest makes a link that creates an integration named
// Name in Workspace (the token's when empty) for one of Providers.
type NewConnectLinkRequest struct {
	ConnectLinkRequest
	Workspace string   `json:"workspace,omitempty"`
	Providers []string `json:"providers"`
	Name      string   `json:"name"`
}

// ConnectLinkFilter selects a page of links: of Integration when set,
// else of Workspace.
type ConnectLinkFilter struct {
	Workspace   string
	Integration string
	After       string // id of the last link seen
	Limit       int    // 0: the server's default
}

// ConnectLinkPage is one page of links; Next is empty on the last.
type ConnectLinkPage struct {
	Links []ConnectLink `json:"links"`
	Next  string        `json:"next,omitempty"`
}

// CreateConnectLink makes a link to the integration id; the answer's URL
// is the only copy of the link.
func (c *Client) CreateConnectLink(ctx context.Context, id string, req ConnectLinkRequest) (*ConnectLink, error) {
	p, err := integrationPath(id)
	if err != nil {
		return nil, err
	}
	var out ConnectLink
	if err := c.do(ctx, http.MethodPost, p+"/connect", nil, req, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// CreateNewConnectLink makes a link that creates an integration.
func (c *Client) CreateNewConnectLink(ctx context.Context, req NewConnectLinkRequest) (*ConnectLink, error) {
	var out ConnectLink
	if err := c.do(ctx, http.MethodPost, "/v1/connect", nil, req, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// ConnectLinks returns one page of links (never their secrets); deleted
// links are left out.
func (c *Client) ConnectLinks(ctx context.Context, f ConnectLinkFilter) (*ConnectLinkPage, error) {
	path := "/v1/connect"
	q := pageQuery(f.Workspace, f.After, f.Limit)
	if f.Integration != "" {
		p, err := integrationPath(f.Integration)
		if err != nil {
			return nil, err
		}
		path = p + "/connect"
		q.Del("workspace")
	}
	var out ConnectLinkPage
	if err := c.do(ctx, http.MethodGet, path, q, nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// AllConnectLinks follows ConnectLinks' pages to the end.
func (c *Client) AllConnectLinks(ctx context.Context, f ConnectLinkFilter) ([]ConnectLink, error) {
	var all []ConnectLink
	f.Limit = 1000
	for {
		page, err := c.ConnectLinks(ctx, f)
		if err != nil {
			return nil, err
		}
		all = append(all, page.Links...)
		if page.Next == "" || page.Next == f.After {
			return all, nil
		}
		f.After = page.Next
	}
}

// DeleteConnectLink deletes a link: its page answers 410 from then on.
func (c *Client) DeleteConnectLink(ctx context.Context, id string) error {
	seg, err := segment("connect link id", id)
	if err != nil {
		return err
	}
	return c.do(ctx, http.MethodDelete, "/v1/connect/"+seg, nil, nil, nil)
}

func (l ConnectLink) fields() []field {
	return []field{
		{"id", l.ID, false},
		{"url", l.URL, true},
		{"integration", l.Integration, false},
		{"providers", strings.Join(l.Providers, ","), false},
		{"state", l.State, false},
		{"expires_at", timeString(l.ExpiresAt), false},
	}
}

// String describes l without its URL (the link's secret).
func (l ConnectLink) String() string { return render("ConnectLink", l.fields()) }

// GoString is like String, so %#v cannot print the URL either.
func (l ConnectLink) GoString() string { return l.String() }

// Format prints String for every verb.
func (l ConnectLink) Format(f fmt.State, verb rune) { io.WriteString(f, l.String()) }

// LogValue makes log/slog log l without its URL.
func (l ConnectLink) LogValue() slog.Value { return logValue(l.fields()) }

var (
	_ slog.LogValuer = ConnectLink{}
	_ fmt.Formatter  = ConnectLink{}
)
