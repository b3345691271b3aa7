package methods

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/stormcreds/storm/internal/catalog"
	"github.com/stormcreds/storm/internal/proxy"
)

// Result is the outcome of a verification request.
type Result struct {
	OK      bool          `json:"ok"`
	Status  int           `json:"status"` // upstream HTTP status, 0 when none
	Latency time.Duration `json:"-"`
	Error   string        `json:"error,omitempty"`
}

// Rejected reports whether the provider refused the credential itself
// (as opposed to being unreachable or failing).
func (r Result) Rejected() bool {
	return r.Status == http.StatusUnauthorized || r.Status == http.StatusForbidden
}

// Applier sets a credential on a request.
type Applier = proxy.Credential

// maxErrorBody bounds how much of a failed response is read for the
// error message.
const maxErrorBody = 4 << 10

// Verify sends the provider's verification request (from a resolved
// definition, templates expanded) with cred applied. secretText is
// removed from any error text taken from the response, as some providers
// echo the key they rejected.
func Verify(ctx context.Context, client *http.Client, base *url.URL, v *catalog.Verify, cred Applier, secretText ...string) Result {
	if v == nil {
		return Result{Error: "this integration has no verification request"}
	}
	rawPath, rawQuery, _ := strings.Cut(v.Path, "?")
	target, err := proxy.JoinPath(base, strings.TrimPrefix(rawPath, "/"), rawQuery)
	if err != nil {
		return Result{Error: "verification path: " + err.Error()}
	}
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	var body io.Reader
	if v.Body != "" {
		body = strings.NewReader(v.Body)
	}
	req, err := http.NewRequestWithContext(ctx, v.Method, target.String(), body)
	if err != nil {
		return Result{Error: "verification request: " + proxy.RedactError(err).Error()}
	}
	if v.Body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("User-Agent", "storm-credentials/1 (verify)")
	if err := cred.Apply(req); err != nil {
		return Result{Error: "apply credential: " + err.Error()}
	}
	// After Apply: a provider's own Accept (GitHub's media type, the
	// versioned one MongoDB Atlas requires) must win over the default.
	if req.Header.Get("Accept") == "" {
		req.Header.Set("Accept", "application/json")
	}
	start := time.Now()
	resp, err := client.Do(req)
	latency := time.Since(start)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			return Result{Latency: latency, Error: "the provider did not answer in time"}
		}
		return Result{Latency: latency, Error: scrub(proxy.RedactError(err).Error(), secretText)}
	}
	defer resp.Body.Close()
	ok := resp.StatusCode >= 200 && resp.StatusCode < 300
	if len(v.Expect) > 0 {
		ok = slices.Contains(v.Expect, resp.StatusCode)
	}
	res := Result{OK: ok, Status: resp.StatusCode, Latency: latency}
	if !ok {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
		msg := fmt.Sprintf("provider answered %d %s", resp.StatusCode, http.StatusText(resp.StatusCode))
		if m := providerMessage(b); m != "" {
			msg += ": " + m
		}
		res.Error = scrub(msg, secretText)
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, maxErrorBody))
	return res
}

// providerMessage pulls a short human message out of a JSON error body.
func providerMessage(b []byte) string {
	var doc map[string]any
	if json.Unmarshal(b, &doc) != nil {
		return ""
	}
	for _, k := range []string{"message", "error_description", "error", "detail", "title", "errors"} {
		switch v := doc[k].(type) {
		case string:
			return truncate(v)
		case map[string]any:
			if m, ok := v["message"].(string); ok {
				return truncate(m)
			}
		case []any:
			if len(v) > 0 {
				if m, ok := v[0].(map[string]any); ok {
					if s, ok := m["message"].(string); ok {
						return truncate(s)
					}
				}
			}
		}
	}
	return ""
}

func truncate(s string) string {
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, s)
	if len(s) > 200 {
		return s[:200] + "…"
	}
	return s
}

func scrub(s string, secrets []string) string {
	for _, sec := range secrets {
		if len(sec) >= 4 {
			s = strings.ReplaceAll(s, sec, "[redacted]")
		}
	}
	return s
}
