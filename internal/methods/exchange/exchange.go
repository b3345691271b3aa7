package exchange

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/stormcreds/storm/internal/oauth"
	"github.com/stormcreds/storm/internal/proxy"
	"github.com/stormcreds/storm/internal/secret"
)

// MaxResponse bounds an exchange answer.
const MaxResponse = 64 << 10

// DefaultTTL is a session token's lifetime when the answer gives none
// and the token is not a JWT with an exp: an hour, like OAuth tokens
// without expires_in. A session that dies sooner is answered 401 and
// exchanged again once (the proxy's 401 retry); one that lives longer is
// only renewed early, which costs one exchange per hour.
const DefaultTTL = time.Hour

// Op is the oauth.Error.Op of a failed exchange.
const Op = "token exchange"

const (
	maxTokenLen   = 8 << 10
	maxMessageLen = 200
	// maxLifetime caps a lifetime an answer claims (ten years), so an
	// absurd expires_in cannot overflow or mean "never".
	maxLifetime = 10 * 365 * 24 * time.Hour
)

// Credential is what the exchange sends in place of its templates: the
// API key, or the username and password. It redacts itself.
type Credential struct {
	APIKey   secret.String
	Username string
	Password secret.String
}

// String redacts.
func (c Credential) String() string { return "exchange.Credential([redacted])" }

// GoString redacts.
func (c Credential) GoString() string { return c.String() }

// LogValue redacts.
func (c Credential) LogValue() slog.Value { return slog.StringValue("[redacted]") }

// MarshalJSON redacts.
func (c Credential) MarshalJSON() ([]byte, error) { return []byte(`"[redacted]"`), nil }

// Options are the integration's settings an exchange needs.
type Options struct {
	// BaseURL is the integration's base URL; Config.Path is joined to it
	// as the proxy joins request paths (proxy.JoinPath).
	BaseURL string
	// HTTPClient sends the exchange; required (Storm's guarded client).
	HTTPClient *http.Client
	// Now defaults to time.Now.
	Now func() time.Time
	// DefaultTTL replaces the package's DefaultTTL (a provider's
	// documented session lifetime); zero keeps it.
	DefaultTTL time.Duration
	// Margin is the provider's refresh margin for the token engine (zero:
	// the engine's default rule).
	Margin time.Duration
}

// Exchanger swaps a credential for session tokens. It is the token
// engine's Source (Refresh, Margin) and is safe for concurrent use.
type Exchanger struct {
	cfg    Config
	cred   Credential
	kind   string
	base   *url.URL
	client *http.Client
	now    func() time.Time
	ttl    time.Duration
	margin time.Duration
}

// New checks cfg for kind and returns its Exchanger for cred.
func New(cfg Config, kind string, cred Credential, opts Options) (*Exchanger, error) {
	if err := cfg.Validate(kind); err != nil {
		return nil, err
	}
	if opts.HTTPClient == nil {
		return nil, errors.New("exchange: an HTTP client is required")
	}
	base, err := url.Parse(opts.BaseURL)
	if err != nil || (base.Scheme != "https" && base.Scheme != "http") || base.Host == "" || base.User != nil || base.Fragment != "" {
		return nil, errors.New("exchange: the base URL must be an absolute http(s) URL without credentials or fragment")
	}
	switch {
	case kind == KindAPIKey && cred.APIKey == "":
		return nil, errors.New("exchange: the credential has no API key")
	case kind == KindBasic && cred.Username == "" && uses(cfg, TemplateUsername):
		return nil, errors.New("exchange: the credential has no username")
	}
	if opts.DefaultTTL < 0 || opts.Margin < 0 {
		return nil, errors.New("exchange: default TTL and margin must not be negative")
	}
	e := &Exchanger{cfg: cfg, cred: cred, kind: kind, base: base, client: opts.HTTPClient, now: opts.Now,
		ttl: opts.DefaultTTL, margin: opts.Margin}
	if e.now == nil {
		e.now = time.Now
	}
	if e.ttl == 0 {
		e.ttl = DefaultTTL
	}
	return e, nil
}

func uses(cfg Config, template string) bool {
	b, _ := json.Marshal(cfg)
	return bytes.Contains(b, []byte(template))
}

// String redacts.
func (e *Exchanger) String() string { return "exchange.Exchanger([redacted])" }

// Margin is the provider's refresh margin (tokens.Source).
func (e *Exchanger) Margin() time.Duration { return e.margin }

// Refresh performs the exchange (old is ignored: every exchange starts
// from the saved credential). The token set has the session token as its
// access token, no refresh token, and the expiry the answer gives (see
// Config). Failures are *oauth.Error with Op "token exchange":
// Temporary for 5xx, 408, 429, network errors and answers that are not
// JSON (a maintenance page); final for 401 and 403 (the credential is
// refused: Refused reports it), other 4xx and JSON answers without a
// token at TokenPointer. Error texts never hold the credential.
func (e *Exchanger) Refresh(ctx context.Context, _ oauth.TokenSet) (oauth.TokenSet, error) {
	req, err := e.request(ctx)
	if err != nil {
		return oauth.TokenSet{}, err
	}
	resp, err := e.client.Do(req)
	if err != nil {
		oe := oauth.Classify(Op, err)
		oe.Err = errors.New(e.scrub(proxy.RedactError(err).Error()))
		return oauth.TokenSet{}, oe
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, MaxResponse+1))
	if err != nil {
		return oauth.TokenSet{}, &oauth.Error{Op: Op, Status: resp.StatusCode, Temporary: true, Description: "the answer could not be read"}
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return oauth.TokenSet{}, e.failure(resp, body)
	}
	if len(body) > MaxResponse {
		return oauth.TokenSet{}, &oauth.Error{Op: Op, Status: resp.StatusCode, Description: fmt.Sprintf("the answer is larger than %d KiB", MaxResponse>>10)}
	}
	return e.parse(resp.StatusCode, body)
}

// Exchange is Refresh without a previous token set.
func (e *Exchanger) Exchange(ctx context.Context) (oauth.TokenSet, error) {
	return e.Refresh(ctx, oauth.TokenSet{})
}

// Refused reports whether err is an exchange the provider refused
// because of the credential (401 or 403): a Save should answer 422, a
// running integration needs a new credential.
func Refused(err error) bool {
	var oe *oauth.Error
	return errors.As(err, &oe) && oe.Op == Op && !oe.Temporary &&
		(oe.Status == http.StatusUnauthorized || oe.Status == http.StatusForbidden)
}

// request builds the exchange request with the templates substituted.
func (e *Exchanger) request(ctx context.Context) (*http.Request, error) {
	rawPath, rawQuery, _ := strings.Cut(e.cfg.Path, "?")
	var body io.Reader
	var contentType string
	switch {
	case e.cfg.Body != nil:
		b, err := json.Marshal(e.substituteJSON(e.cfg.Body))
		if err != nil {
			return nil, &oauth.Error{Op: Op, Description: "the body cannot be encoded"}
		}
		body, contentType = bytes.NewReader(b), "application/json"
	case e.cfg.Form != nil:
		form := url.Values{}
		for k, v := range e.cfg.Form {
			form.Set(k, e.substitute(v))
		}
		if e.cfg.Method == http.MethodGet {
			if rawQuery != "" {
				rawQuery += "&"
			}
			rawQuery += form.Encode()
		} else {
			body, contentType = strings.NewReader(form.Encode()), "application/x-www-form-urlencoded"
		}
	}
	target, err := proxy.JoinPath(e.base, strings.TrimPrefix(rawPath, "/"), rawQuery)
	if err != nil {
		return nil, &oauth.Error{Op: Op, Description: "the exchange path does not fit the base URL"}
	}
	req, err := http.NewRequestWithContext(ctx, e.cfg.Method, target.String(), body)
	if err != nil {
		return nil, &oauth.Error{Op: Op, Description: "cannot build the exchange request"}
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "storm-credentials/1 (exchange)")
	for k, v := range e.cfg.Headers {
		val := e.substitute(v)
		if strings.ContainsAny(val, "\r\n\x00") {
			return nil, &oauth.Error{Op: Op, Description: "a header value would contain a line break"}
		}
		req.Header.Set(k, val)
	}
	return req, nil
}

func (e *Exchanger) substitute(s string) string {
	if !strings.Contains(s, "{{") {
		return s
	}
	switch e.kind {
	case KindAPIKey:
		return strings.ReplaceAll(s, TemplateAPIKey, e.cred.APIKey.Reveal())
	default:
		return strings.NewReplacer(TemplateUsername, e.cred.Username, TemplatePassword, e.cred.Password.Reveal()).Replace(s)
	}
}

// substituteJSON copies a JSON value, substituting in string values only.
func (e *Exchanger) substituteJSON(x any) any {
	switch x := x.(type) {
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, v := range x {
			out[k] = e.substituteJSON(v)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, v := range x {
			out[i] = e.substituteJSON(v)
		}
		return out
	case string:
		return e.substitute(x)
	}
	return x
}

// parse reads the token and its lifetime from a 2xx answer.
func (e *Exchanger) parse(status int, body []byte) (oauth.TokenSet, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var doc any
	if err := dec.Decode(&doc); err != nil {
		return oauth.TokenSet{}, &oauth.Error{Op: Op, Status: status, Temporary: true, Description: "the answer is not JSON"}
	}
	final := func(msg string) error { return &oauth.Error{Op: Op, Status: status, Description: msg} }
	v, ok := resolve(doc, e.cfg.TokenPointer)
	tok, isString := v.(string)
	switch {
	case !ok:
		return oauth.TokenSet{}, final("the answer has nothing at token_pointer " + e.cfg.TokenPointer)
	case !isString || tok == "":
		return oauth.TokenSet{}, final("the value at token_pointer " + e.cfg.TokenPointer + " is not a non-empty string")
	case len(tok) > maxTokenLen || !printable(tok):
		return oauth.TokenSet{}, final("the session token is too long or not printable")
	}
	now := e.now().UTC()
	ts := oauth.TokenSet{AccessToken: secret.String(tok), TokenType: "bearer", ObtainedAt: now}
	switch {
	case e.cfg.ExpiresInPointer != "":
		v, ok := resolve(doc, e.cfg.ExpiresInPointer)
		secs, valid := seconds(v)
		if !ok || !valid || secs <= 0 {
			return oauth.TokenSet{}, final("the value at expires_in_pointer " + e.cfg.ExpiresInPointer + " is not a positive number of seconds")
		}
		ts.Expiry = now.Add(min(time.Duration(secs*float64(time.Second)), maxLifetime))
	case e.cfg.ExpiresAtPointer != "":
		v, ok := resolve(doc, e.cfg.ExpiresAtPointer)
		at, valid := instant(v)
		if !ok || !valid {
			return oauth.TokenSet{}, final("the value at expires_at_pointer " + e.cfg.ExpiresAtPointer + " is not an RFC 3339 time or Unix time")
		}
		if !at.After(now) {
			return oauth.TokenSet{}, final("the session token expires before it could be used (check the clock or expires_at_pointer)")
		}
		ts.Expiry = at.UTC()
		if limit := now.Add(maxLifetime); ts.Expiry.After(limit) {
			ts.Expiry = limit
		}
	default:
		if exp, ok := oauth.JWTExpiry(tok); ok && exp.After(now) {
			ts.Expiry = exp
		} else {
			ts.Expiry = now.Add(e.ttl)
		}
	}
	return ts, nil
}

// seconds reads a lifetime: a JSON number or a numeric string.
func seconds(v any) (float64, bool) {
	var s string
	switch v := v.(type) {
	case json.Number:
		s = v.String()
	case string:
		s = strings.TrimSpace(v)
	default:
		return 0, false
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, false
	}
	return f, true
}

// instant reads an expiry: RFC 3339, or Unix seconds (milliseconds when
// the number is over 10^11, a date past the year 5000 in seconds).
func instant(v any) (time.Time, bool) {
	if s, ok := v.(string); ok {
		if t, err := time.Parse(time.RFC3339Nano, strings.TrimSpace(s)); err == nil {
			return t, true
		}
	}
	f, ok := seconds(v)
	if !ok || f <= 0 || f > 1e15 {
		return time.Time{}, false
	}
	if f > 1e11 {
		f /= 1000
	}
	sec, frac := math.Modf(f)
	return time.Unix(int64(sec), int64(frac*1e9)), true
}

// resolve evaluates an RFC 6901 pointer against a decoded document.
func resolve(doc any, pointer string) (any, bool) {
	tokens, err := parsePointer(pointer)
	if err != nil {
		return nil, false
	}
	cur := doc
	for _, t := range tokens {
		switch c := cur.(type) {
		case map[string]any:
			v, ok := c[t]
			if !ok {
				return nil, false
			}
			cur = v
		case []any:
			// RFC 6901 §4: decimal digits without leading zeros.
			if t == "" || (len(t) > 1 && t[0] == '0') || strings.Trim(t, "0123456789") != "" || len(t) > 9 {
				return nil, false
			}
			i, _ := strconv.Atoi(t)
			if i >= len(c) {
				return nil, false
			}
			cur = c[i]
		default:
			return nil, false
		}
	}
	return cur, true
}

// failure classifies a non-2xx answer.
func (e *Exchanger) failure(resp *http.Response, body []byte) error {
	oe := oauth.ErrorFromResponse(Op, resp, body)
	oe.Code = ""
	oe.Temporary = resp.StatusCode >= 500 || resp.StatusCode == http.StatusRequestTimeout || resp.StatusCode == http.StatusTooManyRequests
	msg := e.scrub(providerMessage(resp.Header.Get("Content-Type"), body))
	switch {
	case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
		oe.Description = "the provider refused the credential"
	case oe.Temporary:
		oe.Description = "the provider is unavailable"
	default:
		oe.Description = "the provider refused the exchange request"
	}
	oe.Description += fmt.Sprintf(" (HTTP %d)", resp.StatusCode)
	if msg != "" {
		oe.Description += ": " + msg
	}
	return oe
}

// providerMessage pulls a short message out of an error answer.
func providerMessage(contentType string, body []byte) string {
	if len(body) > MaxResponse {
		body = body[:MaxResponse]
	}
	var doc map[string]any
	if json.Unmarshal(body, &doc) == nil {
		for _, k := range []string{"message", "error_description", "error", "detail", "title"} {
			switch v := doc[k].(type) {
			case string:
				return v
			case map[string]any:
				if m, ok := v["message"].(string); ok {
					return m
				}
			}
		}
		return ""
	}
	if mt, _, _ := mime.ParseMediaType(contentType); mt == "text/plain" {
		return string(body)
	}
	return ""
}

// scrub removes the credential (as sent: raw, JSON-escaped and
// URL-encoded) from s, then control characters, and bounds it.
func (e *Exchanger) scrub(s string) string {
	for _, sec := range []string{e.cred.APIKey.Reveal(), e.cred.Password.Reveal()} {
		if len(sec) < 4 {
			continue
		}
		j, _ := json.Marshal(sec)
		for _, form := range []string{sec, string(j[1 : len(j)-1]), url.QueryEscape(sec), url.PathEscape(sec)} {
			s = strings.ReplaceAll(s, form, "[redacted]")
		}
	}
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, strings.TrimSpace(s))
	if len(s) > maxMessageLen {
		cut := maxMessageLen
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut] + "…"
	}
	return s
}

// Set applies a session token to r as Apply says. A query parameter of
// the same name that r already has is replaced, so a caller cannot send
// its own.
func (a Apply) Set(r *http.Request, token secret.String) {
	value := a.Prefix + token.Reveal()
	if a.In == "header" {
		r.Header.Set(a.Name, value)
		return
	}
	var kept []string
	for _, pair := range strings.Split(r.URL.RawQuery, "&") {
		if pair == "" {
			continue
		}
		name, _, _ := strings.Cut(pair, "=")
		if n, err := url.QueryUnescape(name); err == nil && n == a.Name {
			continue
		}
		kept = append(kept, pair)
	}
	kept = append(kept, url.QueryEscape(a.Name)+"="+url.QueryEscape(value))
	r.URL.RawQuery = strings.Join(kept, "&")
}
