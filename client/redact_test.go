package client

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"
)

// TestSecretsStayOutOfFormattingAndLogs is the confidentiality property of
// the secret-holding types: a careless %v or log call prints no secret,
// while deliberate JSON encoding still carries it.
func TestSecretsStayOutOfFormattingAndLogs(t *testing.T) {
	exp := time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)
	values := map[string]struct {
		v       any
		secrets []string
	}{
		"bearer":  {Access{Type: AccessBearer, AccessToken: "SECRET-at", ExpiresAt: exp}, []string{"SECRET-at"}},
		"api_key": {Access{Type: AccessAPIKey, APIKey: "SECRET-key", In: "header", Name: "X-Api-Key"}, []string{"SECRET-key"}},
		"aws":     {Access{Type: AccessAWS, AccessKeyID: "AKIAPUBLIC", SecretAccessKey: "SECRET-sak", SessionToken: "SECRET-st"}, []string{"SECRET-sak", "SECRET-st"}},
		"basic":   {Access{Type: AccessBasic, Username: "svc", Password: "SECRET-pw"}, []string{"SECRET-pw"}},
		"oauth1": {Access{Type: AccessOAuth1, ConsumerKey: "ck", ConsumerSecret: "SECRET-cs", Token: "SECRET-tok", TokenSecret: "SECRET-ts",
			SignatureMethod: "HMAC-SHA256", Realm: "1234567_SB1"}, []string{"SECRET-cs", "SECRET-tok", "SECRET-ts"}},
		"token":   {Token{ID: "tok_1", Token: "SECRET-tok", Role: RoleWorker}, []string{"SECRET-tok"}},
		"webhook": {Webhook{ID: "wh_1", Secret: "SECRET-wh", URL: "https://hooks.example/x"}, []string{"SECRET-wh"}},
		"connect link": {ConnectLink{ID: "cnl_1", URL: "https://storm.example/connect/SECRET-link", State: "open", ExpiresAt: exp},
			[]string{"SECRET-link"}},
	}
	for name, tc := range values {
		t.Run(name, func(t *testing.T) {
			var out bytes.Buffer
			for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%d", "%T %[1]v"} {
				fmt.Fprintf(&out, verb+"\n", tc.v)
				fmt.Fprintf(&out, verb+"\n", []any{tc.v})
				fmt.Fprintf(&out, verb+"\n", struct{ Inner any }{tc.v})
			}
			fmt.Fprintln(&out, tc.v)
			switch v := tc.v.(type) {
			case Access:
				fmt.Fprintf(&out, "%v %+v %#v\n", &v, &v, []Access{v})
			case Token:
				fmt.Fprintf(&out, "%v %+v %#v\n", &v, &v, []*Token{&v})
			case Webhook:
				fmt.Fprintf(&out, "%v %+v %#v\n", &v, &v, []Webhook{v})
			case ConnectLink:
				fmt.Fprintf(&out, "%v %+v %#v\n", &v, &v, []*ConnectLink{&v})
			}
			slog.New(slog.NewTextHandler(&out, nil)).Info("x", "value", tc.v)
			slog.New(slog.NewJSONHandler(&out, nil)).Info("x", "value", tc.v)
			for _, s := range tc.secrets {
				if strings.Contains(out.String(), s) {
					t.Errorf("secret %q printed:\n%s", s, out.String())
				}
			}
			if !strings.Contains(out.String(), redacted) {
				t.Errorf("no redaction marker in:\n%s", out.String())
			}
			b, err := json.Marshal(tc.v)
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range tc.secrets {
				if !bytes.Contains(b, []byte(s)) {
					t.Errorf("JSON encoding lost %q: %s", s, b)
				}
			}
		})
	}
}

func TestAccessStringKeepsNonSecretFields(t *testing.T) {
	a := Access{Type: AccessAPIKey, APIKey: "k", In: "query", Name: "api_key"}
	if got, want := a.String(), "client.Access{type: api_key, api_key: [REDACTED], in: query, name: api_key}"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
}

func TestClientDoesNotPrintItsToken(t *testing.T) {
	c, err := New("http://127.0.0.1:1", "SECRET-api-token")
	if err != nil {
		t.Fatal(err)
	}
	out := fmt.Sprintf("%v %+v %#v %s %d %v %+v %#v", c, c, c, c, c, *c, *c, []*Client{c})
	if strings.Contains(out, "SECRET") {
		t.Errorf("client token printed: %s", out)
	}
}
