package problem

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// TestWriteIsRFC9457: the body is application/problem+json with type,
// title, status, detail and field errors; Extra members never replace
// the standard ones.
func TestWriteIsRFC9457(t *testing.T) {
	p := Field("config.base_url", "must be https")
	p.Extra = map[string]any{"status": 200, "title": "forged", "reason": "blocked"}
	rec := httptest.NewRecorder()
	Write(rec, p)

	if rec.Code != http.StatusBadRequest {
		t.Fatalf("status %d", rec.Code)
	}
	if ct := rec.Header().Get("Content-Type"); ct != "application/problem+json" {
		t.Errorf("Content-Type %q", ct)
	}
	if rec.Header().Get("X-Content-Type-Options") != "nosniff" {
		t.Error("no nosniff")
	}
	if rec.Header().Get("Retry-After") != "" {
		t.Error("Retry-After without RetryAfter")
	}
	var body struct {
		Type   string       `json:"type"`
		Title  string       `json:"title"`
		Status int          `json:"status"`
		Detail string       `json:"detail"`
		Errors []FieldError `json:"errors"`
		Reason string       `json:"reason"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
		t.Fatal(err)
	}
	if body.Type != "about:blank" || body.Title != "Bad Request" || body.Status != 400 ||
		body.Detail != "config.base_url: must be https" || body.Reason != "blocked" ||
		len(body.Errors) != 1 || body.Errors[0] != (FieldError{"config.base_url", "must be https"}) {
		t.Errorf("body %+v", body)
	}
}

// TestRetryAfterRoundsUpToWholeSeconds: Retry-After is delta-seconds
// (RFC 9110 §10.2.3), never 0 for a positive wait.
func TestRetryAfterRoundsUpToWholeSeconds(t *testing.T) {
	for _, tc := range []struct {
		wait time.Duration
		want string
	}{
		{time.Millisecond, "1"}, {time.Second, "1"}, {1500 * time.Millisecond, "2"}, {30 * time.Second, "30"},
	} {
		p := New(http.StatusServiceUnavailable, "busy")
		p.RetryAfter = tc.wait
		rec := httptest.NewRecorder()
		Write(rec, p)
		if got := rec.Header().Get("Retry-After"); got != tc.want {
			t.Errorf("RetryAfter %v → %q, want %q", tc.wait, got, tc.want)
		}
	}
}

// TestAsFindsWrappedProblems: a problem wrapped with %w is still found,
// and its Error text is title plus detail.
func TestAsFindsWrappedProblems(t *testing.T) {
	p := NotFound("integration", "int_x")
	err := fmt.Errorf("load: %w", p)
	got, ok := As(err)
	if !ok || got != p {
		t.Fatalf("As(%v) = %v, %v", err, got, ok)
	}
	if _, ok := As(errors.New("plain")); ok {
		t.Error("As found a problem in a plain error")
	}
	if p.Error() != "Not Found: integration int_x not found" {
		t.Errorf("Error() = %q", p.Error())
	}
	if (&Problem{Title: "Conflict"}).Error() != "Conflict" {
		t.Error("Error() without detail")
	}
}
