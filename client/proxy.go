package client

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// Proxy sends a request through an integration: the server forwards it to
// the provider's base URL plus path with the credential applied, and
// returns the upstream response. The caller must close the response body.
//
// path is joined under /v1/integrations/{id}/proxy/ exactly as given
// (already escaped; leading slashes are dropped) and may carry a query
// after "?". It is refused if it has a "." or ".." segment, in plain or
// escaped form, so it can never leave that prefix. method defaults to GET.
// header is copied onto the request, except Authorization, which always
// carries the client's API token (the server never forwards it upstream).
//
// Any status, including a non-2xx one, is returned as a response, not an
// error: it may come from the provider or from Storm itself.
func (c *Client) Proxy(ctx context.Context, id, method, path string, body io.Reader, header http.Header) (*http.Response, error) {
	idSeg, err := segment("integration id", id)
	if err != nil {
		return nil, err
	}
	rawPath, rawQuery, err := proxyPath(path)
	if err != nil {
		return nil, err
	}
	if method == "" {
		method = http.MethodGet
	}
	prefix := c.base + "/v1/integrations/" + idSeg + "/proxy/"
	u := prefix + rawPath
	if rawQuery != "" {
		u += "?" + rawQuery
	}
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return nil, fmt.Errorf("client: proxy request: %w", err)
	}
	// Belt and braces: whatever the parser made of the path, the request
	// must still go to this server under this integration's proxy prefix.
	if got := req.URL.Scheme + "://" + req.URL.Host + req.URL.EscapedPath(); !strings.HasPrefix(got, prefix) {
		return nil, fmt.Errorf("client: proxy path %q leaves the proxy prefix", path)
	}
	for k, vs := range header {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	req.Header.Del("Authorization")
	ua := req.Header.Get("User-Agent")
	c.authorize(req)
	if ua != "" {
		req.Header.Set("User-Agent", ua)
	}
	return c.hc.Do(req)
}

// proxyPath splits a caller's proxy path into its escaped path (without
// leading slashes) and raw query, refusing dot segments and fragments.
func proxyPath(p string) (rawPath, rawQuery string, err error) {
	if strings.Contains(p, "#") {
		return "", "", fmt.Errorf("client: proxy path %q must not contain a fragment", p)
	}
	rawPath, rawQuery, _ = strings.Cut(p, "?")
	rawPath = strings.TrimLeft(rawPath, "/")
	unescaped, err := url.PathUnescape(rawPath)
	if err != nil {
		return "", "", fmt.Errorf("client: proxy path %q: %w", p, err)
	}
	// Split the unescaped form on both separators: "%2e%2e", "..%2f" and
	// "..\" are dot segments to some server or intermediary.
	for _, seg := range strings.FieldsFunc(unescaped, func(r rune) bool { return r == '/' || r == '\\' }) {
		if seg == "." || seg == ".." {
			return "", "", fmt.Errorf("client: proxy path %q must not contain . or .. segments", p)
		}
	}
	return rawPath, rawQuery, nil
}
