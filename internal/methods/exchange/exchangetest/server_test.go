package exchangetest

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestSessionsExpireAndKeysAreChecked: only accepted keys and users get
// sessions, sessions die after SessionTTL, and every place of the token
// is honoured by the resource.
func TestSessionsExpireAndKeysAreChecked(t *testing.T) {
	var offset atomic.Int64
	start := time.Now()
	s := New(t, Options{SessionTTL: 5 * time.Second, Now: func() time.Time { return start.Add(time.Duration(offset.Load())) }})
	s.AddKey("k1")
	s.AddUser("u", "p")

	exchange := func(method, path, ctype, body string, hdr map[string]string) (int, Answer) {
		req, _ := http.NewRequest(method, s.URL+path, strings.NewReader(body))
		if ctype != "" {
			req.Header.Set("Content-Type", ctype)
		}
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var a Answer
		_ = json.NewDecoder(resp.Body).Decode(&a)
		return resp.StatusCode, a
	}
	cases := []struct {
		name, method, path, ctype, body string
		hdr                             map[string]string
		want                            int
	}{
		{"json key", "POST", "/auth/session", "application/json", `{"key":"k1"}`, nil, 200},
		{"json user", "POST", "/auth/session", "application/json", `{"username":"u","password":"p"}`, nil, 200},
		{"json wrong password", "POST", "/auth/session", "application/json", `{"username":"u","password":"x"}`, nil, 401},
		{"json not JSON", "POST", "/auth/session", "text/plain", `{"key":"k1"}`, nil, 400},
		{"form key", "POST", "/auth/form", "application/x-www-form-urlencoded", "key=k1", nil, 200},
		{"query key", "GET", "/auth/query?key=k1", "", "", nil, 200},
		{"query wrong key", "GET", "/auth/query?key=k2", "", "", nil, 401},
		{"header key", "POST", "/auth/header", "", "", map[string]string{"X-Api-Key": "k1"}, 200},
		{"header missing", "POST", "/auth/header", "", "", nil, 401},
	}
	var issued []string
	for _, c := range cases {
		code, a := exchange(c.method, c.path, c.ctype, c.body, c.hdr)
		if code != c.want {
			t.Errorf("%s: %d, want %d", c.name, code, c.want)
		}
		if code == 200 {
			if a.ExpiresIn != 5 || a.ExpiresInStr != "5" || a.Data["session"].(map[string]any)["id"] != a.Token {
				t.Errorf("%s: answer %+v", c.name, a)
			}
			issued = append(issued, a.Token)
		}
	}
	if s.Exchanges() != int64(len(issued)) || s.Refusals() != 3 {
		t.Errorf("exchanges %d refusals %d", s.Exchanges(), s.Refusals())
	}
	use := func(tok string, how int) int {
		req, _ := http.NewRequest("GET", s.ResourceURL(), nil)
		switch how {
		case 0:
			req.Header.Set("Authorization", "Bearer "+tok)
		case 1:
			req.Header.Set("X-Session-Token", tok)
		case 2:
			req.URL.RawQuery = "session_token=" + url.QueryEscape(tok)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	for how := range 3 {
		if use(issued[0], how) != 200 || use("sess_forged", how) != 401 {
			t.Errorf("placement %d not honoured", how)
		}
	}
	offset.Store(int64(5 * time.Second))
	if use(issued[0], 0) != 401 {
		t.Error("an expired session was accepted")
	}
	offset.Store(0)
	s.EndAllSessions()
	if use(issued[1], 0) != 401 {
		t.Error("an ended session was accepted")
	}
}
