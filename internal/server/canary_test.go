package server_test

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stormcreds/storm/internal/server"
	"github.com/stormcreds/storm/internal/server/servertest"
)

// TestSecretsCanary seeds known secrets, runs the API-key flows including
// their failures, and asserts the secrets appear nowhere: not in logs, not
// in any response but /access, not in any file of the data directory.
func TestSecretsCanary(t *testing.T) {
	dir := t.TempDir()
	env := servertest.Start(t, servertest.Options{DataDir: dir})
	canaries := []string{
		"canary-good-key-1f9c2e7a",
		"canary-next-key-88d0b3c4",
		"canary-bad-key-55e1aa09",
		"canary-query-key-c0ffee77",
		"canary-client-secret-4d4d",
		"canary-echo/key+9b8a7c6d",
	}
	good, next, bad, queryKey, clientSecret, echoKey := canaries[0], canaries[1], canaries[2], canaries[3], canaries[4], canaries[5]
	// Forms a provider may repeat a key in: each counts as the key.
	for _, c := range canaries {
		canaries = append(canaries, strings.ToUpper(c), url.QueryEscape(c), base64.StdEncoding.EncodeToString([]byte(c))[:16])
	}
	up := servertest.NewUpstream(t, good)
	id := env.CustomIntegration("Canary", up)
	base := "/v1/integrations/" + id

	env.Do("PUT", base+"/credentials", "", map[string]any{"api_key": bad}) // upstream echoes the key in its 401
	env.Must(200, "PUT", base+"/credentials", "", map[string]any{"api_key": good})
	env.Must(200, "POST", base+"/verify", "", nil)
	env.Do("GET", base+"/proxy/echo/a?x=1", "", nil)
	env.Do("GET", base+"/proxy/echo-key-on-401", "", nil)
	env.Do("PUT", base+"/credentials?verify=false", "", map[string]any{"api_key": next})
	env.Do("GET", base+"/proxy/echo/b", "", nil) // next is unknown upstream: 401, fallback to good
	env.Do("POST", base+"/verify", "", nil)      // fails: next rejected (and echoed)
	env.Do("PATCH", base, "", map[string]any{"config": map[string]any{
		"base_url": up.URL, "api_key": map[string]any{"in": "header", "name": "Authorization", "prefix": "Bearer "},
		"verify": map[string]any{"method": "GET", "path": "/me"}, "client_secret": clientSecret}})
	for _, c := range env.Must(200, "GET", base+"/credentials", "", nil)["credentials"].([]any) {
		env.Do("POST", base+"/credentials/"+c.(map[string]any)["id"].(string)+"/revoke", "", nil)
	}

	// A key sent in the query string to an unreachable upstream: errors
	// must not repeat the URL with the key in it.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	deadURL := "http://" + ln.Addr().String()
	ln.Close()
	q := env.Must(201, "POST", "/v1/integrations", "", map[string]any{"name": "Query canary", "provider": "custom", "auth_method": "api_key", "config": map[string]any{
		"base_url": deadURL, "api_key": map[string]any{"in": "query", "name": "api_key"}, "verify": map[string]any{"method": "GET", "path": "/me"}}})
	qbase := "/v1/integrations/" + q["id"].(string)
	env.Do("PUT", qbase+"/credentials", "", map[string]any{"api_key": queryKey})
	env.Must(200, "PUT", qbase+"/credentials?verify=false", "", map[string]any{"api_key": queryKey})
	env.Do("POST", qbase+"/verify", "", nil)
	env.Do("GET", qbase+"/proxy/anything?page=2", "", nil)
	env.Do("GET", qbase+"/access", "", nil) // allowed to reveal; excluded below

	// A provider that repeats a refused key in other forms (upper-cased,
	// URL-encoded, base64, spaced): none of them may surface either.
	echo := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		k, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		json.NewEncoder(w).Encode(map[string]any{"message": "bad key " + strings.ToUpper(k) + " " + url.QueryEscape(k) + " " +
			base64.StdEncoding.EncodeToString([]byte(k)) + " " + strings.Join(strings.SplitAfter(k, "-"), " ")})
	}))
	defer echo.Close()
	e := env.Must(201, "POST", "/v1/integrations", "", map[string]any{"name": "Echo canary", "provider": "custom", "auth_method": "api_key", "config": map[string]any{
		"base_url": echo.URL, "api_key": map[string]any{"in": "header", "name": "Authorization", "prefix": "Bearer "}, "verify": map[string]any{"method": "GET", "path": "/me"}}})
	ebase := "/v1/integrations/" + e["id"].(string)
	env.Do("PUT", ebase+"/credentials", "", map[string]any{"api_key": echoKey})
	env.Must(200, "PUT", ebase+"/credentials?verify=false", "", map[string]any{"api_key": echoKey})
	env.Do("POST", ebase+"/verify", "", nil)
	env.Do("GET", "/v1/events?integration="+e["id"].(string), "", nil)

	env.Do("GET", "/v1/events?limit=1000", "", nil)
	env.Do("GET", "/v1/audit?limit=1000", "", nil)
	env.Do("GET", "/v1/integrations", "", nil)
	env.Do("GET", base, "", nil)
	env.Do("GET", "/metrics", "", nil)

	scanned := 0
	for _, x := range env.Transcript() {
		if strings.HasSuffix(x.Path, "/access") {
			continue
		}
		scanned++
		text := string(x.Body) + fmt.Sprint(x.Header)
		for _, c := range canaries {
			if strings.Contains(text, c) {
				t.Errorf("%s %s (%d) reveals %s: %s", x.Method, x.Path, x.Status, c, x.Body)
			}
		}
	}
	for _, c := range canaries {
		if strings.Contains(env.Logs.String(), c) {
			t.Errorf("logs reveal %s", c)
		}
	}
	filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || d.Name() == server.AdminTokenFile {
			return err
		}
		b, _ := os.ReadFile(path)
		for _, c := range canaries {
			if strings.Contains(string(b), c) {
				t.Errorf("%s contains %s", path, c)
			}
		}
		return nil
	})
	// Control: the flows ran and /access did hand the key out.
	if scanned < 20 || !strings.Contains(string(env.Do("GET", qbase+"/access", "", nil).Body), queryKey) {
		t.Fatalf("the canary flows did not run as intended (%d exchanges)", scanned)
	}
}

// TestConnectLinkSecretCanary: a connect link's secret is in the answer
// that creates the link and in the person's address bar, nowhere else:
// not in logs (even of failing requests on its pages), events, audit
// records, any other API answer, any file of the data directory, and
// never sent on as a Referer.
func TestConnectLinkSecretCanary(t *testing.T) {
	dir := t.TempDir()
	env := servertest.Start(t, servertest.Options{DataDir: dir})
	up := servertest.NewUpstream(t, "canary-link-good-key")
	id := env.CustomIntegration("Linked canary", up)
	var secrets []string
	mk := func(path string, body map[string]any) (string, string) {
		r := env.Must(201, "POST", path, "", body)
		u := r["url"].(string)
		secret := strings.TrimPrefix(u, env.URL+"/connect/")
		secrets = append(secrets, secret)
		return r["id"].(string), secret
	}
	_, used := mk("/v1/integrations/"+id+"/connect", map[string]any{"return_url": "https://app.example.com/done"})
	deletedID, deleted := mk("/v1/integrations/"+id+"/connect", nil)
	_, locked := mk("/v1/integrations/"+id+"/connect", nil)
	created := len(env.Transcript())

	jar, _ := cookiejar.New(nil)
	client := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	csrfRe := regexp.MustCompile(`name="csrf" value="([^"]+)"`)
	page := func(secret string) (string, http.Header) {
		resp, err := client.Get(env.URL + "/connect/" + secret)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if rp := resp.Header.Get("Referrer-Policy"); rp != "no-referrer" {
			t.Errorf("link page Referrer-Policy %q", rp)
		}
		return string(b), resp.Header
	}
	post := func(secret string, form url.Values) int {
		body, _ := page(secret)
		if m := csrfRe.FindStringSubmatch(body); m != nil {
			form.Set("csrf", m[1])
		}
		resp, err := client.PostForm(env.URL+"/connect/"+secret+"/credentials", form)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	post(used, url.Values{"api_key": {"canary-link-wrong-key"}})
	if got := post(used, url.Values{"api_key": {"canary-link-good-key"}}); got != http.StatusSeeOther {
		t.Fatalf("connecting through the link: %d", got)
	}
	page(used) // 410
	env.Must(204, "DELETE", "/v1/connect/"+deletedID, "", nil)
	page(deleted) // 410
	for i := range 10 {
		post(locked, url.Values{"api_key": {fmt.Sprint("canary-wrong-", i)}})
	}
	// Failing requests on link pages: malformed forms and uploads.
	for _, s := range []string{used, locked, deleted} {
		resp, err := client.Post(env.URL+"/connect/"+s+"/credentials", "multipart/form-data; boundary=x", strings.NewReader("--x\r\nbroken"))
		if err == nil {
			resp.Body.Close()
		}
	}
	env.Do("GET", "/v1/events?limit=1000", "", nil)
	env.Do("GET", "/v1/audit?limit=1000", "", nil)
	env.Do("GET", "/v1/integrations/"+id+"/connect", "", nil)
	env.Do("GET", "/v1/connect?limit=1000", "", nil)
	env.Do("GET", "/v1/connect/"+deletedID, "", nil)

	for i, x := range env.Transcript() {
		if i >= created-3 && i < created {
			continue // the three creations: the one answer that holds a URL
		}
		text := string(x.Body) + fmt.Sprint(x.Header)
		for _, s := range secrets {
			if strings.Contains(text, s) {
				t.Errorf("%s %s (%d) reveals a link secret: %s", x.Method, x.Path, x.Status, x.Body)
			}
		}
	}
	for _, s := range secrets {
		if strings.Contains(env.Logs.String(), s) {
			t.Errorf("logs reveal a link secret")
		}
	}
	env.Server.Close() // checkpoint SQLite's WAL into the file
	filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, _ := os.ReadFile(path)
		for _, s := range secrets {
			if strings.Contains(string(b), s) {
				t.Errorf("%s contains a link secret", path)
			}
		}
		return nil
	})
	if n := strings.Count(env.Logs.String(), "connect link locked"); n != 1 {
		t.Errorf("the lock was logged %d times, want 1", n)
	}
}
