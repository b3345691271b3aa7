package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// DefaultUserAgent is the User-Agent sent when WithUserAgent is not used.
const DefaultUserAgent = "storm-go-client/1"

// maxResponse bounds how much of a JSON response is read, so a broken or
// hostile server cannot make the client allocate without limit.
const maxResponse = 32 << 20

// Client calls one Storm server with one API token. Create it with New;
// the zero value is not usable. A Client is immutable after New and safe
// for concurrent use by many goroutines.
type Client struct {
	base      string // scheme://host[/prefix], no trailing slash
	token     string
	hc        *http.Client
	userAgent string
}

// Option configures a Client in New.
type Option func(*Client)

// WithHTTPClient makes the Client send its requests with hc (timeouts,
// TLS settings, transport). nil keeps the default, http.DefaultClient.
func WithHTTPClient(hc *http.Client) Option {
	return func(c *Client) {
		if hc != nil {
			c.hc = hc
		}
	}
}

// WithUserAgent sets the User-Agent header of every request. An empty
// string keeps DefaultUserAgent.
func WithUserAgent(ua string) Option {
	return func(c *Client) {
		if ua != "" {
			c.userAgent = ua
		}
	}
}

// New returns a Client for the server at baseURL (for example
// "http://127.0.0.1:8080", optionally with a path prefix) that
// authenticates with the API token. token may be empty for calls that need
// none (Health, Ready). baseURL is validated here, not on first use.
func New(baseURL, token string, opts ...Option) (*Client, error) {
	u, err := url.Parse(baseURL)
	if err != nil {
		return nil, fmt.Errorf("client: invalid server URL: %w", err)
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return nil, fmt.Errorf("client: server URL %q must start with http:// or https://", baseURL)
	case u.Host == "":
		return nil, fmt.Errorf("client: server URL %q has no host", baseURL)
	case u.User != nil:
		// Credentials in a URL end up in error messages and logs.
		return nil, errors.New("client: server URL must not contain user info; pass the API token instead")
	case u.RawQuery != "" || u.ForceQuery || u.Fragment != "":
		return nil, fmt.Errorf("client: server URL %q must not have a query or fragment", baseURL)
	}
	for i := 0; i < len(token); i++ {
		// Only visible ASCII can travel in an Authorization header; the
		// token itself is never repeated in the message.
		if token[i] <= ' ' || token[i] >= 0x7f {
			return nil, errors.New("client: API token contains characters not allowed in an HTTP header")
		}
	}
	c := &Client{
		base:      strings.TrimRight(u.Scheme+"://"+u.Host+u.EscapedPath(), "/"),
		token:     token,
		hc:        http.DefaultClient,
		userAgent: DefaultUserAgent,
	}
	for _, o := range opts {
		o(c)
	}
	return c, nil
}

// BaseURL returns the server URL the Client talks to, without a trailing
// slash.
func (c *Client) BaseURL() string { return c.base }

// String describes the Client without its API token.
func (c Client) String() string {
	return "client.Client{base: " + c.base + ", token: " + redactedIf(c.token) + "}"
}

// GoString is like String, so %#v cannot print the token either.
func (c Client) GoString() string { return c.String() }

// Format prints String for every verb, so no verb can print the token.
func (c Client) Format(f fmt.State, verb rune) { io.WriteString(f, c.String()) }

// segment escapes one path segment (an id or a name). It refuses values
// that a server or an intermediary could read as a different path, so an
// id can never move a request to another endpoint.
func segment(kind, v string) (string, error) {
	if v == "" {
		return "", fmt.Errorf("client: empty %s", kind)
	}
	if v == "." || v == ".." || strings.ContainsAny(v, "/\\") {
		return "", fmt.Errorf("client: invalid %s %q", kind, v)
	}
	return url.PathEscape(v), nil
}

// request builds a request for path (already escaped, starting with "/")
// with the client's headers set.
func (c *Client) request(ctx context.Context, method, path string, q url.Values, body io.Reader) (*http.Request, error) {
	u := c.base + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return nil, fmt.Errorf("client: %w", err)
	}
	c.authorize(req)
	return req, nil
}

func (c *Client) authorize(req *http.Request) {
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	req.Header.Set("User-Agent", c.userAgent)
}

// do sends a request with an optional JSON body and decodes a JSON
// response into out (when out is non-nil). Non-2xx responses become *Error.
func (c *Client) do(ctx context.Context, method, path string, q url.Values, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("client: encoding request: %w", err)
		}
		body = bytes.NewReader(b)
	}
	req, err := c.request(ctx, method, path, q, body)
	if err != nil {
		return err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	return c.send(req, out)
}

// send executes req and decodes the response as do describes.
func (c *Client) send(req *http.Request, out any) error {
	req.Header.Set("Accept", "application/json, application/problem+json")
	resp, err := c.hc.Do(req)
	if err != nil {
		return err // *url.Error: names method and URL, never the token
	}
	defer resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return parseError(resp)
	}
	if out == nil || resp.StatusCode == http.StatusNoContent {
		io.Copy(io.Discard, io.LimitReader(resp.Body, maxResponse))
		return nil
	}
	dec := json.NewDecoder(io.LimitReader(resp.Body, maxResponse))
	if err := dec.Decode(out); err != nil {
		if err == io.EOF {
			err = errEmptyBody
		}
		return fmt.Errorf("client: decoding response to %s %s: %w", req.Method, req.URL.Path, err)
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, maxResponse))
	return nil
}

func redactedIf(s string) string {
	if s == "" {
		return `""`
	}
	return redacted
}

const redacted = "[REDACTED]"

// errEmptyBody reports a 2xx response without the JSON body it should
// have carried.
var errEmptyBody = errors.New("empty response body")
