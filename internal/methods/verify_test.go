package methods

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/stormcreds/storm/internal/catalog"
	"github.com/stormcreds/storm/internal/outcome"
	"github.com/stormcreds/storm/internal/proxy"
)

func TestVerify(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/ok":
			w.WriteHeader(200)
		case "/teapot":
			w.WriteHeader(418)
		case "/graphql":
			if r.Method != "POST" || r.Header.Get("Content-Type") != "application/json" {
				w.WriteHeader(400)
			}
		default:
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(401)
			// Echo the key, as some providers do.
			w.Write([]byte(`{"error":{"message":"Incorrect API key provided: ` + r.Header.Get("X-Key") + `\u0007"}}`))
		}
	}))
	defer up.Close()
	base, _ := url.Parse(up.URL)
	cred := proxy.CredentialFunc(func(r *http.Request) error { r.Header.Set("X-Key", "sk-secret-123456"); return nil })
	cases := []struct {
		name    string
		v       *catalog.Verify
		ok      bool
		status  int
		reason  outcome.Reason
		message string
	}{
		{"2xx", &catalog.Verify{Method: "GET", Path: "/ok"}, true, 200, "", ""},
		{"expected non-2xx", &catalog.Verify{Method: "GET", Path: "/teapot", Expect: []int{418}}, true, 418, "", ""},
		{"unexpected 2xx", &catalog.Verify{Method: "GET", Path: "/ok", Expect: []int{204}}, false, 200, outcome.Unexpected, ""},
		{"rejected, message scrubbed", &catalog.Verify{Method: "GET", Path: "/me"}, false, 401, outcome.Rejected, "Incorrect API key provided: [redacted]"},
		{"POST with body", &catalog.Verify{Method: "POST", Path: "/graphql", Body: `{"query":"{ viewer { id } }"}`}, true, 200, "", ""},
		{"no verify request", nil, false, 0, outcome.NotChecked, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			res := Verify(context.Background(), up.Client(), base, c.v, cred, "sk-secret-123456")
			if res.OK != c.ok || res.Status != c.status || res.Reason != c.reason || res.Error != c.reason.Text() || res.Message != c.message {
				t.Fatalf("got %+v", res)
			}
			if strings.Contains(res.Message, "sk-secret") || strings.ContainsRune(res.Message, 7) {
				t.Fatalf("message leaks the key or control characters: %q", res.Message)
			}
		})
	}
	// Unreachable: status 0, a rejected-looking result is not claimed,
	// and the raw failure is kept for the log only.
	dead, _ := url.Parse("http://127.0.0.1:1")
	res := Verify(context.Background(), http.DefaultClient, dead, &catalog.Verify{Method: "GET", Path: "/me?api_key=sk-secret-123456"}, cred, "sk-secret-123456")
	if res.OK || res.Status != 0 || res.Rejected() || res.Reason != outcome.Unreachable || res.Error != outcome.Unreachable.Text() || res.Cause == nil {
		t.Fatalf("unreachable: %+v", res)
	}
	if strings.Contains(res.Cause.Error(), "sk-secret") {
		t.Fatalf("the logged cause repeats the key in the URL: %v", res.Cause)
	}
}
