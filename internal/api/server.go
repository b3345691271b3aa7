package api

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/stormcreds/storm/internal/apps"
	"github.com/stormcreds/storm/internal/catalog"
	"github.com/stormcreds/storm/internal/connect"
	"github.com/stormcreds/storm/internal/creds"
	"github.com/stormcreds/storm/internal/events"
	"github.com/stormcreds/storm/internal/keys"
	"github.com/stormcreds/storm/internal/problem"
	"github.com/stormcreds/storm/internal/proxy"
	"github.com/stormcreds/storm/internal/store"
	"github.com/stormcreds/storm/internal/webhooks"
)

// Config configures a Server. Store, Catalog, Creds, Proxy and Recorder
// are required.
type Config struct {
	Store    store.Store
	Catalog  *catalog.Catalog
	Creds    *creds.Service
	Proxy    *proxy.Proxy
	Recorder *events.Recorder
	// Webhooks creates and re-enables webhooks; nil answers those two
	// endpoints with 404.
	Webhooks *webhooks.Service
	// Keys rotates data keys and reports the re-wrap job (/v1/keys);
	// nil answers those endpoints with 404.
	Keys *keys.Manager
	// Apps manages apps (/v1/apps); nil answers those endpoints with 404.
	Apps *apps.Service
	// Connect manages connect links (/v1/connect, …/connect); nil
	// answers those endpoints with 404.
	Connect *connect.Service
	// Ready reports whether storage and keys are usable (for /readyz).
	Ready func(ctx context.Context) error
	// Registry collects metrics; nil means a new registry.
	Registry *prometheus.Registry
	Logger   *slog.Logger     // default slog.Default()
	Now      func() time.Time // default time.Now
	// TokenCacheTTL bounds how long a verified API token is trusted
	// without a store read; deletions on this instance apply at once.
	// Default 5s.
	TokenCacheTTL time.Duration
	// MaxBodyBytes limits JSON request bodies; default 256 KiB.
	MaxBodyBytes int64
	// MaxProxyBodyBytes limits proxied request bodies; default 100 MiB.
	MaxProxyBodyBytes int64
}

// Route is one registered endpoint; Routes lists them for the OpenAPI
// conformance test.
type Route struct {
	Method  string // "" for any method
	Pattern string
	Role    string // least role allowed; "" for no authentication
}

// Server is the HTTP API. It is safe for concurrent use.
type Server struct {
	cfg    Config
	mux    *http.ServeMux
	routes []Route
	tokens *tokenCache
	// touched is when this instance last wrote each token's
	// last_used_at (token id → time.Time).
	touched sync.Map
	metrics *metrics
	logger  *slog.Logger
	now     func() time.Time
	hot     hotRoutes
}

// New validates cfg and builds the API.
func New(cfg Config) (*Server, error) {
	if cfg.Store == nil || cfg.Catalog == nil || cfg.Creds == nil || cfg.Proxy == nil || cfg.Recorder == nil {
		return nil, errors.New("api: Store, Catalog, Creds, Proxy and Recorder are required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.TokenCacheTTL == 0 {
		cfg.TokenCacheTTL = 5 * time.Second
	}
	if cfg.MaxBodyBytes == 0 {
		cfg.MaxBodyBytes = 256 << 10
	}
	if cfg.MaxProxyBodyBytes == 0 {
		cfg.MaxProxyBodyBytes = 100 << 20
	}
	if cfg.Registry == nil {
		cfg.Registry = prometheus.NewRegistry()
	}
	if cfg.Ready == nil {
		cfg.Ready = cfg.Store.Ping
	}
	s := &Server{cfg: cfg, mux: http.NewServeMux(), logger: cfg.Logger, now: cfg.Now,
		tokens: newTokenCache(cfg.Store, cfg.TokenCacheTTL), metrics: newMetrics(cfg.Registry)}
	s.register()
	return s, nil
}

func (s *Server) register() {
	s.handle("GET /healthz", "", s.healthz)
	s.handle("GET /readyz", "", s.readyz)
	s.handle("GET /metrics", "", promhttp.HandlerFor(s.cfg.Registry, promhttp.HandlerOpts{}).ServeHTTP)

	s.handle("GET /v1/providers", store.RoleViewer, s.listProviders)
	s.handle("GET /v1/providers/{name}", store.RoleViewer, s.getProvider)
	// Public: an <img> cannot send an API token, and a logo is no secret.
	s.handle("GET /v1/providers/{name}/logo.svg", "", s.providerLogo)

	s.handle("POST /v1/workspaces", store.RoleAdmin, s.createWorkspace)
	s.handle("GET /v1/workspaces", store.RoleViewer, s.listWorkspaces)
	s.handle("POST /v1/tokens", store.RoleAdmin, s.createToken)
	s.handle("GET /v1/tokens", store.RoleAdmin, s.listTokens)
	s.handle("DELETE /v1/tokens/{id}", store.RoleAdmin, s.deleteToken)

	s.handle("POST /v1/integrations", store.RoleEditor, s.createIntegration)
	s.handle("GET /v1/integrations", store.RoleViewer, s.listIntegrations)
	s.handle("GET /v1/integrations/{id}", store.RoleViewer, s.getIntegration)
	s.handle("PATCH /v1/integrations/{id}", store.RoleEditor, s.updateIntegration)
	s.handle("DELETE /v1/integrations/{id}", store.RoleEditor, s.deleteIntegration)

	s.handle("PUT /v1/integrations/{id}/credentials", store.RoleEditor, s.saveCredential)
	s.handle("GET /v1/integrations/{id}/credentials", store.RoleViewer, s.listCredentials)
	s.handle("POST /v1/integrations/{id}/credentials/{cred_id}/revoke", store.RoleEditor, s.revokeCredential)
	s.handle("POST /v1/integrations/{id}/verify", store.RoleEditor, s.verify)
	s.handle("POST /v1/integrations/{id}/authorize", store.RoleEditor, s.authorize)
	s.handle("GET /oauth/callback", "", s.callback)

	s.hot.access = s.handle(accessPattern, store.RoleWorker, s.access)
	s.hot.proxy = s.handle(proxyPattern, store.RoleWorker, s.proxy)
	// The base URL itself, without a "/" added: a remote MCP server's
	// endpoint is its URL.
	s.handle("/v1/integrations/{id}/proxy", store.RoleWorker, s.proxy)

	s.handle("GET /v1/events", store.RoleViewer, s.listEvents)
	s.handle("GET /v1/audit", store.RoleViewer, s.listAudit)
	s.handle("GET /v1/audit/verify", store.RoleAdmin, s.verifyAudit)

	s.handle("POST /v1/webhooks", store.RoleEditor, s.createWebhook)
	s.handle("GET /v1/webhooks", store.RoleViewer, s.listWebhooks)
	s.handle("GET /v1/webhooks/{id}", store.RoleViewer, s.getWebhook)
	s.handle("DELETE /v1/webhooks/{id}", store.RoleEditor, s.deleteWebhook)
	s.handle("POST /v1/webhooks/{id}/enable", store.RoleEditor, s.enableWebhook)
	s.handle("GET /v1/webhooks/{id}/deliveries", store.RoleViewer, s.listWebhookDeliveries)

	s.handle("POST /v1/apps", store.RoleEditor, s.createApp)
	s.handle("GET /v1/apps", store.RoleViewer, s.listApps)
	s.handle("GET /v1/apps/{id}", store.RoleViewer, s.getApp)
	s.handle("PATCH /v1/apps/{id}", store.RoleEditor, s.updateApp)
	s.handle("DELETE /v1/apps/{id}", store.RoleEditor, s.deleteApp)
	s.handle("GET /v1/apps/{id}/secrets", store.RoleViewer, s.listAppSecrets)
	s.handle("POST /v1/apps/{id}/secrets", store.RoleEditor, s.addAppSecret)
	s.handle("POST /v1/apps/{id}/secrets/{secret_id}/revoke", store.RoleEditor, s.revokeAppSecret)
	s.handle("POST /v1/apps/{id}/adopt", store.RoleEditor, s.adoptIntoApp)
	s.handle("GET /v1/apps/{id}/integrations", store.RoleViewer, s.listAppIntegrations)

	s.handle("POST /v1/integrations/{id}/connect", store.RoleEditor, s.createConnectLink)
	s.handle("GET /v1/integrations/{id}/connect", store.RoleEditor, s.listIntegrationConnectLinks)
	s.handle("POST /v1/connect", store.RoleEditor, s.createNewConnectLink)
	s.handle("GET /v1/connect", store.RoleEditor, s.listConnectLinks)
	s.handle("GET /v1/connect/{id}", store.RoleEditor, s.getConnectLink)
	s.handle("DELETE /v1/connect/{id}", store.RoleEditor, s.deleteConnectLink)

	s.handle("GET /v1/keys", store.RoleAdmin, s.keysStatus)
	s.handle("POST /v1/keys/rotate", store.RoleAdmin, s.keysRotate)

	// Anything else under the API's prefixes, including a known path
	// with another method, is a problem+json 404. Other paths belong to
	// the web UI (see Serves).
	notFound := func(w http.ResponseWriter, r *http.Request) {
		problem.Write(w, problem.New(http.StatusNotFound, "no endpoint %s %s", r.Method, r.URL.Path))
	}
	s.mux.HandleFunc("/v1/", notFound)
	s.mux.HandleFunc("/oauth/", notFound)
}

// Serves reports whether path belongs to the HTTP API: /v1/…, /oauth/…
// and the health and metrics endpoints. The server hands every other
// path to the web UI.
func Serves(path string) bool {
	switch path {
	case "/v1", "/healthz", "/readyz", "/metrics":
		return true
	}
	return strings.HasPrefix(path, "/v1/") || strings.HasPrefix(path, "/oauth/")
}

// handle registers h for pattern, behind authentication when role is
// set, records the route and returns the handler registered.
func (s *Server) handle(pattern, role string, h func(http.ResponseWriter, *http.Request)) http.Handler {
	method, path := splitPattern(pattern)
	s.routes = append(s.routes, Route{Method: method, Pattern: path, Role: role})
	var handler http.Handler = http.HandlerFunc(h)
	if role != "" {
		handler = s.authenticate(role, handler)
	}
	handler = s.metrics.instrument(path, handler)
	s.mux.Handle(pattern, handler)
	return handler
}

func splitPattern(p string) (method, path string) {
	for i := 0; i < len(p); i++ {
		if p[i] == ' ' {
			return p[:i], p[i+1:]
		}
	}
	return "", p
}

// Routes lists every registered endpoint.
func (s *Server) Routes() []Route { return append([]Route(nil), s.routes...) }

var (
	nosniff = []string{"nosniff"}
	noStore = []string{"no-store"}
)

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	defer func() {
		if v := recover(); v != nil {
			if v == http.ErrAbortHandler {
				panic(v)
			}
			s.logger.Error("panic in handler", "path", LogPath(r.URL.Path), "panic", v)
			s.writeError(w, r, errors.New("internal panic"))
		}
	}()
	h := w.Header()
	// Shared, never changed slices: Header.Set allocated one per header
	// per request. Handlers that change these headers Set new ones.
	h["X-Content-Type-Options"] = nosniff
	h["Cache-Control"] = noStore
	if h := s.hot.route(r); h != nil {
		h.ServeHTTP(w, r)
		return
	}
	s.mux.ServeHTTP(w, r)
}

func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if err := s.cfg.Ready(ctx); err != nil {
		s.logger.Warn("not ready", "err", err)
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "unavailable", "error": err.Error()})
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
}
