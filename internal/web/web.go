package web

import (
	"bytes"
	"context"
	"errors"
	"html/template"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/stormcreds/storm/internal/api"
	"github.com/stormcreds/storm/internal/apps"
	"github.com/stormcreds/storm/internal/catalog"
	"github.com/stormcreds/storm/internal/connect"
	"github.com/stormcreds/storm/internal/creds"
	"github.com/stormcreds/storm/internal/events"
	"github.com/stormcreds/storm/internal/problem"
	"github.com/stormcreds/storm/internal/store"
	"github.com/stormcreds/storm/internal/vault"
)

// TokenLookup finds an API token by its secret; *api.Server implements
// it with the API's own cached lookup.
type TokenLookup interface {
	LookupToken(ctx context.Context, token string) (store.APIToken, error)
}

// Config configures a UI. Store, Catalog, Creds, Vault, Recorder and
// Tokens are required.
type Config struct {
	Store   store.Store
	Catalog *catalog.Catalog
	Creds   *creds.Service
	// Apps manages apps (the Apps page); nil hides it.
	Apps *apps.Service
	// Connect manages connect links (their pages, and Send a connect
	// link on the integration page); nil turns them off.
	Connect  *connect.Service
	Vault    *vault.Vault
	Recorder *events.Recorder
	Tokens   TokenLookup
	// PublicURL is the server's external base URL: it names the OAuth
	// redirect URI on the pages, and an https URL makes every cookie
	// Secure.
	PublicURL string
	// SessionTTL is how long a sign-in lasts; default 12h.
	SessionTTL time.Duration
	Logger     *slog.Logger     // default slog.Default()
	Now        func() time.Time // default time.Now
}

// UI is the web interface, an http.Handler for every path the API does
// not own. It is safe for concurrent use.
type UI struct {
	cfg         Config
	mux         *http.ServeMux
	pages       map[string]*template.Template
	logger      *slog.Logger
	now         func() time.Time
	httpsPublic bool
	publicURL   string
}

// New validates cfg and builds the UI.
func New(cfg Config) (*UI, error) {
	if cfg.Store == nil || cfg.Catalog == nil || cfg.Creds == nil || cfg.Vault == nil || cfg.Recorder == nil || cfg.Tokens == nil {
		return nil, errors.New("web: Store, Catalog, Creds, Vault, Recorder and Tokens are required")
	}
	if cfg.SessionTTL == 0 {
		cfg.SessionTTL = 12 * time.Hour
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	pages, err := parsePages()
	if err != nil {
		return nil, err
	}
	u := &UI{cfg: cfg, mux: http.NewServeMux(), pages: pages, logger: cfg.Logger, now: cfg.Now,
		publicURL: strings.TrimSuffix(cfg.PublicURL, "/")}
	if pu, err := url.Parse(cfg.PublicURL); err == nil && pu.Scheme == "https" {
		u.httpsPublic = true
	}
	u.routes()
	return u, nil
}

// Access levels of a route.
const (
	public = ""                 // anyone
	reader = store.RoleViewer   // any signed-in token
	editor = store.RoleEditor   // may change its workspace's integrations
	upload = "upload:" + editor // an editor's multipart form (CSRF read from the body)
)

func (u *UI) routes() {
	u.handle("GET /{$}", public, u.home)
	u.handle("GET /signin", public, u.signinPage)
	u.handle("POST /signin", public, u.signin)
	u.handle("POST /signout", reader, u.signout)

	u.handle("GET /integrations", reader, u.listPage)
	u.handle("POST /integrations", editor, u.create)
	u.handle("GET /integrations/new", editor, u.newPage)
	u.handle("GET /integrations/{id}", reader, u.integrationPage)
	u.handle("POST /integrations/{id}/credentials", upload, u.save)
	u.handle("POST /integrations/{id}/credentials/{cred}/revoke", editor, u.revoke)
	u.handle("POST /integrations/{id}/verify", editor, u.verify)
	u.handle("POST /integrations/{id}/authorize", editor, u.authorize)
	u.handle("POST /integrations/{id}/enable", editor, u.enable)
	u.handle("POST /integrations/{id}/disable", editor, u.disable)
	u.handle("POST /integrations/{id}/delete", editor, u.delete)
	u.appRoutes()
	u.linkRoutes()

	u.mux.HandleFunc("GET /static/{name}", serveStatic)
	u.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		c := &reqCtx{w: w, r: r}
		if err := u.begin(c); err != nil {
			u.fail(c, err)
			return
		}
		u.fail(c, errNotFound)
	})
}

// reqCtx is one request as a handler sees it.
type reqCtx struct {
	w    http.ResponseWriter
	r    *http.Request
	sess session
	tok  store.APIToken // zero when signed out
	ws   store.Workspace
	// ended says a signed-in session just ended (its token is gone).
	ended bool
}

func (c *reqCtx) signedIn() bool { return c.tok.ID != "" }

func (c *reqCtx) actor() events.Actor { return api.ActorOf(c.tok, c.r) }

func (c *reqCtx) canEdit() bool { return c.signedIn() && api.Allows(c.tok.Role, store.RoleEditor) }

// errNotFound and errRefused are answered with their own pages.
var (
	errNotFound = problem.New(http.StatusNotFound, "There is nothing here, or you may not see it.")
	errRefused  = problem.New(http.StatusForbidden, "This form was refused: it did not carry a valid security token. Go back, reload the page and try again.")
)

func (u *UI) handle(pattern, access string, h func(c *reqCtx) error) {
	multipart := strings.HasPrefix(access, "upload:")
	role := strings.TrimPrefix(access, "upload:")
	u.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		c := &reqCtx{w: w, r: r}
		if err := u.begin(c); err != nil {
			u.fail(c, err)
			return
		}
		post := r.Method == http.MethodPost
		if post && !sameOrigin(r) {
			u.fail(c, errRefused)
			return
		}
		if role != public {
			if !c.signedIn() {
				// Signed out (or the token is gone): sign in first. A
				// form posted now does nothing; its page is the way back.
				q := url.Values{}
				if !post {
					q.Set("next", r.URL.RequestURI())
				}
				if c.ended {
					q.Set("ended", "1")
				}
				to := "/signin"
				if len(q) > 0 {
					to += "?" + q.Encode()
				}
				http.Redirect(w, r, to, http.StatusSeeOther)
				return
			}
			if !api.Allows(c.tok.Role, role) {
				u.fail(c, problem.New(http.StatusForbidden, "Your API token's role (%s) may not do this; it needs %s.", c.tok.Role, role))
				return
			}
		}
		if post && !multipart {
			r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
			if err := r.ParseForm(); err != nil {
				u.fail(c, problem.New(http.StatusBadRequest, "The form could not be read."))
				return
			}
			if !c.sess.csrfOK(r.PostForm.Get("csrf")) {
				u.fail(c, errRefused)
				return
			}
		}
		if err := h(c); err != nil {
			u.fail(c, err)
		}
	})
}

// maxFormBytes bounds an urlencoded form (the largest holds a config).
const maxFormBytes = 64 << 10

// begin loads the session and its token, and starts a signed-out session
// when there is none, so every form can carry a CSRF token.
func (u *UI) begin(c *reqCtx) error {
	s, ok := u.readSession(c.r)
	if ok && s.TokenID != "" {
		live, err := u.live(c.r.Context(), s)
		if err != nil {
			return err
		}
		var tok store.APIToken
		if !live {
			err = store.ErrNotFound // signed out, or the token is gone
		} else {
			tok, err = u.cfg.Store.GetAPIToken(c.r.Context(), s.TokenID)
		}
		switch {
		case err == nil:
			c.sess, c.tok = s, tok
			if c.ws, err = u.cfg.Store.GetWorkspace(c.r.Context(), tok.WorkspaceID); err != nil {
				return err
			}
			return nil
		case errors.Is(err, store.ErrNotFound):
			ok, c.ended = false, true // the session ends
		default:
			return err
		}
	}
	if ok {
		c.sess = s
		return nil
	}
	c.sess = u.newSession()
	return u.writeSession(c.w, c.r, c.sess)
}

// sameOrigin refuses a cross-site form post before its CSRF token is
// even read: a browser marks it with Sec-Fetch-Site or an Origin of
// another host. (Origin "null" comes with a no-referrer policy; the CSRF
// token decides then.)
func sameOrigin(r *http.Request) bool {
	if r.Header.Get("Sec-Fetch-Site") == "cross-site" {
		return false
	}
	o := r.Header.Get("Origin")
	if o == "" || o == "null" {
		return true
	}
	ou, err := url.Parse(o)
	return err == nil && ou.Host == r.Host
}

// ServeHTTP implements http.Handler: every answer carries the security
// headers; pages are never cached.
func (u *UI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	defer func() {
		if v := recover(); v != nil {
			if v == http.ErrAbortHandler {
				panic(v)
			}
			u.logger.Error("web: panic in handler", "path", api.LogPath(r.URL.Path), "panic", v)
			http.Error(w, "internal error", http.StatusInternalServerError)
		}
	}()
	h := w.Header()
	h.Set("Content-Security-Policy", csp(true))
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	h.Set("Cache-Control", "no-store")
	u.mux.ServeHTTP(w, r)
}

// csp is the Content-Security-Policy of every page: scripts and styles
// from Storm's own static files only (no inline script or style), no
// framing. formAction false leaves form-action out, for the pages whose
// Authorize form is redirected on to the provider's authorization
// server, which Chromium checks against form-action too.
func csp(formAction bool) string {
	p := "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; base-uri 'none'; frame-ancestors 'none'"
	if formAction {
		p += "; form-action 'self'"
	}
	return p
}

// oauthPage sets the headers of a page that starts or ends an OAuth 2.0
// authorization: no Referer to the provider, and a form-action that lets
// the Authorize redirect through.
func oauthPage(w http.ResponseWriter) {
	w.Header().Set("Referrer-Policy", "no-referrer")
	w.Header().Set("Content-Security-Policy", csp(false))
}

// render executes page name with data and writes it with status.
func (u *UI) render(c *reqCtx, status int, name string, data any) error {
	t, ok := u.pages[name]
	if !ok {
		return errors.New("web: no page " + name)
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "layout", data); err != nil {
		return err
	}
	c.w.Header().Set("Content-Type", "text/html; charset=utf-8")
	c.w.WriteHeader(status)
	_, err := c.w.Write(buf.Bytes())
	return err
}

// fail answers err with an error page: problems with their status and
// detail, anything else as a 500 whose detail stays in the log.
func (u *UI) fail(c *reqCtx, err error) {
	status, msg := http.StatusInternalServerError, "Something went wrong on Storm's side; the server log has the details."
	if p, ok := asProblem(err); ok {
		status, msg = p.Status, p.Detail
	} else if errors.Is(err, store.ErrNotFound) {
		status, msg = http.StatusNotFound, errNotFound.Detail
	} else if errors.Is(err, store.ErrConflict) {
		status, msg = http.StatusConflict, "The integration changed meanwhile. Reload the page and try again."
	} else {
		u.logger.Error("web: request failed", "method", c.r.Method, "path", api.LogPath(c.r.URL.Path), "err", err)
	}
	title := map[int]string{http.StatusNotFound: "Not found", http.StatusForbidden: "Not allowed"}[status]
	if err == errRefused {
		title = "Form refused"
	}
	if title == "" {
		title = http.StatusText(status)
	}
	data := struct {
		Base
		Message string
		Status  int
	}{Base: u.base(c, title), Message: msg, Status: status}
	if rerr := u.render(c, status, "error", data); rerr != nil {
		u.logger.Error("web: render error page", "err", rerr)
	}
}

// asProblem finds a caller-facing problem in err: a *problem.Problem or
// an error that renders as one (a failed verification).
func asProblem(err error) (*problem.Problem, bool) {
	if p, ok := problem.As(err); ok {
		return p, true
	}
	var pe interface{ Problem() *problem.Problem }
	if errors.As(err, &pe) {
		return pe.Problem(), true
	}
	return nil, false
}
