package oauth_test

import (
	"errors"
	"net/http"
	"reflect"
	"strings"
	"testing"

	"github.com/stormcreds/storm/internal/oauth"
)

func TestParseChallenges(t *testing.T) {
	type ch = oauth.Challenge
	p := func(kv ...string) map[string]string {
		m := map[string]string{}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	cases := []struct {
		in   []string
		want []ch
	}{
		{[]string{`Bearer resource_metadata="https://mcp.example.com/.well-known/oauth-protected-resource/mcp"`},
			[]ch{{Scheme: "bearer", Params: p("resource_metadata", "https://mcp.example.com/.well-known/oauth-protected-resource/mcp")}}},
		// RFC 6750 §3 example.
		{[]string{`Bearer realm="example", error="invalid_token", error_description="The access token expired"`},
			[]ch{{Scheme: "bearer", Params: p("realm", "example", "error", "invalid_token", "error_description", "The access token expired")}}},
		// RFC 9110 §11.6.1 example: two challenges in one value, a quoted-pair.
		{[]string{`Basic realm="simple", Newauth realm="apps", type=1, title="Login to \"apps\""`},
			[]ch{{Scheme: "basic", Params: p("realm", "simple")}, {Scheme: "newauth", Params: p("realm", "apps", "type", "1", "title", `Login to "apps"`)}}},
		{[]string{`Negotiate a87421000492aa874209af8bc028`}, []ch{{Scheme: "negotiate", Token68: "a87421000492aa874209af8bc028"}}},
		{[]string{`Negotiate abc==, Bearer scope="a b"`}, []ch{{Scheme: "negotiate", Token68: "abc=="}, {Scheme: "bearer", Params: p("scope", "a b")}}},
		{[]string{`Bearer`}, []ch{{Scheme: "bearer"}}},
		{[]string{`Bearer, Basic realm="x"`}, []ch{{Scheme: "bearer"}, {Scheme: "basic", Params: p("realm", "x")}}},
		{[]string{`BEARER Resource_Metadata = "u" ,  Scope=read`}, []ch{{Scheme: "bearer", Params: p("resource_metadata", "u", "scope", "read")}}},
		{[]string{`Basic realm="a, b=c"`, `Bearer error="x"`}, []ch{{Scheme: "basic", Params: p("realm", "a, b=c")}, {Scheme: "bearer", Params: p("error", "x")}}},
		{[]string{``, ` , `}, nil},
		{[]string{`Bearer realm=`}, []ch{{Scheme: "bearer", Token68: "realm="}}}, // a token68, not a parameter without value
	}
	for _, c := range cases {
		got, err := oauth.ParseChallenges(c.in)
		if err != nil || !reflect.DeepEqual(got, c.want) {
			t.Errorf("ParseChallenges(%q) = %+v, %v\nwant %+v", c.in, got, err, c.want)
		}
	}
	for _, bad := range []string{
		`Bearer realm="unterminated`,
		`Bearer a=1 b=2`,
		`Bearer a=1, a=2`,
		`="x"`,
		`Bearer a="x" junk`,
		`Bearer realm="a` + "\x01" + `"`,
		`Negotiate abc== junk`,
		strings.Repeat("a", 9000),
	} {
		if _, err := oauth.ParseChallenges([]string{bad}); !errors.Is(err, oauth.ErrMalformedChallenge) {
			t.Errorf("ParseChallenges(%.40q) = %v, want ErrMalformedChallenge", bad, err)
		}
	}
}

func TestBearerResourceMetadata(t *testing.T) {
	h := http.Header{}
	h.Add("WWW-Authenticate", `Basic realm="x"`)
	h.Add("WWW-Authenticate", `Bearer error="invalid_token", resource_metadata="https://r.example/.well-known/oauth-protected-resource", scope="files:read"`)
	u, scope, ok := oauth.BearerResourceMetadata(h)
	if !ok || u != "https://r.example/.well-known/oauth-protected-resource" || scope != "files:read" {
		t.Fatalf("= %q %q %v", u, scope, ok)
	}
	for _, v := range []string{`Bearer realm="x"`, `Basic resource_metadata="https://x"`, `Bearer resource_metadata="unterminated`} {
		if _, _, ok := oauth.BearerResourceMetadata(http.Header{"Www-Authenticate": {v}}); ok {
			t.Errorf("%s: found resource metadata", v)
		}
	}
}

func TestParseResourceMetadata(t *testing.T) {
	good := `{"resource":"https://mcp.example.com/mcp","authorization_servers":["https://auth.example.com/tenant"],"scopes_supported":["files:read","offline_access"],"unknown":1}`
	prm, err := oauth.ParseResourceMetadata([]byte(good))
	if err != nil || prm.Resource != "https://mcp.example.com/mcp" || prm.AuthorizationServers[0] != "https://auth.example.com/tenant" || len(prm.ScopesSupported) != 2 {
		t.Fatalf("%+v %v", prm, err)
	}
	for name, doc := range map[string]string{
		"not JSON":          `{`,
		"trailing":          good + `{}`,
		"no resource":       `{"authorization_servers":["https://a.example"]}`,
		"http resource":     `{"resource":"http://mcp.example.com","authorization_servers":["https://a.example"]}`,
		"no servers":        `{"resource":"https://mcp.example.com"}`,
		"bad server":        `{"resource":"https://mcp.example.com","authorization_servers":["https://a.example/?x=1"]}`,
		"scope with space":  `{"resource":"https://mcp.example.com","authorization_servers":["https://a.example"],"scopes_supported":["a b"]}`,
		"scope with quote":  `{"resource":"https://mcp.example.com","authorization_servers":["https://a.example"],"scopes_supported":["a\""]}`,
		"servers not array": `{"resource":"https://mcp.example.com","authorization_servers":"https://a.example"}`,
		"too large":         `{"resource":"https://mcp.example.com","pad":"` + strings.Repeat("x", oauth.MaxResourceMetadata) + `"}`,
	} {
		if _, err := oauth.ParseResourceMetadata([]byte(doc)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
