package web_test

import (
	"encoding/base64"
	"encoding/json"
	"html"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/stormcreds/storm/internal/server/servertest"
)

// echoKey holds characters that URL-encode ("+", "/", "=") so its forms
// differ from it.
const echoKey = "sk_live_4f9Qz7+/Wm2xKp8=Lr5Tn3Hb"

// echoForms are the ways a provider repeats a key it refuses.
var echoForms = map[string]func(string) string{
	"url-encoded": url.QueryEscape,
	"upper-cased": strings.ToUpper,
	"truncated":   func(k string) string { return k[:12] },
	"base64":      func(k string) string { return base64.StdEncoding.EncodeToString([]byte(k)) },
	"spaced": func(k string) string {
		var b strings.Builder
		for i, r := range k {
			if i > 0 && i%4 == 0 {
				b.WriteByte(' ')
			}
			b.WriteRune(r)
		}
		return b.String()
	},
}

// TestEchoedSecretFormsScrubbed: a provider that refuses a key and
// repeats it URL-encoded, upper-cased, truncated, base64-encoded or
// spaced out gets none of those forms into the refused Save's answer,
// the verify answer, the events or the integration page's activity; the
// rest of its message is kept, bounded.
func TestEchoedSecretFormsScrubbed(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		key, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		form := echoForms[r.URL.Query().Get("form")]
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		json.NewEncoder(w).Encode(map[string]any{"error": map[string]any{
			"message": "Invalid key " + form(key) + " given. " + strings.Repeat("See the docs. ", 40)}})
	}))
	defer up.Close()
	env := servertest.Start(t, servertest.Options{})
	b := newBrowser(t, env)
	b.signIn(env.AdminToken)
	for name := range echoForms {
		t.Run(name, func(t *testing.T) {
			id := env.Must(201, "POST", "/v1/integrations", "", map[string]any{"name": "Echo " + name, "provider": "custom", "auth_method": "api_key",
				"config": map[string]any{"base_url": up.URL, "api_key": map[string]any{"in": "header", "name": "Authorization", "prefix": "Bearer "},
					"verify": map[string]any{"method": "GET", "path": "/me?form=" + name}}})["id"].(string)
			base := "/v1/integrations/" + id
			refused := env.Do("PUT", base+"/credentials", "", map[string]any{"api_key": echoKey})
			env.Must(200, "PUT", base+"/credentials?verify=false", "", map[string]any{"api_key": echoKey})
			verified := env.Do("POST", base+"/verify", "", nil)
			events := env.Do("GET", "/v1/events?integration="+id, "", nil)
			page := b.get("/integrations/" + id)
			texts := map[string]string{"refused save": string(refused.Body), "verify": string(verified.Body),
				"events": string(events.Body), "page": html.UnescapeString(page.Body)}
			for where, text := range texts {
				if piece := pieceOfAnyForm(text, echoKey); piece != "" {
					t.Errorf("%s shows %q of the key: %.600s", where, piece, text)
				}
			}
			// Control: the provider's words arrived, scrubbed and bounded.
			msg, _ := verified.JSON(t)["provider_message"].(string)
			if refused.Status != 422 || !strings.HasPrefix(msg, "Invalid key [redacted] given.") || len([]rune(msg)) > 201 ||
				!strings.Contains(texts["page"], "Invalid key [redacted] given.") {
				t.Fatalf("refused %d, provider_message %q, page activity present: %v", refused.Status, msg,
					strings.Contains(texts["page"], "Invalid key [redacted]"))
			}
		})
	}
}

// pieceOfAnyForm returns 8 characters of the key, or of one of its
// echoed forms, found in text in any case and ignoring whitespace.
func pieceOfAnyForm(text, key string) string {
	probe := strings.ToLower(strings.Join(strings.Fields(text), ""))
	for _, form := range echoForms {
		f := strings.ToLower(strings.Join(strings.Fields(form(key)), ""))
		for i := 0; i+8 <= len(f); i++ {
			if strings.Contains(probe, f[i:i+8]) {
				return f[i : i+8]
			}
		}
	}
	return ""
}

// TestVerifyResultShowsReason: the Verify button's result says "Not
// checked" when there is no verify request (never "Working"), and an
// unreachable provider's fixed text without the resolver's words.
func TestVerifyResultShowsReason(t *testing.T) {
	env := servertest.Start(t, servertest.Options{})
	b := newBrowser(t, env)
	b.signIn(env.AdminToken)
	create := func(name, baseURL string, verify map[string]any) string {
		cfg := map[string]any{"base_url": baseURL, "api_key": map[string]any{"in": "header", "name": "Authorization", "prefix": "Bearer "}}
		if verify != nil {
			cfg["verify"] = verify
		}
		id := env.Must(201, "POST", "/v1/integrations", "", map[string]any{"name": name, "provider": "custom", "auth_method": "api_key", "config": cfg})["id"].(string)
		env.Must(200, "PUT", "/v1/integrations/"+id+"/credentials?verify=false", "", map[string]any{"api_key": "key-ui-0123456789"})
		return id
	}
	verify := func(id string) string {
		page := "/integrations/" + id
		if p := b.post(page+"/verify", url.Values{}, page); p.Status != http.StatusSeeOther {
			t.Fatalf("verify: %d %.300s", p.Status, text(p.Body))
		}
		return text(b.get(page).Body)
	}
	got := verify(create("Unchecked", "http://127.0.0.1:9", nil))
	if !strings.Contains(got, "Not checked") || strings.Contains(got, "Working") || strings.Contains(got, "Verified:") {
		t.Fatalf("no verify request: %.2000s", got)
	}
	got = verify(create("Unreachable", "http://storm-ui-unresolvable.invalid", map[string]any{"method": "GET", "path": "/me"}))
	if !strings.Contains(got, "Not working") || !strings.Contains(got, "the provider could not be reached") ||
		strings.Contains(got, "lookup") || strings.Contains(got, "no such host") {
		t.Fatalf("unreachable: %.3000s", got)
	}
}
