package problem

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"
)

// FieldError names one rejected input field.
type FieldError struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

// Problem is an error meant for the caller, with its HTTP status. Detail
// is shown to the caller as is, so it must never hold a secret.
type Problem struct {
	Type   string       `json:"type"`
	Title  string       `json:"title"`
	Status int          `json:"status"`
	Detail string       `json:"detail,omitempty"`
	Errors []FieldError `json:"errors,omitempty"`
	// Extra members are merged into the JSON body (for example a
	// verification result).
	Extra map[string]any `json:"-"`
	// RetryAfter, when positive, is sent as the Retry-After header (in
	// whole seconds, at least 1) with a 429 or 503.
	RetryAfter time.Duration `json:"-"`
}

func (p *Problem) Error() string {
	if p.Detail == "" {
		return p.Title
	}
	return p.Title + ": " + p.Detail
}

// New returns a problem with the standard title for status.
func New(status int, format string, args ...any) *Problem {
	return &Problem{Type: "about:blank", Title: http.StatusText(status), Status: status, Detail: fmt.Sprintf(format, args...)}
}

// Invalid is a 400 naming the fields at fault.
func Invalid(detail string, fields ...FieldError) *Problem {
	p := New(http.StatusBadRequest, "%s", detail)
	p.Errors = fields
	return p
}

// Field is shorthand for a one-field 400.
func Field(field, message string) *Problem {
	return Invalid(field+": "+message, FieldError{Field: field, Message: message})
}

// NotFound is the 404 for an object that does not exist or is not
// visible to the caller; the two are indistinguishable on purpose.
func NotFound(kind, id string) *Problem {
	return New(http.StatusNotFound, "%s %s not found", kind, id)
}

// As finds a Problem in err's chain.
func As(err error) (*Problem, bool) {
	var p *Problem
	ok := errors.As(err, &p)
	return p, ok
}

// Write sends p as application/problem+json.
func Write(w http.ResponseWriter, p *Problem) {
	body := map[string]any{"type": p.Type, "title": p.Title, "status": p.Status}
	if p.Type == "" {
		body["type"] = "about:blank"
	}
	if p.Detail != "" {
		body["detail"] = p.Detail
	}
	if len(p.Errors) > 0 {
		body["errors"] = p.Errors
	}
	for k, v := range p.Extra {
		if _, taken := body[k]; !taken {
			body[k] = v
		}
	}
	w.Header().Set("Content-Type", "application/problem+json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	if p.RetryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(max(1, int((p.RetryAfter+time.Second-1)/time.Second))))
	}
	w.WriteHeader(p.Status)
	json.NewEncoder(w).Encode(body)
}
