package outcome

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stormcreds/storm/internal/proxy"
)

// get makes a real request and returns its transport error.
func get(t *testing.T, client *http.Client, url string) error {
	t.Helper()
	resp, err := client.Get(url)
	if err == nil {
		resp.Body.Close()
		t.Fatalf("GET %s succeeded", url)
	}
	return err
}

func closedPort(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

type ownReason struct{}

func (ownReason) Error() string   { return "own" }
func (ownReason) Outcome() Reason { return Rejected }

func TestOfClassifiesRealFailures(t *testing.T) {
	tlsSrv := httptest.NewTLSServer(http.NotFoundHandler())
	defer tlsSrv.Close()
	hang := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-hang }))
	defer slow.Close()
	defer close(hang)
	guarded, err := proxy.New(proxy.Config{})
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name   string
		err    func() error
		cause  Cause
		reason Reason
	}{
		{"name that does not resolve", func() error { return get(t, http.DefaultClient, "http://storm-outcome-test.invalid/") }, CauseDNS, Unreachable},
		{"closed port", func() error { return get(t, http.DefaultClient, "http://"+closedPort(t)+"/") }, CauseConnect, Unreachable},
		{"untrusted certificate", func() error { return get(t, http.DefaultClient, tlsSrv.URL) }, CauseTLS, Unreachable},
		{"timeout", func() error {
			return get(t, &http.Client{Timeout: 50 * time.Millisecond}, slow.URL)
		}, CauseTimeout, Unreachable},
		{"egress guard", func() error { return get(t, guarded.Client(), slow.URL) }, CauseGuard, Blocked},
		{"wrapped deadline", func() error { return fmt.Errorf("x: %w", context.DeadlineExceeded) }, CauseTimeout, Unreachable},
		{"other", func() error { return errors.New("malformed HTTP response") }, CauseOther, Unexpected},
		{"own reason", func() error { return fmt.Errorf("wrapped: %w", ownReason{}) }, CauseOther, Rejected},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := c.err()
			if got := CauseOf(err); got != c.cause {
				t.Errorf("CauseOf(%v) = %v, want %v", err, got, c.cause)
			}
			if got := Of(err); got != c.reason {
				t.Errorf("Of(%v) = %q, want %q", err, got, c.reason)
			}
			if SafeText(err) != c.reason.Text() || strings.Contains(SafeText(err), "127.0.0.1") {
				t.Errorf("SafeText = %q", SafeText(err))
			}
		})
	}
	if Of(nil) != "" || Reason("").Text() != "" {
		t.Fatal("nil error has a reason")
	}
}

func TestTextsAreFixedAndNameTheSetting(t *testing.T) {
	seen := map[string]bool{}
	for _, r := range []Reason{Rejected, Unreachable, Blocked, Unexpected, NotChecked} {
		txt := r.Text()
		if txt == "" || seen[txt] {
			t.Fatalf("%s: text %q empty or shared", r, txt)
		}
		seen[txt] = true
	}
	if !strings.Contains(Blocked.Text(), "STORM_ALLOW_PRIVATE_UPSTREAMS") {
		t.Fatalf("blocked text does not name the setting: %q", Blocked.Text())
	}
	for status, want := range map[int]Reason{401: Rejected, 403: Rejected, 404: Unexpected, 500: Unexpected, 200: Unexpected} {
		if got := OfStatus(status); got != want {
			t.Errorf("OfStatus(%d) = %q, want %q", status, got, want)
		}
	}
}
