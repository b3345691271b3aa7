package client

import (
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"unicode"
)

// maxErrorBody bounds how much of an error response is read.
const maxErrorBody = 64 << 10

// Error is a non-2xx answer from the server, parsed from its RFC 9457
// problem details (application/problem+json) where it sent them.
//
// Status is always the HTTP status of the response. Callers test for it
// with errors.As, or with StatusCode.
type Error struct {
	Type     string       `json:"type,omitempty"`
	Title    string       `json:"title,omitempty"`
	Status   int          `json:"status"`
	Detail   string       `json:"detail,omitempty"`
	Instance string       `json:"instance,omitempty"`
	Errors   []FieldError `json:"errors,omitempty"`
	// Reason and Verification are set when a Save was refused because
	// the new credential did not pass verification (422).
	Reason       string        `json:"reason,omitempty"`
	Verification *VerifyResult `json:"verification,omitempty"`
}

// FieldError names one invalid field of a rejected request.
type FieldError struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

// Error returns one line: status, title, detail and any field errors, as in
// "404 Not Found: integration int_x not found". Control characters from
// the server are replaced, so the line is safe to print on a terminal.
func (e *Error) Error() string {
	title := e.Title
	if title == "" {
		title = http.StatusText(e.Status)
	}
	var b strings.Builder
	b.WriteString(strconv.Itoa(e.Status))
	if title != "" {
		b.WriteString(" ")
		b.WriteString(title)
	}
	if e.Detail != "" && e.Detail != title {
		b.WriteString(": ")
		b.WriteString(e.Detail)
	}
	for i, fe := range e.Errors {
		if i == 0 {
			b.WriteString(" (")
		} else {
			b.WriteString("; ")
		}
		if fe.Field != "" {
			b.WriteString(fe.Field)
			b.WriteString(": ")
		}
		b.WriteString(fe.Message)
		if i == len(e.Errors)-1 {
			b.WriteString(")")
		}
	}
	return oneLine(b.String())
}

// StatusCode returns the HTTP status of the *Error in err's chain, or 0
// when there is none (for example a network failure).
func StatusCode(err error) int {
	var e *Error
	if errors.As(err, &e) {
		return e.Status
	}
	return 0
}

// parseError turns a non-2xx response into *Error. A body that is not
// problem details still yields an *Error with the status; a short
// text/plain body becomes its Detail.
func parseError(resp *http.Response) error {
	e := &Error{}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	io.Copy(io.Discard, io.LimitReader(resp.Body, maxResponse))
	mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	switch {
	case mt == "application/problem+json" || mt == "application/json":
		if err := json.Unmarshal(body, e); err != nil {
			e = &Error{} // not problem details after all
		}
	case mt == "text/plain":
		e.Detail = firstLine(string(body), 200)
	}
	e.Status = resp.StatusCode
	return e
}

func firstLine(s string, max int) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexAny(s, "\r\n"); i >= 0 {
		s = s[:i]
	}
	if len(s) > max {
		s = strings.ToValidUTF8(s[:max], "") + "…"
	}
	return s
}

// oneLine replaces line breaks and other control characters with spaces.
func oneLine(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, s)
}
