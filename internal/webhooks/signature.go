package webhooks

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// SignatureHeader carries a delivery's signature:
//
//	Storm-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256>
//
// The HMAC key is the webhook's secret exactly as shown at creation
// (including its "whsec_" prefix) and the message is the timestamp, a
// dot and the raw request body: "<t>.<body>". A header may carry several
// v1 values; one matching is enough.
const SignatureHeader = "Storm-Signature"

// DefaultTolerance is how far a signature's timestamp may be from the
// receiver's clock when VerifySignature is given no tolerance.
const DefaultTolerance = 5 * time.Minute

// Errors returned by VerifySignature.
var (
	// ErrMalformedSignature: the header is missing or cannot be parsed.
	ErrMalformedSignature = errors.New("webhooks: malformed Storm-Signature header")
	// ErrSignatureMismatch: no v1 signature matches the body and secret.
	ErrSignatureMismatch = errors.New("webhooks: signature does not match")
	// ErrSignatureExpired: the timestamp is outside the tolerance (a
	// replayed or badly delayed delivery).
	ErrSignatureExpired = errors.New("webhooks: signature timestamp outside the tolerance")
)

// Sign returns the Storm-Signature header value for body sent at t.
func Sign(secret string, t time.Time, body []byte) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	return "t=" + ts + ",v1=" + hex.EncodeToString(mac(secret, ts, body))
}

func mac(secret, ts string, body []byte) []byte {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(ts))
	m.Write([]byte{'.'})
	m.Write(body)
	return m.Sum(nil)
}

// VerifySignature checks a Storm-Signature header against the raw request
// body and the webhook's secret, as a receiver should before trusting a
// delivery: the HMAC is compared in constant time, and the timestamp must
// be within tolerance of now (DefaultTolerance when tolerance is not
// positive), which bounds replays. Receivers should also drop deliveries
// whose Storm-Event-Id they have already processed: delivery is at least
// once.
func VerifySignature(secret, header string, body []byte, now time.Time, tolerance time.Duration) error {
	if tolerance <= 0 {
		tolerance = DefaultTolerance
	}
	var ts string
	var sigs [][]byte
	for part := range strings.SplitSeq(header, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return ErrMalformedSignature
		}
		switch k {
		case "t":
			if ts != "" {
				return ErrMalformedSignature
			}
			ts = v
		case "v1":
			b, err := hex.DecodeString(v)
			if err != nil || len(b) != sha256.Size {
				return ErrMalformedSignature
			}
			sigs = append(sigs, b)
		}
		// Other schemes are ignored, so new ones can be added.
	}
	if ts == "" || len(sigs) == 0 {
		return ErrMalformedSignature
	}
	unix, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || unix <= 0 || strconv.FormatInt(unix, 10) != ts {
		return ErrMalformedSignature
	}
	if d := now.Sub(time.Unix(unix, 0)); d > tolerance || d < -tolerance {
		return fmt.Errorf("%w: signed at %s, %s from now", ErrSignatureExpired, time.Unix(unix, 0).UTC().Format(time.RFC3339), d.Round(time.Second))
	}
	want := mac(secret, ts, body)
	ok := false
	for _, s := range sigs {
		// Check every signature so the time taken does not reveal which
		// one matched.
		if hmac.Equal(s, want) {
			ok = true
		}
	}
	if !ok {
		return ErrSignatureMismatch
	}
	return nil
}
