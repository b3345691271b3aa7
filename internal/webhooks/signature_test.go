package webhooks

import (
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestSignAndVerify(t *testing.T) {
	const secret = "whsec_0123456789abcdef"
	body := []byte(`{"id":"evt_1","type":"credential.saved"}`)
	at := time.Unix(1_700_000_000, 0)
	h := Sign(secret, at, body)
	if !strings.HasPrefix(h, "t=1700000000,v1=") || len(h) != len("t=1700000000,v1=")+64 {
		t.Fatalf("header %q", h)
	}
	// The documented construction: HMAC-SHA256(secret, "t.body"), hex.
	if got := Sign(secret, at, body); got != h {
		t.Fatalf("Sign is not deterministic: %q vs %q", got, h)
	}

	for _, tc := range []struct {
		name      string
		secret    string
		header    string
		body      []byte
		now       time.Time
		tolerance time.Duration
		want      error
	}{
		{"valid", secret, h, body, at, 0, nil},
		{"valid within the default tolerance", secret, h, body, at.Add(4 * time.Minute), 0, nil},
		{"valid with spaces and an unknown scheme", secret, strings.ReplaceAll(h, ",", " , v0=abc, ") + " ", body, at, 0, nil},
		{"second v1 matches (secret rotation)", secret, h[:len("t=1700000000")] + ",v1=" + strings.Repeat("00", 32) + "," + h[len("t=1700000000,"):], body, at, 0, nil},
		{"tampered body", secret, h, []byte(`{"id":"evt_1","type":"credential.revoked"}`), at, 0, ErrSignatureMismatch},
		{"body with a trailing newline", secret, h, append(append([]byte{}, body...), '\n'), at, 0, ErrSignatureMismatch},
		{"wrong secret", "whsec_other", h, body, at, 0, ErrSignatureMismatch},
		{"secret without its prefix", strings.TrimPrefix(secret, "whsec_"), h, body, at, 0, ErrSignatureMismatch},
		{"old timestamp", secret, h, body, at.Add(6 * time.Minute), 0, ErrSignatureExpired},
		{"timestamp from the future", secret, h, body, at.Add(-6 * time.Minute), 0, ErrSignatureExpired},
		{"old for a tight tolerance", secret, h, body, at.Add(2 * time.Second), time.Second, ErrSignatureExpired},
		{"timestamp changed, signature kept", secret, strings.Replace(h, "t=1700000000", "t=1700000001", 1), body, at, 0, ErrSignatureMismatch},
		{"empty header", secret, "", body, at, 0, ErrMalformedSignature},
		{"no timestamp", secret, h[len("t=1700000000,"):], body, at, 0, ErrMalformedSignature},
		{"no signature", secret, "t=1700000000", body, at, 0, ErrMalformedSignature},
		{"two timestamps", secret, "t=1700000000," + h, body, at, 0, ErrMalformedSignature},
		{"non-numeric timestamp", secret, strings.Replace(h, "t=1700000000", "t=17e8", 1), body, at, 0, ErrMalformedSignature},
		{"signed timestamp", secret, strings.Replace(h, "t=1700000000", "t=+1700000000", 1), body, at, 0, ErrMalformedSignature},
		{"short signature", secret, "t=1700000000,v1=abcd", body, at, 0, ErrMalformedSignature},
		{"non-hex signature", secret, "t=1700000000,v1=" + strings.Repeat("zz", 32), body, at, 0, ErrMalformedSignature},
		{"garbage", secret, "sha256=abc", body, at, 0, ErrMalformedSignature},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := VerifySignature(tc.secret, tc.header, tc.body, tc.now, tc.tolerance)
			if tc.want == nil && err != nil || tc.want != nil && !errors.Is(err, tc.want) {
				t.Fatalf("VerifySignature = %v, want %v", err, tc.want)
			}
			if err != nil && strings.Contains(err.Error(), tc.secret) {
				t.Fatalf("error %q reveals the secret", err)
			}
		})
	}
}

func TestRetryAfter(t *testing.T) {
	now := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	for h, want := range map[string]time.Duration{
		"":     0,
		"7":    7 * time.Second,
		"-3":   0,
		"soon": 0,
		now.Add(90 * time.Second).Format(http.TimeFormat): 90 * time.Second,
		now.Add(-time.Hour).Format(http.TimeFormat):       0,
	} {
		if got := retryAfter(h, now); got != want {
			t.Errorf("retryAfter(%q) = %v, want %v", h, got, want)
		}
	}
}

func TestBackoff(t *testing.T) {
	d := &Dispatcher{cfg: Config{Tuning: Tuning{}.withDefaults()}}
	for n, want := range map[int]time.Duration{1: 2 * time.Second, 2: 4 * time.Second, 5: 32 * time.Second, 10: 10 * time.Minute, 60: 10 * time.Minute} {
		for range 20 {
			if got := d.backoff(n, 0); got > want || got < want*8/10 {
				t.Fatalf("backoff(%d) = %v, want %v less at most 20%%", n, got, want)
			}
		}
	}
	if got := d.backoff(1, 90*time.Second); got != 90*time.Second {
		t.Errorf("backoff with Retry-After 90s = %v", got)
	}
	if got := d.backoff(1, 5*time.Hour); got != 10*time.Minute {
		t.Errorf("backoff with Retry-After 5h = %v, want the 10m cap", got)
	}
}
