package oauth1

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/url"
	"strings"
	"unicode/utf8"

	"github.com/stormcreds/storm/internal/proxy"
	"github.com/stormcreds/storm/internal/secret"
)

// MaxResponse bounds a request-token or access-token response.
const MaxResponse = 64 << 10

// maxDescription bounds provider text kept in an Error.
const maxDescription = 200

// Error is a failed request-token or access-token call. It holds the
// provider's status and, bounded and scrubbed of the secrets involved,
// its explanation; never a secret.
type Error struct {
	Op     string // "request_token" or "access_token"
	Status int    // HTTP status; 0 when there was no answer
	// Problem is the oauth_problem of the OAuth Problem Reporting
	// extension (signature_invalid, token_rejected, …) when sent.
	Problem string
	// Description is the provider's explanation (oauth_problem_advice, a
	// JSON message or the start of a plain-text body), or ours.
	Description string
	// Temporary is true for failures worth retrying (5xx, 408, 429,
	// network errors), false when the provider refused the request.
	Temporary bool
	Err       error // the network error, if any
}

func (e *Error) Error() string {
	msg := "oauth1 " + e.Op + ": "
	switch {
	case e.Status != 0:
		msg += fmt.Sprintf("HTTP %d", e.Status)
		if e.Problem != "" {
			msg += " " + e.Problem
		}
		if e.Description != "" {
			msg += ": " + e.Description
		}
	case e.Description != "":
		msg += e.Description
	case e.Err != nil:
		msg += e.Err.Error()
	default:
		msg += "failed"
	}
	return msg
}

func (e *Error) Unwrap() error { return e.Err }

// ErrDenied is returned (wrapped) by CheckCallback when the resource owner
// refused access.
var ErrDenied = errors.New("oauth1: the user denied access")

// RequestToken obtains temporary credentials (RFC 5849 §2.1): a POST to
// requestTokenURL signed with cfg's client credentials only, carrying
// oauth_callback (an absolute URL, or "oob"). The answer must confirm the
// callback (oauth_callback_confirmed=true, OAuth 1.0a). Failures are
// *Error.
func RequestToken(ctx context.Context, hc *http.Client, cfg Config, requestTokenURL, callback string) (Credentials, error) {
	const op = "request_token"
	if callback != "oob" {
		if u, err := url.Parse(callback); err != nil || !u.IsAbs() || u.Host == "" {
			return Credentials{}, &Error{Op: op, Description: "the callback must be an absolute URL or oob"}
		}
	}
	vals, err := call(ctx, hc, cfg, Credentials{}, op, requestTokenURL, []Param{{"oauth_callback", callback}})
	if err != nil {
		return Credentials{}, err
	}
	if vals["oauth_callback_confirmed"] != "true" {
		return Credentials{}, &Error{Op: op, Status: http.StatusOK,
			Description: "the provider did not confirm the callback (oauth_callback_confirmed=true); it may speak OAuth 1.0 without the 1.0a fix"}
	}
	return credentialsFrom(op, vals)
}

// AuthorizeURL is where the resource owner is sent (RFC 5849 §2.2):
// authorizeURL with oauth_token added to its query.
func AuthorizeURL(authorizeURL string, temp Credentials) (string, error) {
	u, err := checkEndpoint(authorizeURL)
	if err != nil {
		return "", fmt.Errorf("oauth1: authorize_url: %w", err)
	}
	if temp.Token == "" {
		return "", errors.New("oauth1: no temporary credentials to authorize")
	}
	q := u.RawQuery
	if q != "" {
		q += "&"
	}
	u.RawQuery = q + "oauth_token=" + url.QueryEscape(temp.Token)
	return u.String(), nil
}

// CheckCallback reads the resource owner's return (RFC 5849 §2.2): query
// must carry the oauth_token of temp and an oauth_verifier, which is
// returned. A "denied" parameter (how several providers report a refusal)
// yields an error wrapping ErrDenied.
func CheckCallback(temp Credentials, query url.Values) (verifier string, err error) {
	if query.Has("denied") {
		return "", ErrDenied
	}
	tok := query.Get("oauth_token")
	if tok == "" || temp.Token == "" || subtle.ConstantTimeCompare([]byte(tok), []byte(temp.Token)) != 1 {
		return "", errors.New("oauth1: the callback's oauth_token is not the one this authorization started with")
	}
	verifier = query.Get("oauth_verifier")
	switch {
	case verifier == "":
		return "", errors.New("oauth1: the callback has no oauth_verifier")
	case len(verifier) > maxSecretLen || !printable(verifier):
		return "", errors.New("oauth1: the callback's oauth_verifier is malformed")
	}
	return verifier, nil
}

// AccessToken exchanges authorized temporary credentials and the
// verifier for token credentials (RFC 5849 §2.3): a POST to
// accessTokenURL signed with the client and temporary credentials,
// carrying oauth_verifier. Failures are *Error.
func AccessToken(ctx context.Context, hc *http.Client, cfg Config, accessTokenURL string, temp Credentials, verifier string) (Credentials, error) {
	const op = "access_token"
	if temp.Token == "" || verifier == "" {
		return Credentials{}, &Error{Op: op, Description: "the temporary credentials and the verifier are required"}
	}
	vals, err := call(ctx, hc, cfg, temp, op, accessTokenURL, []Param{{"oauth_verifier", verifier}})
	if err != nil {
		return Credentials{}, err
	}
	return credentialsFrom(op, vals)
}

func credentialsFrom(op string, vals map[string]string) (Credentials, error) {
	c := Credentials{Token: vals["oauth_token"], Secret: secret.String(vals["oauth_token_secret"])}
	if _, hasSecret := vals["oauth_token_secret"]; c.Token == "" || !hasSecret {
		return Credentials{}, &Error{Op: op, Status: http.StatusOK, Description: "the answer lacks oauth_token or oauth_token_secret"}
	}
	if len(c.Token) > maxSecretLen || len(c.Secret) > maxSecretLen || !printable(c.Token) || !printable(c.Secret.Reveal()) {
		return Credentials{}, &Error{Op: op, Status: http.StatusOK, Description: "the answer's oauth_token or oauth_token_secret is malformed"}
	}
	return c, nil
}

// checkEndpoint accepts an absolute http(s) URL without credentials,
// fragment or oauth_* query parameters (RFC 5849 §2). The URL is not
// quoted in errors.
func checkEndpoint(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	switch {
	case err != nil:
		return nil, errors.New("is not a URL")
	case (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.Opaque != "":
		return nil, errors.New("must be an absolute http(s) URL")
	case u.User != nil:
		return nil, errors.New("must not contain credentials")
	case u.Fragment != "":
		return nil, errors.New("must not have a fragment")
	}
	params, err := ParseForm(u.RawQuery)
	if err != nil {
		return nil, errors.New("has a malformed query")
	}
	for _, p := range params {
		if strings.HasPrefix(p.Name, "oauth_") {
			return nil, errors.New("must not carry oauth_ parameters in its query")
		}
	}
	return u, nil
}

// call POSTs a signed request with the extra protocol parameters and
// returns the form-encoded answer's parameters (the first of each name).
func call(ctx context.Context, hc *http.Client, cfg Config, token Credentials, op, endpoint string, extra []Param) (map[string]string, error) {
	u, err := checkEndpoint(endpoint)
	if err != nil {
		return nil, &Error{Op: op, Description: "the " + strings.ReplaceAll(op, "_", " ") + " URL " + err.Error()}
	}
	s, err := NewSigner(cfg, token)
	if err != nil {
		return nil, err
	}
	query, _ := ParseForm(u.RawQuery) // checked above
	auth, err := s.header(http.MethodPost, u, "", query, extra)
	if err != nil {
		return nil, &Error{Op: op, Description: err.Error()}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), http.NoBody)
	if err != nil {
		return nil, &Error{Op: op, Description: "cannot build the request"}
	}
	req.Header.Set("Authorization", auth)
	req.Header.Set("Accept", "application/x-www-form-urlencoded, text/plain;q=0.9, */*;q=0.1")
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, &Error{Op: op, Temporary: true, Err: proxy.RedactError(err), Description: networkText(err)}
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, MaxResponse+1))
	if err != nil {
		return nil, &Error{Op: op, Status: resp.StatusCode, Temporary: true, Description: "the answer could not be read"}
	}
	scrub := []string{cfg.ConsumerSecret.Reveal(), token.Secret.Reveal()}
	if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusCreated {
		e := &Error{Op: op, Status: resp.StatusCode, Temporary: temporaryStatus(resp.StatusCode)}
		e.Problem, e.Description = explain(resp.Header.Get("Content-Type"), body, scrub)
		return nil, e
	}
	if len(body) > MaxResponse {
		return nil, &Error{Op: op, Status: resp.StatusCode, Description: fmt.Sprintf("the answer is larger than %d KiB", MaxResponse>>10)}
	}
	params, err := ParseForm(strings.TrimSpace(string(body)))
	if err != nil {
		return nil, &Error{Op: op, Status: resp.StatusCode, Description: "the answer is not form-encoded"}
	}
	vals := map[string]string{}
	for _, p := range params {
		if _, dup := vals[p.Name]; !dup {
			vals[p.Name] = p.Value
		}
	}
	return vals, nil
}

func temporaryStatus(status int) bool {
	return status >= 500 || status == http.StatusRequestTimeout || status == http.StatusTooManyRequests
}

func networkText(err error) string {
	var ne net.Error
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return "the provider did not answer in time"
	case errors.Is(err, context.Canceled):
		return "canceled"
	}
	return "the provider could not be reached"
}

// explain pulls oauth_problem and a short explanation out of an error
// answer: a form (oauth_problem, oauth_problem_advice), JSON (message,
// error_description, error) or plain text; secrets are removed.
func explain(contentType string, body []byte, secrets []string) (problemCode, description string) {
	if len(body) > MaxResponse {
		body = body[:MaxResponse]
	}
	mt, _, _ := mime.ParseMediaType(contentType)
	text := strings.TrimSpace(string(body))
	if params, err := ParseForm(text); err == nil && (mt == "application/x-www-form-urlencoded" || strings.HasPrefix(text, "oauth_problem=")) {
		for _, p := range params {
			switch p.Name {
			case "oauth_problem":
				problemCode = p.Value
			case "oauth_problem_advice":
				description = p.Value
			}
		}
		return bound(problemCode, secrets, 64), bound(description, secrets, maxDescription)
	}
	var doc map[string]any
	if json.Unmarshal(body, &doc) == nil {
		for _, k := range []string{"message", "error_description", "error", "detail"} {
			if s, ok := doc[k].(string); ok {
				return "", bound(s, secrets, maxDescription)
			}
		}
		return "", ""
	}
	if mt == "text/plain" {
		return "", bound(text, secrets, maxDescription)
	}
	return "", ""
}

// bound removes secrets (as sent and encoded) and control characters and
// cuts s to max bytes on a rune boundary.
func bound(s string, secrets []string, max int) string {
	for _, sec := range secrets {
		if len(sec) >= 4 {
			s = strings.ReplaceAll(s, sec, "[redacted]")
			s = strings.ReplaceAll(s, Encode(sec), "[redacted]")
		}
	}
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, s)
	if len(s) > max {
		cut := max
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut] + "…"
	}
	return s
}
