package client

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
)

func TestProxyJoinsPathUnderPrefix(t *testing.T) {
	ctx := context.Background()
	c, f := newFake(t, 200, "application/json", `{"login":"octocat"}`)
	for _, tc := range []struct{ path, want string }{
		{"/user", "/v1/integrations/int_1/proxy/user"},
		{"user", "/v1/integrations/int_1/proxy/user"},
		{"", "/v1/integrations/int_1/proxy/"},
		{"//repos/acme/x", "/v1/integrations/int_1/proxy/repos/acme/x"},
		{"/repos/acme/x/issues?state=open&per_page=5", "/v1/integrations/int_1/proxy/repos/acme/x/issues?state=open&per_page=5"},
		// Escapes the caller made are kept; nothing else is escaped.
		{"/files/a%2Fb/c%20d", "/v1/integrations/int_1/proxy/files/a%2Fb/c%20d"},
		{"/search?q=a%20b+c", "/v1/integrations/int_1/proxy/search?q=a%20b+c"},
		{"/v1/..foo/x..y/...", "/v1/integrations/int_1/proxy/v1/..foo/x..y/..."},
		{"/http://evil.example/", "/v1/integrations/int_1/proxy/http://evil.example/"},
	} {
		resp, err := c.Proxy(ctx, "int_1", "GET", tc.path, nil, nil)
		if err != nil {
			t.Errorf("Proxy(%q): %v", tc.path, err)
			continue
		}
		resp.Body.Close()
		if got := f.last(t).RequestURI; got != tc.want {
			t.Errorf("Proxy(%q) sent %q, want %q", tc.path, got, tc.want)
		}
	}

	before := f.count()
	for _, path := range []string{
		"..", "/../tokens", "/a/../../tokens", "/a/./b", "%2e%2e/tokens", "/a/%2E%2e/b",
		"a%2f..%2f..%2ftokens", `a\..\tokens`, "/x#frag", "/bad%zzescape",
	} {
		if resp, err := c.Proxy(ctx, "int_1", "GET", path, nil, nil); err == nil {
			resp.Body.Close()
			t.Errorf("Proxy(%q) accepted", path)
		}
	}
	if f.count() != before {
		t.Errorf("refused paths still sent %d requests", f.count()-before)
	}
}

func TestProxyForwardsRequestAndReturnsAnyStatus(t *testing.T) {
	c, f := newFake(t, 404, "application/json", `{"message":"Not Found"}`)
	h := http.Header{}
	h.Set("Content-Type", "application/json")
	h.Set("X-GitHub-Api-Version", "2022-11-28")
	h.Set("Authorization", "Bearer caller-supplied")
	resp, err := c.Proxy(context.Background(), "int_1", "POST", "/repos/acme/x/issues", strings.NewReader(`{"title":"t"}`), h)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 404 || string(body) != `{"message":"Not Found"}` {
		t.Errorf("got %d %s", resp.StatusCode, body)
	}
	r := f.last(t)
	if r.Method != "POST" || string(r.Body) != `{"title":"t"}` {
		t.Errorf("sent %s %s", r.Method, r.Body)
	}
	if got := r.Header.Values("Authorization"); len(got) != 1 || got[0] != "Bearer "+testToken {
		t.Errorf("Authorization = %q, want only the client's token", got)
	}
	if r.Header.Get("X-GitHub-Api-Version") != "2022-11-28" || r.Header.Get("Content-Type") != "application/json" {
		t.Errorf("caller headers not forwarded: %v", r.Header)
	}
	if h.Get("Authorization") != "Bearer caller-supplied" {
		t.Error("Proxy modified the caller's header map")
	}

	resp, err = c.Proxy(context.Background(), "int_1", "", "/user", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got := f.last(t).Method; got != "GET" {
		t.Errorf("default method = %s", got)
	}
}

func TestProxyUnderBasePathPrefix(t *testing.T) {
	c, rec := newFake(t, 200, "text/plain", "ok")
	prefixed, err := New(c.BaseURL()+"/storm/", testToken)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := prefixed.Proxy(context.Background(), "int_1", "GET", "/a/b", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got := rec.last(t).RequestURI; got != "/storm/v1/integrations/int_1/proxy/a/b" {
		t.Errorf("sent %q", got)
	}
}
