package oauth_test

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/stormcreds/storm/internal/oauth"
)

// Seeds are in testdata/fuzz/<target>/.

// FuzzParseChallenges: any WWW-Authenticate value either fails with
// ErrMalformedChallenge or yields challenges with lower-case token
// schemes and parameter names that survive being written out again.
func FuzzParseChallenges(f *testing.F) {
	f.Fuzz(func(t *testing.T, header string) {
		cs, err := oauth.ParseChallenges([]string{header})
		if err != nil {
			if !errors.Is(err, oauth.ErrMalformedChallenge) {
				t.Fatalf("error %v does not wrap ErrMalformedChallenge", err)
			}
			return
		}
		var parts []string
		for _, c := range cs {
			if c.Scheme == "" || c.Scheme != strings.ToLower(c.Scheme) || !isToken(c.Scheme) {
				t.Fatalf("scheme %q", c.Scheme)
			}
			if c.Token68 != "" && c.Params != nil {
				t.Fatalf("challenge with both a token68 and parameters: %+v", c)
			}
			s := c.Scheme
			switch {
			case c.Token68 != "":
				s += " " + c.Token68
			case len(c.Params) > 0:
				var ps []string
				for k, v := range c.Params {
					if k != strings.ToLower(k) || !isToken(k) {
						t.Fatalf("parameter name %q", k)
					}
					ps = append(ps, k+`="`+strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(v)+`"`)
				}
				s += " " + strings.Join(ps, ", ")
			}
			parts = append(parts, s)
		}
		again, err := oauth.ParseChallenges([]string{strings.Join(parts, ", ")})
		if err != nil {
			t.Fatalf("re-parsing %q: %v", strings.Join(parts, ", "), err)
		}
		if !reflect.DeepEqual(normalizeChallenges(again), normalizeChallenges(cs)) {
			t.Fatalf("round trip changed %+v into %+v", cs, again)
		}
	})
}

func normalizeChallenges(cs []oauth.Challenge) []oauth.Challenge {
	for i := range cs {
		if len(cs[i].Params) == 0 {
			cs[i].Params = nil
		}
	}
	return cs
}

func isToken(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0) {
			return false
		}
	}
	return s != ""
}

// FuzzParseResourceMetadata: a document is refused with an *oauth.Error
// or yields metadata whose resource has a metadata URL, and which is
// accepted again after a JSON round trip.
func FuzzParseResourceMetadata(f *testing.F) {
	f.Fuzz(func(t *testing.T, doc []byte) {
		prm, err := oauth.ParseResourceMetadata(doc)
		if err != nil {
			var oe *oauth.Error
			if !errors.As(err, &oe) || oe.Temporary {
				t.Fatalf("refusal %v is not a final *oauth.Error", err)
			}
			return
		}
		if _, err := oauth.ResourceMetadataURL(prm.Resource); err != nil {
			t.Fatalf("accepted resource %q has no metadata URL: %v", prm.Resource, err)
		}
		if len(prm.AuthorizationServers) == 0 {
			t.Fatal("accepted metadata without an authorization server")
		}
		b, _ := json.Marshal(prm)
		again, err := oauth.ParseResourceMetadata(b)
		if err != nil || !reflect.DeepEqual(again, prm) {
			t.Fatalf("round trip: %v\n%+v\n%+v", err, prm, again)
		}
	})
}
