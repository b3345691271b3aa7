package webhooks

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"
)

// FuzzVerifySignature parses arbitrary Storm-Signature headers, as a
// receiver does with whatever reaches it. A header is accepted only when
// it carries the HMAC a receiver would compute itself (written here from
// the documented construction, not with Sign) at a time within the
// tolerance; a header Sign made verifies, and no longer does once the
// body or the secret changes. Every refusal is one of the three errors.
func FuzzVerifySignature(f *testing.F) {
	const secret = "whsec_0123456789abcdef"
	at := time.Unix(1_700_000_000, 0)
	body := []byte(`{"id":"evt_1","type":"credential.saved"}`)
	f.Add(secret, Sign(secret, at, body), body, int64(0))
	f.Add(secret, Sign(secret, at, body)+",v1=00", body, int64(10))
	f.Add(secret, "t=1700000000,v0=abc,"+strings.TrimPrefix(Sign(secret, at, body), "t=1700000000,"), body, int64(-299))
	f.Add("", "t=1700000000,t=1700000000,v1=", []byte{}, int64(301))
	f.Add("s", "t=01700000000,v1="+strings.Repeat("0", 64), []byte("x"), int64(0))
	f.Add("s", " t = 1 , v1 = ab ", []byte(nil), int64(-1_700_000_000))
	f.Fuzz(func(t *testing.T, sec, header string, body []byte, skew int64) {
		now := at.Add(time.Duration(skew%1_000_000_000) * time.Second) // within ±31 years: after 1970
		err := VerifySignature(sec, header, body, now, 0)
		if err != nil {
			if !errors.Is(err, ErrMalformedSignature) && !errors.Is(err, ErrSignatureMismatch) && !errors.Is(err, ErrSignatureExpired) {
				t.Fatalf("error %v is none of the documented ones", err)
			}
		} else if !receiverAccepts(sec, header, body, now) {
			t.Fatalf("accepted %q for body %q at %v", header, body, now)
		}

		good := Sign(sec, now, body)
		if err := VerifySignature(sec, good, body, now, 0); err != nil {
			t.Fatalf("Sign's own header %q: %v", good, err)
		}
		if err := VerifySignature(sec, good, append(body, '!'), now, 0); !errors.Is(err, ErrSignatureMismatch) {
			t.Fatalf("changed body: %v", err)
		}
		if err := VerifySignature(sec+"x", good, body, now, 0); !errors.Is(err, ErrSignatureMismatch) {
			t.Fatalf("changed secret: %v", err)
		}
	})
}

// receiverAccepts is the check a receiver writes from the documentation:
// one t=<unix seconds> element, and some v1=<hex> element equal to
// HMAC-SHA256(secret, t + "." + body), t within 5 minutes of now.
func receiverAccepts(secret, header string, body []byte, now time.Time) bool {
	var ts string
	var sigs []string
	for part := range strings.SplitSeq(header, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
		switch k {
		case "t":
			if ts != "" {
				return false
			}
			ts = v
		case "v1":
			sigs = append(sigs, v)
		}
	}
	unix, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || strconv.FormatInt(unix, 10) != ts {
		return false
	}
	if d := now.Sub(time.Unix(unix, 0)); d > DefaultTolerance || d < -DefaultTolerance {
		return false
	}
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(ts + "."))
	m.Write(body)
	want := hex.EncodeToString(m.Sum(nil))
	for _, s := range sigs {
		if strings.EqualFold(s, want) {
			return true
		}
	}
	return false
}
