package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"time"
)

// apiClient calls Storm's API with a bearer token.
type apiClient struct {
	base, token string
	hc          *http.Client
}

func newAPI(base, token string) *apiClient {
	return &apiClient{base: base, token: token, hc: &http.Client{Timeout: time.Minute}}
}

// call sends body (JSON, when not nil) and returns the decoded answer,
// or an error when the status is not want.
func (c *apiClient) call(ctx context.Context, method, path string, body any, want int) (map[string]any, error) {
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != want {
		return nil, fmt.Errorf("%s %s: %d: %.300s", method, path, resp.StatusCode, b)
	}
	var out map[string]any
	if len(b) > 0 && b[0] == '{' {
		if err := json.Unmarshal(b, &out); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// target is one running server with its seeded data, as the operations
// see it.
type target struct {
	fx  *fixture
	in  *instance
	api *apiClient
	ui  *http.Client // signed in to the web UI
	bin string
	tok string
}

// signIn signs the UI client in the way a browser does: the sign-in
// page gives a session cookie and a CSRF token; posting the API token
// with it gives a signed-in session.
func (t *target) signIn(ctx context.Context) error {
	jar, _ := cookiejar.New(nil)
	t.ui = &http.Client{Jar: jar, Timeout: time.Minute,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := t.ui.Get(t.in.url + "/signin")
	if err != nil {
		return err
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	m := regexp.MustCompile(`name="csrf" value="([^"]+)"`).FindSubmatch(b)
	if m == nil {
		return fmt.Errorf("no CSRF token on the sign-in page")
	}
	resp, err = t.ui.PostForm(t.in.url+"/signin", url.Values{"token": {t.tok}, "csrf": {string(m[1])}})
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		return fmt.Errorf("sign in: %d", resp.StatusCode)
	}
	return nil
}

// op is one measured operation: run does it once against t.
type op struct {
	Name string
	run  func(ctx context.Context, t *target) error
}

// get is an API GET whose answer must be 200 and hold a non-empty list
// under key (when key is set).
func get(path func(t *target) string, key string) func(context.Context, *target) error {
	return func(ctx context.Context, t *target) error {
		out, err := t.api.call(ctx, "GET", path(t), nil, 200)
		if err != nil {
			return err
		}
		if key != "" {
			if l, _ := out[key].([]any); len(l) == 0 {
				return fmt.Errorf("GET %s: no %s", path(t), key)
			}
		}
		return nil
	}
}

// page is a UI GET that must answer 200 with HTML that contains want.
func page(path func(t *target) string, want string) func(context.Context, *target) error {
	return func(ctx context.Context, t *target) error {
		req, _ := http.NewRequestWithContext(ctx, "GET", t.in.url+path(t), nil)
		resp, err := t.ui.Do(req)
		if err != nil {
			return err
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			return err
		}
		if resp.StatusCode != 200 || !bytes.Contains(b, []byte(want)) {
			return fmt.Errorf("GET %s: %d, %d bytes, without %q", path(t), resp.StatusCode, len(b), want)
		}
		return nil
	}
}

func fixed(p string) func(*target) string { return func(*target) string { return p } }

// ops are the operations the table reports, each at both sizes. Each
// list asks for a page that is full at the small size too (the small
// database has 10 degraded integrations, 25 versions and 10 events on its
// most-versioned integration, 100-odd integrations, events and audit
// entries, 70 connected integrations), so both sizes answer the same
// number of items: the UI's pages show 25.
func ops() []op {
	return []op{
		{"API integrations, first page", get(fixed("/v1/integrations"), "integrations")},
		{"API integrations ?status=degraded&limit=10, first page", get(fixed("/v1/integrations?status=degraded&limit=10"), "integrations")},
		{"API credential versions of the most-versioned integration, limit=20", get(func(t *target) string {
			return "/v1/integrations/" + t.fx.Heavy + "/credentials?limit=20"
		}, "credentials")},
		{"API events, first page", get(fixed("/v1/events"), "events")},
		{"API events of one integration, limit=10", get(func(t *target) string { return "/v1/events?limit=10&integration=" + t.fx.Heavy }, "events")},
		{"API audit, first page", get(fixed("/v1/audit"), "audit")},
		{"UI integrations list", page(fixed("/integrations"), "bulk 0")},
		{"UI integrations ?status=connected", page(fixed("/integrations?status=connected"), "bulk 0")},
		{"UI integration page (most-versioned)", page(func(t *target) string { return "/integrations/" + t.fx.Heavy }, "bulk 0000000")},
		{"CLI storm integrations list --limit 100", func(ctx context.Context, t *target) error {
			cmd := exec.CommandContext(ctx, t.bin, "--server", t.in.url, "--token", t.tok, "integrations", "list", "--limit", "100")
			out, err := cmd.CombinedOutput()
			if err != nil || !strings.Contains(string(out), "bulk 0") {
				return fmt.Errorf("storm integrations list: %v: %.300s", err, out)
			}
			return nil
		}},
		{"GET /access (real integration)", get(func(t *target) string { return "/v1/integrations/" + t.fx.Real[1] + "/access" }, "")},
		{"GET /access (most-versioned integration)", get(func(t *target) string { return "/v1/integrations/" + t.fx.Heavy + "/access" }, "")},
		{"PUT credentials, save (verified upstream)", func(ctx context.Context, t *target) error {
			_, err := t.api.call(ctx, "PUT", "/v1/integrations/"+t.fx.Real[0]+"/credentials", map[string]any{"api_key": newKey()}, 200)
			return err
		}},
		// Mutate reads only the live versions (10,000 revoked ones here).
		{"PUT credentials on the most-versioned integration", func(ctx context.Context, t *target) error {
			_, err := t.api.call(ctx, "PUT", "/v1/integrations/"+t.fx.Heavy+"/credentials", map[string]any{"api_key": newKey()}, 200)
			return err
		}},
	}
}

// sample is one operation's figures at one size.
type sample struct {
	median time.Duration
	cpu    time.Duration // server CPU per operation (background work included)
}

// measure runs o reps times on each target, alternating which goes
// first, after warm-up runs; it returns each target's median latency
// and server CPU per operation.
func measure(ctx context.Context, o op, ts []*target, reps, warm int) ([]sample, error) {
	lat := make([][]time.Duration, len(ts))
	cpu := make([]time.Duration, len(ts))
	for i := range warm + reps {
		for k := range ts {
			t := ts[(k+i)%len(ts)]
			idx := (k + i) % len(ts)
			c0 := t.in.cpu()
			t0 := time.Now()
			if err := o.run(ctx, t); err != nil {
				return nil, fmt.Errorf("%s on %s/%s: %w", o.Name, t.fx.Kind, t.fx.Size.Name, err)
			}
			d := time.Since(t0)
			if i >= warm {
				lat[idx] = append(lat[idx], d)
				cpu[idx] += t.in.cpu() - c0
			}
		}
	}
	out := make([]sample, len(ts))
	for k := range ts {
		slices.Sort(lat[k])
		out[k] = sample{median: lat[k][len(lat[k])/2], cpu: cpu[k] / time.Duration(reps)}
	}
	return out, nil
}
