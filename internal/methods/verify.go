package methods

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/stormcreds/storm/internal/catalog"
	"github.com/stormcreds/storm/internal/outcome"
	"github.com/stormcreds/storm/internal/proxy"
	"github.com/stormcreds/storm/internal/secret"
)

// Result is the outcome of a verification request. Nothing in it is
// taken verbatim from the network: Error is the fixed text of Reason, and
// Message a scrubbed, bounded excerpt of what the provider said.
type Result struct {
	OK bool `json:"ok"`
	// Reason says why OK is false (empty when OK). NotChecked means there
	// was nothing to send: the API shows ok as null then.
	Reason  outcome.Reason `json:"reason,omitempty"`
	Status  int            `json:"status"` // upstream HTTP status, 0 when none
	Latency time.Duration  `json:"-"`
	Error   string         `json:"error,omitempty"`
	// Message is the provider's own message from a refusing answer, with
	// every form of the secret removed and at most MaxMessage runes.
	Message string `json:"provider_message,omitempty"`
	// Cause is the raw failure (a transport error), for the server log
	// only: it may name the resolver, addresses and ports.
	Cause error `json:"-"`
}

// Rejected reports whether the provider refused the credential itself
// (as opposed to being unreachable or failing).
func (r Result) Rejected() bool { return r.Reason == outcome.Rejected }

// Checked reports whether a verification request was sent (or tried).
func (r Result) Checked() bool { return r.Reason != outcome.NotChecked }

// Failed is the result for reason, with its fixed text.
func Failed(reason outcome.Reason, status int, cause error) Result {
	return Result{Reason: reason, Status: status, Error: reason.Text(), Cause: cause}
}

// NotChecked is the result when no verification request exists.
func NotChecked() Result { return Failed(outcome.NotChecked, 0, nil) }

// Applier sets a credential on a request.
type Applier = proxy.Credential

// maxErrorBody bounds how much of a failed response is read for the
// error message.
const maxErrorBody = 4 << 10

// MaxMessage bounds the excerpt of a provider's message kept in a Result.
const MaxMessage = 200

// Verify sends the provider's verification request (from a resolved
// definition, templates expanded) with cred applied. Every form of the
// secrets (the applied key or token) is scrubbed from what the provider
// answers, as some providers echo the key they rejected.
func Verify(ctx context.Context, client *http.Client, base *url.URL, v *catalog.Verify, cred Applier, secrets ...string) Result {
	if v == nil {
		return NotChecked()
	}
	rawPath, rawQuery, _ := strings.Cut(v.Path, "?")
	target, err := proxy.JoinPath(base, strings.TrimPrefix(rawPath, "/"), rawQuery)
	if err != nil {
		return Failed(outcome.Unexpected, 0, fmt.Errorf("verification path: %w", err))
	}
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	var body io.Reader
	if v.Body != "" {
		body = strings.NewReader(v.Body)
	}
	req, err := http.NewRequestWithContext(ctx, v.Method, target.String(), body)
	if err != nil {
		return Failed(outcome.Unexpected, 0, proxy.RedactError(err))
	}
	if v.Body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("User-Agent", "storm-credentials/1 (verify)")
	if err := cred.Apply(req); err != nil {
		return Failed(outcome.Unexpected, 0, fmt.Errorf("apply credential: %w", err))
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
		res := Failed(outcome.Of(err), 0, proxy.RedactError(err))
		res.Latency = latency
		return res
	}
	defer resp.Body.Close()
	ok := resp.StatusCode >= 200 && resp.StatusCode < 300
	if len(v.Expect) > 0 {
		ok = slices.Contains(v.Expect, resp.StatusCode)
	}
	res := Result{OK: ok, Status: resp.StatusCode, Latency: latency}
	if !ok {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
		res = Failed(outcome.OfStatus(resp.StatusCode), resp.StatusCode, nil)
		res.Latency = latency
		res.Message = secret.Excerpt(providerMessage(b), MaxMessage, secrets...)
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
			return v
		case map[string]any:
			if m, ok := v["message"].(string); ok {
				return m
			}
		case []any:
			if len(v) > 0 {
				if m, ok := v[0].(map[string]any); ok {
					if s, ok := m["message"].(string); ok {
						return s
					}
				}
			}
		}
	}
	return ""
}
