package oauth1

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stormcreds/storm/internal/methods/oauth1/oauth1test"
)

// Seeds, valid and invalid, are in testdata/fuzz/<target>/.

// FuzzNormalize parses arbitrary form text and checks the normalized
// string: every parameter is there once per occurrence (repeats and empty
// values included), in §3.4.1.3.2 order, and only unreserved characters
// and upper-case %XX escapes appear in names and values.
func FuzzNormalize(f *testing.F) {
	f.Fuzz(func(t *testing.T, form string) {
		params, err := ParseForm(form)
		if err != nil {
			return
		}
		norm := Normalize(params)
		if len(params) == 0 {
			if norm != "" {
				t.Fatalf("no parameters normalized to %q", norm)
			}
			return
		}
		pairs := strings.Split(norm, "&")
		if len(pairs) != len(params) {
			t.Fatalf("%d parameters became %d pairs: %q", len(params), len(pairs), norm)
		}
		var back []Param
		var prev [2]string
		for i, pair := range pairs {
			name, value, ok := strings.Cut(pair, "=")
			if !ok {
				t.Fatalf("pair %q has no =", pair)
			}
			for _, s := range []string{name, value} {
				if !encodedOK(s) {
					t.Fatalf("%q is not §3.6-encoded", s)
				}
			}
			if i > 0 && (name < prev[0] || name == prev[0] && value < prev[1]) {
				t.Fatalf("pairs out of order: %q before %q", prev, pair)
			}
			prev = [2]string{name, value}
			n, err1 := url.PathUnescape(name)
			v, err2 := url.PathUnescape(value)
			if err1 != nil || err2 != nil {
				t.Fatalf("pair %q does not decode", pair)
			}
			back = append(back, Param{n, v})
		}
		want := slices.Clone(params)
		key := func(a, b Param) int {
			if c := strings.Compare(Encode(a.Name), Encode(b.Name)); c != 0 {
				return c
			}
			return strings.Compare(Encode(a.Value), Encode(b.Value))
		}
		slices.SortFunc(want, key)
		if !slices.Equal(back, want) {
			t.Fatalf("normalized parameters %q, want %q", back, want)
		}
	})
}

func encodedOK(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case unreserved(c):
		case c == '%' && i+2 < len(s) && isUpperHex(s[i+1]) && isUpperHex(s[i+2]):
			i += 2
		default:
			return false
		}
	}
	return true
}

func isUpperHex(c byte) bool { return '0' <= c && c <= '9' || 'A' <= c && c <= 'F' }

// FuzzSignerAgreesWithProvider signs requests with arbitrary paths,
// queries and form bodies and has the test provider (which computes the
// base string on its own, from the request as received) verify them.
// Whatever the signer accepts to sign, the provider must accept.
func FuzzSignerAgreesWithProvider(f *testing.F) {
	now := time.Unix(1_700_000_000, 0)
	peer := oauth1test.NewUnstarted(f, oauth1test.Options{Now: func() time.Time { return now }})
	peer.AddConsumer(oauth1test.Consumer{Key: "ck", Secret: "cs"})
	peer.AddToken("ck", "tk", "ts")
	s, err := NewSigner(Config{ConsumerKey: "ck", ConsumerSecret: "cs", SignatureMethod: HMACSHA256, Realm: "R",
		Now: func() time.Time { return now }}, Credentials{Token: "tk", Secret: "ts"})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, method, path, query, body string) {
		if method == "" || strings.ContainsAny(method, " \t\r\n()<>@,;:\\\"/[]?={}") || strings.IndexFunc(method, func(r rune) bool { return r < 0x21 || r > 0x7e }) >= 0 {
			return
		}
		u, err := url.Parse("http://api.example.test/" + path)
		if err != nil || u.Host != "api.example.test" {
			return
		}
		u.RawQuery = query
		if strings.ContainsAny(query, "# \x7f") || strings.IndexFunc(query, func(r rune) bool { return r < 0x20 }) >= 0 {
			return
		}
		req := httptest.NewRequest(http.MethodGet, "http://api.example.test/", nil)
		req.Method, req.URL = method, u
		req.RequestURI = u.RequestURI()
		req.Host = u.Host
		req.Body = http.NoBody
		if body != "" {
			req.Body = ioNop(body)
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
		if err := s.Apply(req); err != nil {
			return // refused to sign: malformed encoding or oauth_ parameters
		}
		if body != "" {
			req.Body = ioNop(body)
		}
		rec := httptest.NewRecorder()
		peer.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			t.Fatalf("%s %s with body %q: provider answered %d %s", method, req.RequestURI, body, rec.Code, rec.Body)
		}
	})
}

func ioNop(s string) *readCloser { return &readCloser{strings.NewReader(s)} }

type readCloser struct{ *strings.Reader }

func (readCloser) Close() error { return nil }
