package exchange

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/stormcreds/storm/internal/problem"
)

// apiDoc is the example of shared/API.md.
const apiDoc = `{"method":"POST","path":"/auth/session","body":{"key":"{{api_key}}"},"token_pointer":"/token","expires_in_pointer":"/expires_in","apply":{"in":"header","name":"Authorization","prefix":"Bearer "}}`

func TestParseConfigAcceptsTheAPIExample(t *testing.T) {
	c, err := ParseConfig(json.RawMessage(apiDoc), KindAPIKey)
	if err != nil {
		t.Fatal(err)
	}
	if c.Method != "POST" || c.Path != "/auth/session" || c.Body["key"] != "{{api_key}}" || c.TokenPointer != "/token" ||
		c.ExpiresInPointer != "/expires_in" || c.Apply != (Apply{"header", "Authorization", "Bearer "}) {
		t.Fatalf("config = %+v", c)
	}
	for _, ok := range []string{
		`{"method":"POST","path":"/login","form":{"username":"{{username}}","password":"{{password}}"},"token_pointer":"/data/session/id","apply":{"in":"query","name":"session_token"}}`,
		`{"method":"GET","path":"/auth?v=2","form":{"key":"{{api_key}}"},"token_pointer":"/t","apply":{"in":"header","name":"X-Session"}}`,
		`{"method":"PUT","path":"/s","body":{"auth":{"type":"key","values":["{{api_key}}",1,true,null]},"n":1.5},"token_pointer":"/a~1b/~0c/0","expires_at_pointer":"/exp","apply":{"in":"header","name":"Authorization","prefix":"Token "}}`,
		`{"method":"POST","path":"/s","headers":{"X-Api-Key":"{{api_key}}"},"token_pointer":"/t","apply":{"in":"header","name":"Authorization","prefix":"Bearer "}}`,
	} {
		kind := KindAPIKey
		if strings.Contains(ok, "{{username}}") {
			kind = KindBasic
		}
		if _, err := ParseConfig(json.RawMessage(ok), kind); err != nil {
			t.Errorf("%s: %v", ok, err)
		}
	}
}

// TestParseConfigNamesTheField: every refusal is a 400 naming the member.
func TestParseConfigNamesTheField(t *testing.T) {
	edit := func(from, to string) string { return strings.Replace(apiDoc, from, to, 1) }
	cases := []struct {
		name, doc, kind, field, contains string
	}{
		{"unknown member", edit(`"method"`, `"verb":"x","method"`), KindAPIKey, "exchange.verb", "unknown setting (known: apply, body"},
		{"wrong type", edit(`"path":"/auth/session"`, `"path":7`), KindAPIKey, "exchange.path", "wrong type"},
		{"not an object", `[1]`, KindAPIKey, "exchange", "object"},
		{"trailing data", apiDoc + `{}`, KindAPIKey, "exchange", "one JSON object"},
		{"no method", edit(`"method":"POST",`, ``), KindAPIKey, "exchange.method", "required"},
		{"DELETE", edit(`"POST"`, `"DELETE"`), KindAPIKey, "exchange.method", "GET, POST or PUT"},
		{"lower-case method", edit(`"POST"`, `"post"`), KindAPIKey, "exchange.method", "GET, POST or PUT"},
		{"absolute URL", edit(`"/auth/session"`, `"https://evil.example/steal"`), KindAPIKey, "exchange.path", "relative"},
		{"scheme-relative", edit(`"/auth/session"`, `"//evil.example/steal"`), KindAPIKey, "exchange.path", "relative"},
		{"dot segments", edit(`"/auth/session"`, `"/a/../../admin"`), KindAPIKey, "exchange.path", "under the base URL"},
		{"encoded dot segments", edit(`"/auth/session"`, `"/a/%2e%2e/x"`), KindAPIKey, "exchange.path", "under the base URL"},
		{"template in path", edit(`"/auth/session"`, `"/auth/{{api_key}}"`), KindAPIKey, "exchange.path", "no templates"},
		{"fragment", edit(`"/auth/session"`, `"/auth#x"`), KindAPIKey, "exchange.path", "plain path"},
		{"no path", edit(`"path":"/auth/session",`, ``), KindAPIKey, "exchange.path", "required"},
		{"unknown template", edit(`{{api_key}}`, `{{apikey}}`), KindAPIKey, "exchange.body.key", "unknown template"},
		{"template of basic in api_key", edit(`{{api_key}}`, `{{password}}`), KindAPIKey, "exchange.body.key", "not available"},
		{"template of api_key in basic", apiDoc, KindBasic, "exchange.body.key", "not available"},
		{"unbalanced braces", edit(`{{api_key}}`, `{{api_key}}}}`), KindAPIKey, "exchange.body.key", "unbalanced"},
		{"template in a name", edit(`"key":`, `"{{api_key}}":"x","k":`), KindAPIKey, "exchange.body.{{api_key}}", "names"},
		{"credential never sent", edit(`{{api_key}}`, `fixed`), KindAPIKey, "exchange", "never sends"},
		{"body and form", edit(`"body"`, `"form":{"a":"b"},"body"`), KindAPIKey, "exchange.body", "exclusive"},
		{"body with GET", edit(`"POST"`, `"GET"`), KindAPIKey, "exchange.body", "GET"},
		{"no token pointer", edit(`"token_pointer":"/token",`, ``), KindAPIKey, "exchange.token_pointer", "required"},
		{"pointer without slash", edit(`"/token"`, `"token"`), KindAPIKey, "exchange.token_pointer", "RFC 6901"},
		{"pointer bad escape", edit(`"/token"`, `"/to~2ken"`), KindAPIKey, "exchange.token_pointer", "~0"},
		{"pointer trailing tilde", edit(`"/expires_in"`, `"/e~"`), KindAPIKey, "exchange.expires_in_pointer", "~0"},
		{"both lifetimes", edit(`"apply"`, `"expires_at_pointer":"/x","apply"`), KindAPIKey, "exchange.expires_at_pointer", "exclusive"},
		{"apply in cookie", edit(`"in":"header"`, `"in":"cookie"`), KindAPIKey, "exchange.apply.in", "header or query"},
		{"apply without in", edit(`"in":"header",`, ``), KindAPIKey, "exchange.apply.in", "required"},
		{"apply bad header", edit(`"Authorization"`, `"Auth orization"`), KindAPIKey, "exchange.apply.name", "header name"},
		{"apply Host", edit(`"Authorization"`, `"host"`), KindAPIKey, "exchange.apply.name", "Storm sets"},
		{"apply query with &", edit(`"in":"header","name":"Authorization"`, `"in":"query","name":"a&b"`), KindAPIKey, "exchange.apply.name", "query parameter"},
		{"apply prefix template", edit(`"Bearer "`, `"{{api_key}}"`), KindAPIKey, "exchange.apply.prefix", "no templates"},
		{"apply prefix newline", edit(`"Bearer "`, `"B\n"`), KindAPIKey, "exchange.apply.prefix", "printable"},
		{"header Content-Type", edit(`"body"`, `"headers":{"content-type":"x"},"body"`), KindAPIKey, "exchange.headers.content-type", "set by Storm"},
		{"header line break", edit(`"body"`, `"headers":{"X-A":"a\r\nb"},"body"`), KindAPIKey, "exchange.headers.X-A", "line breaks"},
		{"not for oauth2", apiDoc, "oauth2", "exchange", "api_key and basic"},
		{"too deep", edit(`{"key":"{{api_key}}"}`, `{"key":"{{api_key}}","a":{"a":{"a":{"a":{"a":{"a":{"a":{"a":{"a":1}}}}}}}}}`), KindAPIKey, "exchange.body.a.a.a.a.a.a.a.a", "deeper"},
		{"too large", `{"method":"` + strings.Repeat("A", MaxConfigSize) + `"}`, KindAPIKey, "exchange", "KiB"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := ParseConfig(json.RawMessage(c.doc), c.kind)
			p, ok := problem.As(err)
			if !ok || p.Status != 400 {
				t.Fatalf("error = %v, want a 400 problem", err)
			}
			for _, fe := range p.Errors {
				if fe.Field == c.field && strings.Contains(fe.Message, c.contains) {
					return
				}
			}
			t.Fatalf("errors %+v do not name %s with %q", p.Errors, c.field, c.contains)
		})
	}
}

func TestParsePointer(t *testing.T) {
	cases := map[string][]string{
		"":         nil,
		"/":        {""},
		"/a/b":     {"a", "b"},
		"/a~1b":    {"a/b"},
		"/m~0n":    {"m~n"},
		"/~01":     {"~1"}, // RFC 6901 §4: ~01 is ~1, not /
		"/ /%25/0": {" ", "%25", "0"},
	}
	for p, want := range cases {
		got, err := parsePointer(p)
		if err != nil || strings.Join(got, "|") != strings.Join(want, "|") || len(got) != len(want) {
			t.Errorf("parsePointer(%q) = %q, %v; want %q", p, got, err, want)
		}
	}
	// RFC 6901 §5's document.
	var doc any
	_ = json.Unmarshal([]byte(`{"foo":["bar","baz"],"":0,"a/b":1,"c%d":2,"e^f":3,"g|h":4,"i\\j":5,"k\"l":6," ":7,"m~n":8}`), &doc)
	for p, want := range map[string]any{"/foo/0": "bar", "/": 0.0, "/a~1b": 1.0, "/c%d": 2.0, "/e^f": 3.0, "/g|h": 4.0,
		`/i\j`: 5.0, `/k"l`: 6.0, "/ ": 7.0, "/m~0n": 8.0} {
		if got, ok := resolve(doc, p); !ok || got != want {
			t.Errorf("resolve(%q) = %v, %v; want %v", p, got, ok, want)
		}
	}
	for _, p := range []string{"/foo/2", "/foo/01", "/foo/-", "/foo/bar", "/nope", "/foo/0/x"} {
		if _, ok := resolve(doc, p); ok {
			t.Errorf("resolve(%q) found something", p)
		}
	}
}
