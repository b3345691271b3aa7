package connect_test

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stormcreds/storm/internal/connect"
	"github.com/stormcreds/storm/internal/creds"
	"github.com/stormcreds/storm/internal/events"
	"github.com/stormcreds/storm/internal/oauth/oauthtest"
	"github.com/stormcreds/storm/internal/server/servertest"
	"github.com/stormcreds/storm/internal/store"
	"github.com/stormcreds/storm/internal/store/postgres"
)

func TestCheckReturnURL(t *testing.T) {
	for raw, ok := range map[string]bool{
		"":                                     true,
		"https://app.example.com/done?x=1":     true,
		"https://app.example.com":              true,
		"http://localhost:3000/cb":             true,
		"http://127.0.0.1:9/cb":                true,
		"http://127.8.9.10/cb":                 true,
		"http://[::1]:8080/":                   true,
		"http://app.example.com/cb":            false,
		"http://localhost.example.com/cb":      false,
		"https://user@app.example.com/":        false,
		"https://app.example.com/#x":           false,
		"https://app.example.com/a b":          false,
		"https://app.example.com/a\\b":         false,
		"javascript:alert(1)":                  false,
		"data:text/html,hi":                    false,
		"//app.example.com/x":                  false,
		"/relative":                            false,
		"ftp://app.example.com/":               false,
		"https://" + strings.Repeat("a", 3000): false,
	} {
		if err := connect.CheckReturnURL(raw); (err == nil) != ok {
			t.Errorf("CheckReturnURL(%.60q) = %v, want ok %v", raw, err, ok)
		}
	}
}

func TestReturnURLKeepsItsQuery(t *testing.T) {
	l := store.ConnectLink{ReturnURL: "https://app.example.com/done?tab=a&status=old"}
	got := connect.ReturnURL(l, "int_1", "connected")
	u, _ := url.Parse(got)
	if q := u.Query(); q.Get("tab") != "a" || q.Get("integration") != "int_1" || q.Get("status") != "connected" || len(q["status"]) != 1 {
		t.Fatalf("ReturnURL = %s", got)
	}
	if connect.ReturnURL(store.ConnectLink{}, "int_1", "connected") != "" {
		t.Fatal("a link without return_url has one")
	}
}

// backends runs f against a SQLite and a PostgreSQL backed server.
func backends(t *testing.T, f func(t *testing.T, env *servertest.Env)) {
	t.Run("sqlite", func(t *testing.T) { f(t, servertest.Start(t, servertest.Options{NoBackground: true})) })
	t.Run("postgres", func(t *testing.T) {
		f(t, servertest.Start(t, servertest.Options{NoBackground: true, Database: postgres.TestURL(t)}))
	})
}

// makeLink creates a link to integration id as the admin and opens it.
func makeLink(t *testing.T, env *servertest.Env, id string) store.ConnectLink {
	t.Helper()
	integ, err := env.Server.Store.GetIntegration(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	made, err := env.Server.Connect.Create(t.Context(), events.Actor{TokenID: "tok_admin"}, integ, connect.Input{})
	if err != nil {
		t.Fatal(err)
	}
	l, err := env.Server.Connect.Open(t.Context(), strings.TrimPrefix(made.URL, env.URL+connect.Path))
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// TestConcurrentSavesSpendALinkOnce: many attempts racing through one link
// (on several goroutines, as many browsers would) connect the integration
// once: one version is stored, one connect.completed is emitted, and
// every other attempt is refused as busy or spent.
func TestConcurrentSavesSpendALinkOnce(t *testing.T) { backends(t, testConcurrentSaves) }

func testConcurrentSaves(t *testing.T, env *servertest.Env) {
	const key = "race-key-0123456789"
	up := servertest.NewUpstream(t, key)
	id := env.CustomIntegration("Raced", up)
	l := makeLink(t, env, id)
	const workers = 16
	var ok, refused atomic.Int32
	var wg sync.WaitGroup
	start := make(chan struct{})
	for range workers {
		wg.Go(func() {
			<-start
			_, err := env.Server.Connect.Save(context.Background(), l, "127.0.0.1", connect.Choice{}, creds.SaveInput{APIKey: key})
			var lr *creds.LinkRefused
			switch {
			case err == nil:
				ok.Add(1)
			case errors.As(err, &lr):
				refused.Add(1)
			default:
				t.Errorf("Save: %v", err)
			}
		})
	}
	close(start)
	wg.Wait()
	if ok.Load() != 1 || refused.Load() != workers-1 {
		t.Fatalf("%d connected, %d refused; want 1 and %d", ok.Load(), refused.Load(), workers-1)
	}
	list, err := env.Server.Store.ListCredentials(t.Context(), id)
	if err != nil || len(list) != 1 {
		t.Fatalf("versions %d (%v), want 1", len(list), err)
	}
	got, err := env.Server.Connect.Get(t.Context(), l.ID)
	if err != nil || got.UsedAt.IsZero() || !got.ClaimedUntil.IsZero() || got.Failures != 0 {
		t.Fatalf("link after the race: %+v %v", got, err)
	}
	evs, _ := env.Server.Store.ListEvents(t.Context(), store.Page{WorkspaceID: l.WorkspaceID, IntegrationID: id, Limit: 1000})
	n := 0
	for _, e := range evs {
		if e.Type == events.ConnectCompleted {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("connect.completed %d times", n)
	}
}

// TestConcurrentCallbacksSpendALinkOnce: two authorizations started
// from one link and approved, whose callbacks arrive at once: exactly one
// completes; the other is refused and stores nothing.
func TestConcurrentCallbacksSpendALinkOnce(t *testing.T) {
	as := oauthtest.New(t, oauthtest.Options{AutoApprove: true})
	env := servertest.Start(t, servertest.Options{NoBackground: true})
	as.AddRedirectURI(oauthtest.DefaultClientID, env.URL+"/oauth/callback")
	id := env.Must(201, "POST", "/v1/integrations", "", map[string]any{"name": "Two tabs", "provider": "custom", "auth_method": "oauth2",
		"config": map[string]any{"base_url": as.URL, "oauth2": map[string]any{"issuer": as.Issuer, "client_id": oauthtest.DefaultClientID,
			"client_secret": oauthtest.DefaultClientSecret, "scopes": []string{"offline"}}}})["id"].(string)
	l := makeLink(t, env, id)
	var callbacks []*http.Request
	for i := range 2 {
		binding := []byte{byte('a' + i), 'x', 'y', 'z'}
		u, err := env.Server.Connect.Authorize(t.Context(), l, "127.0.0.1", connect.Choice{}, binding)
		if err != nil {
			t.Fatal(err)
		}
		back, err := as.Approve(t.Context(), u)
		if err != nil {
			t.Fatal(err)
		}
		req, _ := http.NewRequest("GET", back.String(), nil)
		req.AddCookie(&http.Cookie{Name: "storm_oauth_binding", Value: string(binding)})
		callbacks = append(callbacks, req)
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	var wg sync.WaitGroup
	locations := make([]string, 2)
	for i, req := range callbacks {
		wg.Go(func() {
			resp, err := client.Do(req)
			if err != nil {
				t.Error(err)
				return
			}
			resp.Body.Close()
			locations[i] = resp.Header.Get("Location")
		})
	}
	wg.Wait()
	for i, loc := range locations {
		if loc != connect.ReturnPath {
			t.Fatalf("callback %d went to %q", i, loc)
		}
	}
	list, err := env.Server.Store.ListCredentials(t.Context(), id)
	if err != nil || len(list) != 1 {
		t.Fatalf("versions %d (%v), want exactly 1", len(list), err)
	}
	got, _ := env.Server.Connect.Get(t.Context(), l.ID)
	if got.UsedAt.IsZero() {
		t.Fatal("the link is not spent")
	}
}

// TestOpenChangesNothing: opening a link (as often as one likes) neither
// spends nor counts anything, and an expired link is gone however it is
// asked.
func TestOpenChangesNothing(t *testing.T) {
	env := servertest.Start(t, servertest.Options{NoBackground: true})
	up := servertest.NewUpstream(t, "k")
	id := env.CustomIntegration("Opened", up)
	integ, _ := env.Server.Store.GetIntegration(t.Context(), id)
	made, err := env.Server.Connect.Create(t.Context(), events.Actor{TokenID: "tok_admin"}, integ, connect.Input{ExpiresIn: "1s"})
	if err != nil {
		t.Fatal(err)
	}
	secret := strings.TrimPrefix(made.URL, env.URL+connect.Path)
	for range 20 {
		if _, err := env.Server.Connect.Open(t.Context(), secret); err != nil {
			t.Fatal(err)
		}
	}
	got, _ := env.Server.Connect.Get(t.Context(), made.Link.ID)
	if got.Revision != 1 || got.Failures != 0 {
		t.Fatalf("opening changed the link: %+v", got)
	}
	time.Sleep(1100 * time.Millisecond)
	var g *connect.Gone
	if _, err := env.Server.Connect.Open(t.Context(), secret); !errors.As(err, &g) || g.Reason != connect.Expired {
		t.Fatalf("expired link: %v", err)
	}
	if _, err := env.Server.Connect.Claim(t.Context(), made.Link.ID); err == nil {
		t.Fatal("an expired link was claimed")
	}
	if _, err := env.Server.Connect.Open(t.Context(), secret[:len(secret)-1]); !errors.Is(err, connect.ErrUnknown) {
		t.Fatalf("a truncated secret: %v", err)
	}
}
