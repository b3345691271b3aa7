package oauth1

import (
	"fmt"
	"net/url"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"
)

// rfc5849Encode is RFC 5849 §3.6 read straight from the text, written
// apart from Encode so the two can check each other:
//
//	Characters in the unreserved character set as defined by [RFC3986],
//	Section 2.3 (ALPHA, DIGIT, "-", ".", "_", "~") MUST NOT be encoded.
//	All other characters MUST be encoded. The two hexadecimal characters
//	used to represent encoded characters MUST be uppercase.
//
// and "Text values MUST be encoded as UTF-8 octets [RFC3629] prior to
// percent-encoding them" (a Go string already is those octets).
func rfc5849Encode(s string) string {
	const unreservedSet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~"
	var b strings.Builder
	for _, octet := range []byte(s) {
		if strings.IndexByte(unreservedSet, octet) >= 0 {
			b.WriteByte(octet)
		} else {
			fmt.Fprintf(&b, "%%%02X", octet)
		}
	}
	return b.String()
}

// FuzzEncode cross-checks Encode against rfc5849Encode and checks that
// encoding round-trips: through percent-decoding, and as a name and value
// through ParseForm (an encoded text holds no "&", "=" or "+").
func FuzzEncode(f *testing.F) {
	for _, s := range []string{"", "abcXYZ019-._~", "a b", "a+b", "=%3D", "c@", "*!'()", "é", "/?&=#", "\x00\xff", "€ 😀", "%zz", "Ladies + Gentlemen", "Dogs, Cats & Mice"} {
		f.Add(s, "v")
	}
	f.Fuzz(func(t *testing.T, name, value string) {
		for _, s := range []string{name, value} {
			got := Encode(s)
			if want := rfc5849Encode(s); got != want {
				t.Fatalf("Encode(%q) = %q; RFC 5849 §3.6 says %q", s, got, want)
			}
			if back, err := url.PathUnescape(got); err != nil || back != s {
				t.Fatalf("Encode(%q) = %q decodes to %q, %v", s, got, back, err)
			}
			if Encode(got) != rfc5849Encode(got) {
				t.Fatalf("double encoding of %q differs", s)
			}
		}
		params, err := ParseForm(Encode(name) + "=" + Encode(value))
		if want := []Param{{name, value}}; err != nil || !slices.Equal(params, want) {
			t.Fatalf("ParseForm(Encode(%q)=Encode(%q)) = %q, %v", name, value, params, err)
		}
	})
}

// FuzzParseForm cross-checks ParseForm against net/url's form decoder:
// where url.ParseQuery accepts the text, both find the same values for
// each name, in order. Whatever ParseForm accepts re-encodes (§3.6) into
// a form that parses back to the same parameters.
func FuzzParseForm(f *testing.F) {
	for _, s := range []string{"", "a=1", "c2", "c2=", "a3=2+q", "a3=2%2Bq", "a=1&&b=2", "b5=%3D%253D&a3=a&c%40=&a2=r%20b",
		"%", "a=%g0", "=x", "a=1&a=2&a=", "%E2%82%AC=%C3%A9", "a=b=c", "x;y=1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, form string) {
		params, err := ParseForm(form)
		std, stdErr := url.ParseQuery(form)
		if err != nil {
			if stdErr == nil && strings.Count(form, "&") < MaxParams {
				t.Fatalf("ParseForm refused %q (%v), url.ParseQuery accepts it", form, err)
			}
			if strings.Contains(err.Error(), form) && len(form) > 8 {
				t.Fatalf("error quotes the form: %v", err)
			}
			return
		}
		if stdErr == nil {
			got := map[string][]string{}
			for _, p := range params {
				got[p.Name] = append(got[p.Name], p.Value)
			}
			for name, vs := range std {
				if !slices.Equal(got[name], vs) {
					t.Fatalf("%q: ParseForm gives %s=%q, url.ParseQuery %q", form, name, got[name], vs)
				}
			}
			if len(got) != len(std) {
				t.Fatalf("%q: ParseForm names %d parameters, url.ParseQuery %d", form, len(got), len(std))
			}
		}
		var enc []string
		for _, p := range params {
			enc = append(enc, Encode(p.Name)+"="+Encode(p.Value))
		}
		again, err := ParseForm(strings.Join(enc, "&"))
		if err != nil || !slices.Equal(again, params) {
			t.Fatalf("re-encoded %q parses to %q, %v; want %q", form, again, err, params)
		}
	})
}

// FuzzExplain feeds error answers of any type to explain, which keeps a
// short text from the provider for the caller: whatever the provider
// echoes, neither the consumer secret nor the token secret comes back,
// and the text is bounded and free of control characters.
func FuzzExplain(f *testing.F) {
	f.Add("application/x-www-form-urlencoded", []byte("oauth_problem=signature_invalid&oauth_problem_advice=base+string+was+POST%26sek%3Dret"), "sek=ret")
	f.Add("application/json", []byte(`{"error":"invalid token 1234-secret-token"}`), "1234-secret-token")
	f.Add("text/plain; charset=utf-8", []byte("bad consumer secret c0nsum3r-s3cr3t\n"), "c0nsum3r-s3cr3t")
	f.Add("text/html", []byte("<p>secret s</p>"), "s")
	f.Add("", []byte("oauth_problem=token_rejected&oauth_problem_advice=a%0Ab"), "tok")
	f.Fuzz(func(t *testing.T, contentType string, body []byte, sec string) {
		const consumerSecret = "consumer-secret-value"
		code, desc := explain(contentType, body, []string{consumerSecret, sec})
		if len(code) > 64+len("…") || len(desc) > maxDescription+len("…") {
			t.Fatalf("unbounded: %d, %d bytes", len(code), len(desc))
		}
		for _, out := range []string{code, desc} {
			if strings.IndexFunc(out, func(r rune) bool { return r < 0x20 || r == 0x7f }) >= 0 {
				t.Fatalf("control character in %q", out)
			}
			if utf8.Valid(body) && !utf8.ValidString(out) {
				t.Fatalf("invalid UTF-8 %q out of valid input", out)
			}
			// Our marker may border provider text; nothing spans it.
			probe := strings.ReplaceAll(out, "[redacted]", "\x00")
			if strings.Contains(probe, consumerSecret) {
				t.Fatalf("consumer secret in %q", out)
			}
			if len(sec) >= 4 && printable(sec) && strings.Contains(probe, sec) {
				t.Fatalf("token secret %q in %q", sec, out)
			}
		}
	})
}
