package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// fakeAPI imitates the transport of the Storm API (API.md paths, status
// codes and JSON shapes) with canned answers; it has no logic of its own.
type fakeAPI struct {
	srv *httptest.Server

	mu     sync.Mutex
	routes map[string]reply // "METHOD /escaped/path"
	reqs   []seenReq
}

type reply struct {
	status int
	ctype  string
	body   string
}

type seenReq struct {
	Method, RequestURI, Auth, ContentType string
	Body                                  []byte
}

const problem = "application/problem+json"

func jsonReply(status int, body string) reply { return reply{status, "application/json", body} }

const integrationJSON = `{"id":"int_1","workspace":"default","name":"GitHub acme","provider":"github","auth_method":"api_key","config":{"org":"acme"},"status":"connected","status_reason":"","created_at":"2026-01-02T03:04:05Z","updated_at":"2026-01-02T03:04:05Z","last_verified_at":"2026-01-03T00:00:00Z"}`
const versionJSON = `{"id":"cred_2","version":2,"state":"active","hint":"sk_…4f2a","created_at":"2026-01-02T03:04:05Z","fingerprint":"fp12"}`

func newFakeAPI(t *testing.T) *fakeAPI {
	t.Helper()
	f := &fakeAPI{routes: map[string]reply{
		"GET /healthz":                                          jsonReply(200, `{"status":"ok"}`),
		"GET /readyz":                                           jsonReply(200, `{"status":"ok"}`),
		"GET /v1/providers":                                     jsonReply(200, `{"providers":[{"name":"github","display_name":"GitHub","auth_methods":["api_key","oauth2"],"base_url":"https://api.github.com","docs_url":"https://docs.github.com"},{"name":"stripe","display_name":"Stripe","auth_methods":["api_key"],"base_url":"https://api.stripe.com","docs_url":""}]}`),
		"GET /v1/providers/stripe":                              jsonReply(200, `{"name":"stripe","display_name":"Stripe","auth_methods":["api_key"],"base_url":"https://api.stripe.com","api_key":{"in":"basic"}}`),
		"GET /v1/providers/github":                              jsonReply(200, `{"name":"github","display_name":"GitHub","auth_methods":["api_key","oauth2"],"base_url":"https://api.github.com"}`),
		"GET /v1/workspaces":                                    jsonReply(200, `{"workspaces":[{"id":"ws_1","name":"default","created_at":"2026-01-01T00:00:00Z"}]}`),
		"POST /v1/workspaces":                                   jsonReply(201, `{"id":"ws_2","name":"acme","created_at":"2026-01-01T00:00:00Z"}`),
		"POST /v1/tokens":                                       jsonReply(201, `{"id":"tok_1","token":"stk_ONE_TIME","role":"worker","workspace":"acme"}`),
		"DELETE /v1/tokens/tok_1":                               {204, "", ""},
		"GET /v1/tokens":                                        jsonReply(200, `{"tokens":[{"id":"tok_1","name":"sync","role":"worker","workspace":"ws_2","workspace_name":"acme","created_at":"2026-01-01T00:00:00Z","last_used_at":null}]}`),
		"GET /v1/integrations":                                  jsonReply(200, `{"integrations":[`+integrationJSON+`]}`),
		"POST /v1/integrations":                                 jsonReply(201, integrationJSON),
		"GET /v1/integrations/int_1":                            jsonReply(200, integrationJSON),
		"PATCH /v1/integrations/int_1":                          {204, "", ""},
		"DELETE /v1/integrations/int_1":                         {204, "", ""},
		"GET /v1/integrations/int_sa":                           jsonReply(200, `{"id":"int_sa","name":"GCP","auth_method":"service_account","status":"pending"}`),
		"GET /v1/integrations/int_oauth":                        jsonReply(200, `{"id":"int_oauth","name":"Google","auth_method":"oauth2","status":"pending"}`),
		"PUT /v1/integrations/int_1/credentials":                jsonReply(200, versionJSON),
		"PUT /v1/integrations/int_sa/credentials":               jsonReply(200, versionJSON),
		"GET /v1/integrations/int_1/credentials":                jsonReply(200, `{"credentials":[`+versionJSON+`]}`),
		"POST /v1/integrations/int_1/credentials/cred_2/revoke": jsonReply(200, `{"id":"cred_2","version":2,"state":"revoked"}`),
		"POST /v1/integrations/int_1/verify":                    jsonReply(200, `{"ok":true,"status":200,"latency_ms":42}`),
		"GET /v1/integrations/int_1/access":                     jsonReply(200, `{"type":"api_key","api_key":"sk_live_SECRET","in":"header","name":"Authorization","prefix":"Bearer "}`),
		"POST /v1/integrations/int_1/authorize":                 jsonReply(200, `{"authorize_url":"https://github.com/login/oauth/authorize?state=s"}`),
		"GET /v1/events":                                        jsonReply(200, `{"events":[{"id":"evt_1","type":"credential.saved","integration":"int_1","workspace":"default","at":"2026-01-02T03:04:05Z","data":{"version":2}}]}`),
		"GET /v1/audit":                                         jsonReply(200, `{"audit":[{"id":"aud_1","actor":"tok_admin","action":"integration.create","target":"int_1","at":"2026-01-02T03:04:05Z","ip":"127.0.0.1"}]}`),
		"POST /v1/webhooks":                                     jsonReply(201, `{"id":"wh_1","secret":"whsec_ONE_TIME"}`),
		"GET /v1/integrations/int_1/proxy/user":                 jsonReply(200, `{"login":"octocat"}`),
		"GET /v1/integrations/int_1/proxy/missing":              jsonReply(404, `{"message":"Not Found"}`),
		"POST /v1/integrations/int_1/proxy/repos/acme/x/issues": jsonReply(201, `{"number":1}`),
	}}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		key := r.Method + " " + r.URL.EscapedPath()
		f.mu.Lock()
		f.reqs = append(f.reqs, seenReq{r.Method, r.RequestURI, r.Header.Get("Authorization"), r.Header.Get("Content-Type"), b})
		rep, ok := f.routes[key]
		f.mu.Unlock()
		if !ok {
			rep = reply{404, problem, `{"title":"Not Found","status":404,"detail":"no route ` + key + `"}`}
		}
		if rep.ctype != "" {
			w.Header().Set("Content-Type", rep.ctype)
		}
		w.WriteHeader(rep.status)
		io.WriteString(w, rep.body)
	}))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeAPI) set(key string, r reply) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.routes[key] = r
}

func (f *fakeAPI) requests() []seenReq {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]seenReq(nil), f.reqs...)
}

// find returns the last request with the given method and path prefix.
func (f *fakeAPI) find(t *testing.T, method, uriPrefix string) seenReq {
	t.Helper()
	reqs := f.requests()
	for i := len(reqs) - 1; i >= 0; i-- {
		if reqs[i].Method == method && strings.HasPrefix(reqs[i].RequestURI, uriPrefix) {
			return reqs[i]
		}
	}
	t.Fatalf("no %s %s request among %v", method, uriPrefix, reqs)
	return seenReq{}
}

// invocation is one CLI run with its own environment and streams.
type invocation struct {
	env    map[string]string
	stdin  io.Reader
	tty    bool   // stdin is a terminal
	typed  string // what the user types at a no-echo prompt
	stdout bytes.Buffer
	stderr bytes.Buffer
}

// fdReader is a stdin with a file descriptor, as a terminal has.
type fdReader struct{ io.Reader }

func (fdReader) Fd() uintptr { return 42 }

func (r *invocation) exec(args ...string) error {
	c := &cli{
		stdin:  r.stdin,
		stdout: &r.stdout,
		stderr: &r.stderr,
		getenv: func(k string) string { return r.env[k] },
		isTerminal: func(fd int) bool {
			return r.tty && fd == 42
		},
		readPassword: func(fd int) ([]byte, error) { return []byte(r.typed), nil },
	}
	if c.stdin == nil {
		c.stdin = strings.NewReader("")
	}
	return c.main(context.Background(), args)
}

// storm runs the CLI against f with a token in the environment.
func storm(t *testing.T, f *fakeAPI, stdin string, args ...string) (*invocation, error) {
	t.Helper()
	r := &invocation{env: map[string]string{"STORM_SERVER": f.srv.URL, "STORM_TOKEN": "stk_env"}, stdin: strings.NewReader(stdin)}
	return r, r.exec(args...)
}

func TestUsageErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{nil, []string{"missing command", "integrations", "credentials", "proxy"}},
		{[]string{"frobnicate"}, []string{`unknown command "frobnicate"`, "providers", "workspaces", "tokens", "verify", "access", "events", "audit"}},
		{[]string{"--bogus"}, []string{"unknown flag --bogus", `(see "storm help")`}},
		{[]string{"intgrations"}, []string{`unknown command "intgrations"; did you mean integrations?`}},
		{[]string{"integrations", "lsit"}, []string{`unknown subcommand "lsit"; did you mean list?`}},
		{[]string{"integrations", "list", "--worksapce", "acme"}, []string{"integrations list: unknown flag --worksapce; did you mean --workspace?", `(see "storm help integrations list")`}},
		{[]string{"serve", "--bogus"}, []string{"serve: unknown flag --bogus", `(see "storm help serve")`}},
		{[]string{"backup", "--outt", "x"}, []string{"backup: unknown flag --outt; did you mean --out?"}},
		{[]string{"restore", "--key", "x"}, []string{"restore: unknown flag --key; did you mean --key-file?"}},
		{[]string{"events", "--integration"}, []string{"events: flag --integration needs a value"}},
		{[]string{"integrations", "bogus"}, []string{`integrations: unknown subcommand "bogus"`, "storm integrations list|show|create|update|delete"}},
		{[]string{"integrations", "show"}, []string{"integrations show: missing ID", "(usage: storm integrations show ID [--json])"}},
		{[]string{"integrations", "show", "int_1", "int_2"}, []string{`unexpected argument "int_2"`}},
		{[]string{"integrations", "list", "--bogus"}, []string{"integrations list: unknown flag --bogus", `(see "storm help integrations list")`}},
		{[]string{"integrations", "create", "--name", "x"}, []string{"--provider is required"}},
		{[]string{"integrations", "create", "--provider", "stripe", "--name", "x", "--config", "no-equals-SECRET"}, []string{"--config wants KEY=VALUE"}},
		{[]string{"integrations", "create", "--provider", "stripe", "--name", "x", "--config-json", "[1]"}, []string{"--config-json must be a JSON object"}},
		{[]string{"integrations", "update", "int_1"}, []string{"nothing to update"}},
		{[]string{"tokens", "create", "--name", "x", "--role", "admin", "--workspace", "acme"}, []string{"an admin token spans every workspace", "--role editor"}},
		{[]string{"tokens", "create", "--name", "x"}, []string{"--role is required"}},
		{[]string{"tokens", "create", "--name", "x", "--role", "god"}, []string{"--role must be one of admin, editor, worker, viewer"}},
		{[]string{"tokens", "delete"}, []string{"tokens delete: missing ID"}},
		{[]string{"credentials", "revoke", "int_1"}, []string{"missing CRED_ID"}},
		{[]string{"proxy", "int_1", "GET"}, []string{"proxy: missing PATH", "usage: storm proxy ID METHOD PATH"}},
		{[]string{"proxy", "int_1", "GET", "/x", "--header", "nocolon"}, []string{"--header wants 'NAME: VALUE'"}},
		{[]string{"events", "--limit", "-1"}, []string{"--limit must not be negative"}},
		{[]string{"events", "--limit", "many"}, []string{`invalid value "many" for flag -limit`}},
		{[]string{"help", "nope"}, []string{`unknown command "nope"`}},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			f := newFakeAPI(t)
			r, err := storm(t, f, "", tc.args...)
			if err == nil {
				t.Fatalf("no error; stdout %q", r.stdout.String())
			}
			msg := err.Error()
			for _, w := range tc.want {
				if !strings.Contains(msg, w) {
					t.Errorf("error %q\nlacks %q", msg, w)
				}
			}
			if strings.ContainsAny(msg, "\r\n") {
				t.Errorf("error is not one line: %q", msg)
			}
			if strings.Contains(msg, "SECRET") {
				t.Errorf("error repeats a secret: %q", msg)
			}
			if n := len(f.requests()); n != 0 {
				t.Errorf("usage error still sent %d requests", n)
			}
		})
	}
}

func TestHelpNeedsNoServerOrToken(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"help"}, "usage: storm [global flags] COMMAND [ARGS]"},
		{[]string{"-h"}, "commands:"},
		{[]string{"--help"}, "--data-dir DIR"},
		{[]string{"integrations", "-h"}, "storm integrations update ID"},
		{[]string{"help", "integrations"}, "storm integrations create --provider P --name N"},
		{[]string{"help", "integrations", "create"}, "--config-json JSON"},
		{[]string{"integrations", "create", "-h"}, "--auth-method"},
		{[]string{"credentials", "save", "--help"}, "never taken from the command line"},
		{[]string{"verify", "-h"}, "usage: storm verify ID"},
		{[]string{"help", "proxy"}, "--data @FILE|-|TEXT"},
		{[]string{"help", "serve"}, "--kek-url"},
		{[]string{"serve", "-h"}, "usage: storm serve [flags]"},
		{[]string{"help", "backup"}, "--out file"},
		{[]string{"help", "restore"}, "--key-file file"},
		{[]string{"restore", "--help"}, "never creates a key"},
		{[]string{"help", "credentials"}, `"storm credentials ID" runs "credentials list ID"`},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			// No token and no server anywhere: help must not need them.
			r := &invocation{env: map[string]string{"STORM_DATA_DIR": t.TempDir()}}
			if err := r.exec(tc.args...); err != nil {
				t.Fatalf("err = %v", err)
			}
			if !strings.Contains(r.stdout.String(), tc.want) {
				t.Errorf("help lacks %q:\n%s", tc.want, r.stdout.String())
			}
		})
	}
}

func TestFlagsBeforeAndAfterArguments(t *testing.T) {
	f := newFakeAPI(t)
	r := &invocation{env: map[string]string{}}
	// Global flags before the command, a command flag before the argument.
	if err := r.exec("--server", f.srv.URL, "--token", "stk_flag", "integrations", "show", "--json", "int_1"); err != nil {
		t.Fatal(err)
	}
	var in map[string]any
	if err := json.Unmarshal(r.stdout.Bytes(), &in); err != nil || in["id"] != "int_1" {
		t.Errorf("--json output %q: %v", r.stdout.String(), err)
	}
	// Global flags after the command.
	r = &invocation{env: map[string]string{}}
	if err := r.exec("integrations", "list", "--workspace", "acme", "--server", f.srv.URL, "--token", "stk_flag"); err != nil {
		t.Fatal(err)
	}
	if got := f.find(t, "GET", "/v1/integrations?").RequestURI; got != "/v1/integrations?limit=1000&workspace=acme" {
		t.Errorf("request %q", got)
	}
	// "--" ends the flags.
	r, _ = storm(t, f, "", "integrations", "show", "--", "-odd-id")
	f.find(t, "GET", "/v1/integrations/-odd-id")
	// Without a subcommand, list runs, with its flags.
	if r, err := storm(t, f, "", "integrations", "--json"); err != nil || !strings.Contains(r.stdout.String(), `"integrations"`) {
		t.Errorf("integrations --json: %v %q", err, r.stdout.String())
	}
}

func TestTokenDiscovery(t *testing.T) {
	f := newFakeAPI(t)
	writeToken := func(dir, token string) string {
		if err := os.WriteFile(filepath.Join(dir, "admin.token"), []byte(token), 0o600); err != nil {
			t.Fatal(err)
		}
		return dir
	}
	flagDir := writeToken(t.TempDir(), "stk_flagdir\n")
	envDir := writeToken(t.TempDir(), "  stk_envdir \n")
	emptyDir := writeToken(t.TempDir(), "\n")
	missingDir := t.TempDir()

	for _, tc := range []struct {
		name    string
		env     map[string]string
		args    []string
		auth    string
		wantErr []string
	}{
		{"flag beats all", map[string]string{"STORM_TOKEN": "stk_env", "STORM_DATA_DIR": envDir}, []string{"--token", "stk_flag"}, "Bearer stk_flag", nil},
		{"env beats file", map[string]string{"STORM_TOKEN": "stk_env", "STORM_DATA_DIR": envDir}, nil, "Bearer stk_env", nil},
		{"file from STORM_DATA_DIR", map[string]string{"STORM_DATA_DIR": envDir}, nil, "Bearer stk_envdir", nil},
		{"--data-dir beats STORM_DATA_DIR", map[string]string{"STORM_DATA_DIR": envDir}, []string{"--data-dir", flagDir}, "Bearer stk_flagdir", nil},
		{"missing file", map[string]string{"STORM_DATA_DIR": missingDir}, nil, "",
			[]string{"no API token", "STORM_TOKEN", filepath.Join(missingDir, "admin.token")}},
		{"empty file", map[string]string{"STORM_DATA_DIR": emptyDir}, nil, "", []string{"is empty", "STORM_TOKEN"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.env["STORM_SERVER"] = f.srv.URL
			r := &invocation{env: tc.env}
			before := len(f.requests())
			err := r.exec(append(tc.args, "providers")...)
			if tc.wantErr != nil {
				if err == nil {
					t.Fatal("no error")
				}
				for _, w := range tc.wantErr {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("error %q lacks %q", err, w)
					}
				}
				if len(f.requests()) != before {
					t.Error("request sent without a token")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := f.find(t, "GET", "/v1/providers").Auth; got != tc.auth {
				t.Errorf("Authorization = %q, want %q", got, tc.auth)
			}
		})
	}

	t.Run("default ./storm-data", func(t *testing.T) {
		dir := t.TempDir()
		os.Mkdir(filepath.Join(dir, "storm-data"), 0o700)
		writeToken(filepath.Join(dir, "storm-data"), "stk_cwd")
		t.Chdir(dir)
		r := &invocation{env: map[string]string{"STORM_SERVER": f.srv.URL}}
		if err := r.exec("providers"); err != nil {
			t.Fatal(err)
		}
		if got := f.find(t, "GET", "/v1/providers").Auth; got != "Bearer stk_cwd" {
			t.Errorf("Authorization = %q", got)
		}
	})
}

func TestSaveReadsSecretFromStdinNeverArgv(t *testing.T) {
	for _, tc := range []struct {
		name, stdin string
		args        []string
		wantKey     string
		wantURI     string
	}{
		{"trailing newline dropped", "sk_live_abc\n", nil, "sk_live_abc", "/v1/integrations/int_1/credentials"},
		{"CRLF dropped", "sk_live_abc\r\n", nil, "sk_live_abc", "/v1/integrations/int_1/credentials"},
		{"only one newline dropped", "sk_live_abc\n\n", nil, "sk_live_abc\n", "/v1/integrations/int_1/credentials"},
		{"no newline", "sk_live_abc", nil, "sk_live_abc", "/v1/integrations/int_1/credentials"},
		{"--no-verify", "sk_live_abc\n", []string{"--no-verify"}, "sk_live_abc", "/v1/integrations/int_1/credentials?verify=false"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeAPI(t)
			r, err := storm(t, f, tc.stdin, append([]string{"credentials", "save", "int_1"}, tc.args...)...)
			if err != nil {
				t.Fatal(err)
			}
			put := f.find(t, "PUT", "/v1/integrations/int_1/credentials")
			var body map[string]string
			json.Unmarshal(put.Body, &body)
			if body["api_key"] != tc.wantKey || len(body) != 1 || put.RequestURI != tc.wantURI {
				t.Errorf("sent %s %s", put.RequestURI, put.Body)
			}
			if strings.Contains(r.stdout.String()+r.stderr.String(), "sk_live_abc") {
				t.Error("the secret was printed")
			}
			if !strings.Contains(r.stdout.String(), "sk_…4f2a") {
				t.Errorf("saved version not shown: %q", r.stdout.String())
			}
		})
	}

	t.Run("secret as an argument is refused before any request", func(t *testing.T) {
		f := newFakeAPI(t)
		_, err := storm(t, f, "", "credentials", "save", "int_1", "sk_live_ARGV")
		if err == nil || !strings.Contains(err.Error(), "never from the command line") {
			t.Fatalf("err = %v", err)
		}
		if strings.Contains(err.Error(), "sk_live_ARGV") {
			t.Errorf("error repeats the secret: %v", err)
		}
		if n := len(f.requests()); n != 0 {
			t.Errorf("%d requests sent", n)
		}
	})

	t.Run("empty stdin saves nothing", func(t *testing.T) {
		f := newFakeAPI(t)
		_, err := storm(t, f, "\n", "credentials", "save", "int_1")
		if err == nil || !strings.Contains(err.Error(), "no secret") {
			t.Fatalf("err = %v", err)
		}
		for _, r := range f.requests() {
			if r.Method == "PUT" {
				t.Error("PUT sent for an empty secret")
			}
		}
	})

	t.Run("terminal prompts without echo", func(t *testing.T) {
		f := newFakeAPI(t)
		r := &invocation{
			env:   map[string]string{"STORM_SERVER": f.srv.URL, "STORM_TOKEN": "stk_env"},
			stdin: fdReader{strings.NewReader("must not be read")},
			tty:   true, typed: "sk_typed_SECRET",
		}
		if err := r.exec("credentials", "save", "int_1"); err != nil {
			t.Fatal(err)
		}
		put := f.find(t, "PUT", "/v1/integrations/int_1/credentials")
		if string(put.Body) != `{"api_key":"sk_typed_SECRET"}` {
			t.Errorf("sent %s", put.Body)
		}
		if !strings.Contains(r.stderr.String(), "API key for GitHub acme (input hidden)") {
			t.Errorf("no prompt on stderr: %q", r.stderr.String())
		}
		if strings.Contains(r.stdout.String()+r.stderr.String(), "SECRET") {
			t.Error("the typed secret was echoed")
		}
	})

	t.Run("service account --file is sent as multipart", func(t *testing.T) {
		f := newFakeAPI(t)
		path := filepath.Join(t.TempDir(), "sa.json")
		os.WriteFile(path, []byte(`{"type":"service_account","private_key":"PEM"}`), 0o600)
		if _, err := storm(t, f, "", "credentials", "save", "int_sa", "--file", path); err != nil {
			t.Fatal(err)
		}
		name, content := multipartFile(t, f.find(t, "PUT", "/v1/integrations/int_sa/credentials"))
		if name != "sa.json" || content != `{"type":"service_account","private_key":"PEM"}` {
			t.Errorf("file part %q %q", name, content)
		}
	})

	t.Run("service account key piped on stdin", func(t *testing.T) {
		f := newFakeAPI(t)
		if _, err := storm(t, f, "-----BEGIN PRIVATE KEY-----\n", "credentials", "save", "int_sa"); err != nil {
			t.Fatal(err)
		}
		if _, content := multipartFile(t, f.find(t, "PUT", "/v1/integrations/int_sa/credentials")); content != "-----BEGIN PRIVATE KEY-----\n" {
			t.Errorf("file part %q", content)
		}
	})

	t.Run("oauth2 points at authorize", func(t *testing.T) {
		f := newFakeAPI(t)
		_, err := storm(t, f, "x\n", "credentials", "save", "int_oauth")
		if err == nil || !strings.Contains(err.Error(), "storm authorize int_oauth") {
			t.Fatalf("err = %v", err)
		}
	})
}

func multipartFile(t *testing.T, r seenReq) (name, content string) {
	t.Helper()
	mt, params, _ := mime.ParseMediaType(r.ContentType)
	if mt != "multipart/form-data" {
		t.Fatalf("content type %q", r.ContentType)
	}
	part, err := multipart.NewReader(bytes.NewReader(r.Body), params["boundary"]).NextPart()
	if err != nil || part.FormName() != "file" {
		t.Fatalf("part: %v", err)
	}
	b, _ := io.ReadAll(part)
	return part.FileName(), string(b)
}

func TestServerErrorsAreOneLine(t *testing.T) {
	f := newFakeAPI(t)
	f.set("GET /v1/integrations/int_x", reply{404, problem, `{"type":"about:blank","title":"Not Found","status":404,"detail":"integration int_x not found"}`})
	f.set("POST /v1/tokens", reply{400, problem, `{"title":"Bad Request","status":400,"detail":"invalid token request","errors":[{"field":"workspace","message":"unknown workspace"}]}`})
	f.set("GET /v1/providers", reply{401, problem, `{"title":"Unauthorized","status":401,"detail":"invalid API token"}`})
	f.set("POST /v1/integrations/int_1/verify", jsonReply(200, `{"ok":false,"status":401,"latency_ms":12,"error":"bad credentials"}`))
	f.set("POST /v1/integrations/int_2/verify", jsonReply(200, `{"ok":false,"reason":"rejected","status":401,"latency_ms":12,"error":"the provider rejected the credential"}`))
	f.set("POST /v1/integrations/int_3/verify", jsonReply(200, `{"ok":null,"reason":"not_checked","status":0,"latency_ms":0,"error":"this integration has no verification request; the credential was not checked"}`))

	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"integrations", "show", "int_x"}, "404 Not Found: integration int_x not found"},
		{[]string{"tokens", "create", "--name", "n", "--role", "worker", "--workspace", "nope"}, "400 Bad Request: invalid token request (workspace: unknown workspace)"},
		{[]string{"providers"}, "401 Unauthorized: invalid API token (API token from STORM_TOKEN)"},
		{[]string{"verify", "int_1"}, "not working: bad credentials (HTTP 401)"},
		{[]string{"verify", "int_2"}, "not working: the provider refused the key (HTTP 401)"},
		{[]string{"verify", "int_3"}, "not checked: this integration has no verification request; the credential was not checked"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			_, err := storm(t, f, "", tc.args...)
			if err == nil || err.Error() != tc.want {
				t.Errorf("err = %v\nwant  %s", err, tc.want)
			}
		})
	}

	t.Run("server down", func(t *testing.T) {
		down := httptest.NewServer(http.NotFoundHandler())
		url := down.URL
		down.Close()
		r := &invocation{env: map[string]string{"STORM_SERVER": url, "STORM_TOKEN": "t"}}
		err := r.exec("providers")
		if err == nil || !strings.HasPrefix(err.Error(), "cannot reach the Storm server at "+url) || !strings.Contains(err.Error(), "STORM_SERVER") {
			t.Errorf("err = %v", err)
		}
	})
}

func TestOutput(t *testing.T) {
	f := newFakeAPI(t)

	r, err := storm(t, f, "", "integrations")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(r.stdout.String()), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[0], "ID     NAME         PROVIDER  AUTH METHOD  STATUS     WORKSPACE") ||
		!strings.HasPrefix(lines[1], "int_1  GitHub acme  github    api_key      connected  default") {
		t.Errorf("table:\n%s", r.stdout.String())
	}

	r, err = storm(t, f, "", "providers", "--json")
	if err != nil {
		t.Fatal(err)
	}
	var ps struct {
		Providers []map[string]any `json:"providers"`
	}
	if err := json.Unmarshal(r.stdout.Bytes(), &ps); err != nil || len(ps.Providers) != 2 || ps.Providers[1]["name"] != "stripe" {
		t.Errorf("providers --json: %v\n%s", err, r.stdout.String())
	}

	// access prints the secret on purpose, as JSON.
	r, err = storm(t, f, "", "access", "int_1")
	if err != nil {
		t.Fatal(err)
	}
	var a map[string]string
	if err := json.Unmarshal(r.stdout.Bytes(), &a); err != nil || a["api_key"] != "sk_live_SECRET" || a["type"] != "api_key" || a["prefix"] != "Bearer " {
		t.Errorf("access: %v\n%s", err, r.stdout.String())
	}

	// A new token is printed once, with a warning on stderr.
	r, err = storm(t, f, "", "tokens", "create", "--name", "sync", "--role", "worker", "--workspace", "acme")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(r.stdout.String(), "stk_ONE_TIME") || !strings.Contains(r.stderr.String(), "shown only once") {
		t.Errorf("tokens create:\n%s\n%s", r.stdout.String(), r.stderr.String())
	}
	if got := string(f.find(t, "POST", "/v1/tokens").Body); got != `{"name":"sync","workspace":"acme","role":"worker"}` {
		t.Errorf("token request %s", got)
	}

	r, err = storm(t, f, "", "events", "--integration", "int_1", "--after", "evt_0", "--limit", "5")
	if err != nil {
		t.Fatal(err)
	}
	if got := f.find(t, "GET", "/v1/events").RequestURI; got != "/v1/events?after=evt_0&integration=int_1&limit=5" {
		t.Errorf("events request %q", got)
	}
	if !strings.Contains(r.stdout.String(), `credential.saved  int_1        {"version":2}`) {
		t.Errorf("events table:\n%s", r.stdout.String())
	}

	// A hostile name cannot inject terminal escapes or break the table.
	f.set("GET /v1/workspaces", jsonReply(200, `{"workspaces":[{"id":"ws_1","name":"evil\u001b[2J\nname"}]}`))
	r, err = storm(t, f, "", "workspaces")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(r.stdout.String(), "\x1b") || strings.Count(r.stdout.String(), "\n") != 2 {
		t.Errorf("unsafe table:\n%q", r.stdout.String())
	}
}

func TestIntegrationsCreateAndUpdate(t *testing.T) {
	f := newFakeAPI(t)
	cfg := filepath.Join(t.TempDir(), "cfg.json")
	os.WriteFile(cfg, []byte(`{"org":"from-file","client_secret":"cs_SECRET"}`), 0o600)

	// The provider's only auth method is used when none is given.
	if _, err := storm(t, f, "", "integrations", "create", "--provider", "stripe", "--name", "Stripe",
		"--config-json", "@"+cfg, "--config", "org=acme", "--config", "region=eu"); err != nil {
		t.Fatal(err)
	}
	var body map[string]any
	json.Unmarshal(f.find(t, "POST", "/v1/integrations").Body, &body)
	cfgSent, _ := body["config"].(map[string]any)
	if body["auth_method"] != "api_key" || body["provider"] != "stripe" || body["name"] != "Stripe" ||
		cfgSent["org"] != "acme" || cfgSent["region"] != "eu" || cfgSent["client_secret"] != "cs_SECRET" {
		t.Errorf("create body %v", body)
	}

	// A provider with several methods needs --auth-method.
	_, err := storm(t, f, "", "integrations", "create", "--provider", "github", "--name", "GH")
	if err == nil || err.Error() != "provider github supports api_key, oauth2: choose one with --auth-method" {
		t.Errorf("err = %v", err)
	}

	// --config-json - reads stdin; a 204 answer is followed by a read.
	r, err := storm(t, f, `{"org":"new"}`, "integrations", "update", "int_1", "--name", "Renamed", "--config-json", "-")
	if err != nil {
		t.Fatal(err)
	}
	if got := string(f.find(t, "PATCH", "/v1/integrations/int_1").Body); got != `{"config":{"org":"new"},"name":"Renamed"}` {
		t.Errorf("patch body %s", got)
	}
	if !strings.Contains(r.stdout.String(), "int_1") {
		t.Errorf("update output %q", r.stdout.String())
	}
}

func TestProxyCommand(t *testing.T) {
	f := newFakeAPI(t)

	r, err := storm(t, f, "", "proxy", "int_1", "get", "/user")
	if err != nil {
		t.Fatal(err)
	}
	if r.stdout.String() != `{"login":"octocat"}`+"\n" { // JSON ends with a newline, so the prompt does not
		t.Errorf("stdout %q", r.stdout.String())
	}

	r, err = storm(t, f, "", "proxy", "int_1", "GET", "/missing")
	if err == nil || err.Error() != "GET /missing: 404 Not Found" {
		t.Errorf("err = %v", err)
	}
	if r.stdout.String() != `{"message":"Not Found"}`+"\n" {
		t.Errorf("error body not printed: %q", r.stdout.String())
	}

	data := filepath.Join(t.TempDir(), "issue.json")
	os.WriteFile(data, []byte(`{"title":"from file"}`), 0o600)
	for _, tc := range []struct{ stdin, data, want string }{
		{"", "@" + data, `{"title":"from file"}`},
		{`{"title":"from stdin"}`, "-", `{"title":"from stdin"}`},
		{"", `{"title":"inline"}`, `{"title":"inline"}`},
	} {
		if _, err := storm(t, f, tc.stdin, "proxy", "int_1", "POST", "/repos/acme/x/issues", "--data", tc.data, "--header", "X-Trace: 1"); err != nil {
			t.Fatal(err)
		}
		req := f.find(t, "POST", "/v1/integrations/int_1/proxy/repos/acme/x/issues")
		if string(req.Body) != tc.want || req.ContentType != "application/json" || req.Auth != "Bearer stk_env" {
			t.Errorf("--data %s sent %q (%s, %s)", tc.data, req.Body, req.ContentType, req.Auth)
		}
	}

	before := len(f.requests())
	if _, err := storm(t, f, "", "proxy", "int_1", "GET", "/../../v1/tokens"); err == nil || !strings.Contains(err.Error(), ". or .. segments") {
		t.Errorf("dot path: err = %v", err)
	}
	if len(f.requests()) != before {
		t.Error("a dot path was sent")
	}
}

func TestErrorsKeepTheirType(t *testing.T) {
	f := newFakeAPI(t)
	_, err := storm(t, f, "", "integrations", "show", "int_nope")
	var ue *usageError
	if err == nil || errors.As(err, &ue) {
		t.Fatalf("err = %v", err)
	}
	_, err = storm(t, f, "", "integrations", "show")
	if !errors.As(err, &ue) {
		t.Errorf("usage error lost its type: %T", err)
	}
}

// TestEveryCommandReachesItsEndpoint runs each command once and checks the
// request it sends.
func TestEveryCommandReachesItsEndpoint(t *testing.T) {
	f := newFakeAPI(t)
	for _, tc := range []struct {
		args       []string
		method     string
		uri        string
		wantStdout string
	}{
		{[]string{"providers", "list"}, "GET", "/v1/providers", "api_key,oauth2"},
		{[]string{"providers", "show", "stripe"}, "GET", "/v1/providers/stripe", `{"in":"basic"}`},
		{[]string{"workspaces", "list"}, "GET", "/v1/workspaces", "ws_1"},
		{[]string{"workspaces", "create", "acme"}, "POST", "/v1/workspaces", "ws_2"},
		{[]string{"tokens", "delete", "tok_1"}, "DELETE", "/v1/tokens/tok_1", "deleted token tok_1"},
		{[]string{"tokens"}, "GET", "/v1/tokens", "never"},
		{[]string{"integrations", "list"}, "GET", "/v1/integrations", "GitHub acme"},
		{[]string{"integrations", "show", "int_1"}, "GET", "/v1/integrations/int_1", `{"org":"acme"}`},
		{[]string{"integrations", "delete", "int_1"}, "DELETE", "/v1/integrations/int_1", "deleted integration int_1"},
		{[]string{"credentials", "list", "int_1"}, "GET", "/v1/integrations/int_1/credentials", "sk_…4f2a"},
		{[]string{"credentials", "revoke", "int_1", "cred_2"}, "POST", "/v1/integrations/int_1/credentials/cred_2/revoke", "revoked"},
		{[]string{"verify", "int_1"}, "POST", "/v1/integrations/int_1/verify", "42ms"},
		{[]string{"authorize", "int_1", "--return-to", "http://127.0.0.1:8080/done"}, "POST", "/v1/integrations/int_1/authorize", "https://github.com/login/oauth/authorize?state=s"},
		{[]string{"events"}, "GET", "/v1/events", "evt_1"},
		{[]string{"audit", "--limit", "3"}, "GET", "/v1/audit?limit=3", "integration.create"},
		{[]string{"webhooks", "create", "--url", "https://hooks.example/x", "--event", "credential.saved,token.refresh_failed"}, "POST", "/v1/webhooks", "whsec_ONE_TIME"},
		{[]string{"health"}, "GET", "/readyz", "ok"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			r, err := storm(t, f, "", tc.args...)
			if err != nil {
				t.Fatal(err)
			}
			req := f.find(t, tc.method, tc.uri)
			if req.RequestURI != tc.uri && !strings.HasPrefix(req.RequestURI, tc.uri+"?") {
				t.Errorf("sent %s", req.RequestURI)
			}
			if !strings.Contains(r.stdout.String(), tc.wantStdout) {
				t.Errorf("stdout lacks %q:\n%s", tc.wantStdout, r.stdout.String())
			}
		})
	}
	if got := string(f.find(t, "POST", "/v1/webhooks").Body); got != `{"url":"https://hooks.example/x","events":["credential.saved","token.refresh_failed"]}` {
		t.Errorf("webhook body %s", got)
	}
	if got := f.find(t, "GET", "/healthz").Auth; got != "" {
		t.Errorf("health sent a token: %q", got)
	}
}
