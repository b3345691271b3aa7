package oauth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"golang.org/x/oauth2"

	"github.com/stormcreds/storm/internal/outcome"
	"github.com/stormcreds/storm/internal/secret"
)

// Error is a failed call to an authorization server. It never holds a
// token: only the status, the RFC 6749 error code and description (the
// server's text, bounded; App scrubs the secrets it sent from it). Its
// Error text never includes the underlying network error, which may name
// the resolver and addresses: that is only in Err, for the server log
// (LogValue).
type Error struct {
	Op          string // "exchange", "refresh", "revoke", "discover"
	Status      int    // HTTP status, 0 when no answer
	Code        string // RFC 6749 "error", such as invalid_grant
	Description string
	// Temporary is true for failures worth retrying later (5xx, 408,
	// 429, network errors); false for answers that will not change
	// (invalid_grant, invalid_client, other 4xx).
	Temporary bool
	// RetryAfter is the server's Retry-After, when it sent one.
	RetryAfter time.Duration
	Err        error // underlying network error, if any
}

func (e *Error) Error() string {
	msg := "oauth " + e.Op + ": "
	code, desc := secret.Excerpt(e.Code, maxShownCode), secret.Excerpt(e.Description, maxShownDescription)
	switch {
	case code != "":
		msg += code
		if desc != "" {
			msg += " (" + desc + ")"
		}
		if e.Status != 0 {
			msg += fmt.Sprintf(", HTTP %d", e.Status)
		}
	case desc != "":
		msg += desc
	case e.Status != 0:
		msg += fmt.Sprintf("HTTP %d %s", e.Status, http.StatusText(e.Status))
	case e.Err != nil:
		msg += outcome.CauseOf(e.Err).Text()
	default:
		msg += "failed"
	}
	return msg
}

// LogValue implements slog.LogValuer: the server log gets the raw
// network error too.
func (e *Error) LogValue() slog.Value {
	attrs := []slog.Attr{slog.String("msg", e.Error())}
	if e.Err != nil {
		attrs = append(attrs, slog.String("cause", e.Err.Error()))
	}
	return slog.GroupValue(attrs...)
}

// Outcome is the verification reason for the failure (outcome.Of uses
// it): rejected when the server refused the grant, client or key (an
// invalid_grant, invalid_client or unauthorized_client code, or 401/403),
// the transport's reason when no answer came, unexpected otherwise.
func (e *Error) Outcome() outcome.Reason {
	switch {
	case e.Code == "invalid_grant" || e.Code == "invalid_client" || e.Code == "unauthorized_client":
		return outcome.Rejected
	case e.Status != 0:
		return outcome.OfStatus(e.Status)
	case e.Err != nil:
		return outcome.Of(e.Err)
	}
	return outcome.Unexpected
}

// Scrub removes every form of the given secrets (what the request
// carried: a client secret, a refresh token, a code) from the server's
// code and description, for servers that repeat what they were sent.
func (e *Error) Scrub(secrets ...string) {
	e.Code, e.Description = secret.Scrub(e.Code, secrets...), secret.Scrub(e.Description, secrets...)
}

func (e *Error) Unwrap() error { return e.Err }

// GrantRevoked reports whether the failure means the grant is gone for
// good and a person must authorize again.
func (e *Error) GrantRevoked() bool {
	switch e.Code {
	case "invalid_grant", "invalid_client", "unauthorized_client":
		return true
	}
	return !e.Temporary
}

// classify turns an x/oauth2 or transport error into an *Error.
func classify(op string, err error) *Error {
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		e := &Error{Op: op}
		e.Code, e.Description = codeAndDescription(re.ErrorCode, re.ErrorDescription)
		if re.Response != nil {
			e.Status = re.Response.StatusCode
			e.RetryAfter = retryAfter(re.Response.Header.Get("Retry-After"))
		}
		e.Temporary = temporaryStatus(e.Status) && e.Code != "invalid_grant" && e.Code != "invalid_client"
		return e
	}
	e := &Error{Op: op, Err: redact(err), Temporary: true}
	var ne net.Error
	if errors.Is(err, context.Canceled) {
		e.Temporary = true
	} else if errors.As(err, &ne) || errors.Is(err, context.DeadlineExceeded) {
		e.Temporary = true
	}
	return e
}

// temporaryStatus: server errors, timeouts and rate limits pass; other
// client errors do not.
func temporaryStatus(status int) bool {
	return status >= 500 || status == http.StatusRequestTimeout || status == http.StatusTooManyRequests || status == 0
}

func retryAfter(v string) time.Duration {
	if v == "" {
		return 0
	}
	if s, err := strconv.Atoi(v); err == nil && s >= 0 {
		return min(time.Duration(s)*time.Second, time.Hour)
	}
	if t, err := http.ParseTime(v); err == nil {
		return min(max(time.Until(t), 0), time.Hour)
	}
	return 0
}

// Bounds on a server's text: what is kept (scrubbed whole before it is
// shown, so a secret cannot survive as a cut-off prefix) and what is
// shown.
const (
	maxKept             = 1 << 10
	maxShownDescription = 200
	maxShownCode        = 64
)

// codeRe is what an RFC 6749 §5.2 error code looks like in practice: a
// short identifier. Anything else a server puts there is text.
var codeRe = regexp.MustCompile(`^[A-Za-z0-9_.:-]{1,64}$`)

// codeAndDescription keeps code only when it is an identifier (so it can
// be stored and shown as is); otherwise it becomes part of the
// description, which is bounded and shown only as a scrubbed excerpt.
func codeAndDescription(code, desc string) (string, string) {
	if code == "" || codeRe.MatchString(code) {
		return code, bound(desc)
	}
	if desc != "" {
		desc = code + ": " + desc
	} else {
		desc = code
	}
	return "", bound(desc)
}

// bound keeps at most maxKept bytes of s, cut at a character boundary.
func bound(s string) string {
	if len(s) <= maxKept {
		return s
	}
	cut := maxKept
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut]
}

// Classify turns an x/oauth2 or transport error into an *Error (for
// callers outside this package that drive x/oauth2 themselves).
func Classify(op string, err error) *Error { return classify(op, err) }

// ErrorFromResponse turns a token endpoint's error answer (resp and its
// body, already read) into an *Error: the status, Retry-After and the RFC
// 6749 §5.2 error and error_description from a JSON (or form-encoded)
// body. Temporary follows the same rule as for x/oauth2 errors. The body
// itself is never kept.
func ErrorFromResponse(op string, resp *http.Response, body []byte) *Error {
	e := &Error{Op: op}
	if resp != nil {
		e.Status = resp.StatusCode
		e.RetryAfter = retryAfter(resp.Header.Get("Retry-After"))
	}
	var j struct {
		Error       json.RawMessage `json:"error"`
		Description json.RawMessage `json:"error_description"`
	}
	if json.Unmarshal(body, &j) == nil {
		e.Code, e.Description = jsonString(j.Error), jsonString(j.Description)
	} else if resp != nil && strings.HasPrefix(resp.Header.Get("Content-Type"), "application/x-www-form-urlencoded") {
		if v, err := url.ParseQuery(string(body)); err == nil {
			e.Code, e.Description = v.Get("error"), v.Get("error_description")
		}
	}
	e.Code, e.Description = codeAndDescription(e.Code, e.Description)
	e.Temporary = temporaryStatus(e.Status) && e.Code != "invalid_grant" && e.Code != "invalid_client"
	return e
}

// jsonString is raw's value when it is a JSON string, else "".
func jsonString(raw json.RawMessage) string {
	var s string
	if len(raw) == 0 || json.Unmarshal(raw, &s) != nil {
		return ""
	}
	return s
}
