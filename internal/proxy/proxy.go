package proxy

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/stormcreds/storm/internal/problem"
)

// Credential applies one credential version to an outgoing request by
// setting headers, query parameters or basic auth. Apply sees the final
// upstream URL, including the caller's query, so signing schemes work. A
// query parameter it adds must replace (url.Values.Set), not add to, any
// parameter of the same name, so a caller cannot shadow it. Apply must not
// change the request's scheme or host; the proxy refuses the request if it
// does. It must not consume r.Body (r.GetBody is set when the body was
// buffered and can be read again), and its errors, which are logged, must
// not contain secrets. Apply may be called concurrently for different
// requests, and on a Target's Fallback only when a retry actually happens,
// so a fallback may do expensive work such as a forced token refresh.
type Credential interface {
	Apply(r *http.Request) error
}

// An AnsweredFallback is a Target's Fallback that wants to know when the
// retry it was applied to got an answer other than 401 (creds records
// which version answered). One object, not a Credential and a callback:
// a Target is made for every proxied request.
type AnsweredFallback interface {
	Credential
	Answered()
}

// BodySigner is implemented by a Credential that signs the request body,
// such as an AWS SigV4 signature over the payload's hash. When a Target's
// Active credential implements it and SignsBody reports true, request bodies
// of at most Config.MaxRetryBody bytes are buffered even without a
// Fallback, so Apply sees r.GetBody and can read the body without
// consuming it. Larger bodies are streamed with r.GetBody nil.
type BodySigner interface {
	SignsBody() bool
}

func signsBody(c Credential) bool {
	bs, ok := c.(BodySigner)
	return ok && bs.SignsBody()
}

// CredentialFunc adapts a function to Credential.
type CredentialFunc func(r *http.Request) error

// Apply calls f(r).
func (f CredentialFunc) Apply(r *http.Request) error { return f(r) }

// Target is one proxied request's destination and credentials. Its zero
// value is not usable: Base and Active are required.
type Target struct {
	// Base is the integration's base URL: scheme, host, optional port and
	// optional path prefix. The request never leaves its origin or prefix.
	Base *url.URL
	// Path is the caller's escaped path after "/proxy/", as taken from
	// url.URL.EscapedPath, without a leading slash. See JoinPath.
	Path string
	// RawQuery is the caller's query, forwarded verbatim.
	RawQuery string
	// Active is the credential applied to the request.
	Active Credential
	// Fallback, when not nil, is applied to one retry of a request the
	// upstream answered 401 with Active (the previous version during a
	// rotation overlap, or a forced refresh). It may decide only then; if
	// it returns ErrNoFallback the caller gets the original 401. A
	// Fallback that is also an AnsweredFallback is told when its retry
	// got an answer other than 401.
	Fallback Credential
	// ProxyPrefix is the path under which the caller reaches this
	// integration's proxy, such as "/v1/integrations/int_x/proxy". A
	// Location header pointing inside Base is rewritten to it; when empty,
	// no Location is rewritten.
	ProxyPrefix string
	// Exact sends the request to Base itself, its path exactly as given
	// (no "/" added), for a base URL that is an endpoint such as a remote
	// MCP server; Path must then be empty.
	Exact bool
}

// Config configures a Proxy. The zero value is usable: public upstreams
// only, the default timeouts and retry-body limit, the default logger.
type Config struct {
	// AllowPrivate lets upstreams resolve to loopback, private, link-local
	// and other non-public addresses (STORM_ALLOW_PRIVATE_UPSTREAMS). Cloud
	// metadata addresses are refused even then.
	AllowPrivate bool
	// Timeout bounds a whole upstream exchange, response body included.
	// Zero means 60s. Dialling is bounded by 10s and waiting for response
	// headers by 30s (or Timeout, if shorter).
	Timeout time.Duration
	// MaxRetryBody is the largest request body that is buffered so a 401
	// can be retried with a Target's Fallback; larger bodies are streamed
	// and not retried. Bodies are only buffered when a Fallback is set.
	// Zero means 1 MiB; negative means only bodiless requests are retried.
	MaxRetryBody int64
	// Transport, when not nil, replaces the guarded transport entirely
	// (tests only: the egress guard is then not applied).
	Transport http.RoundTripper
	// Logger receives upstream failures, never with secrets or queries.
	// Nil means slog.Default().
	Logger *slog.Logger

	// resolve replaces DNS in tests.
	resolve func(ctx context.Context, host string) ([]netip.Addr, error)
}

// Defaults for Config.
const (
	DefaultTimeout      = 60 * time.Second
	DefaultMaxRetryBody = 1 << 20
)

// ErrNoFallback may be returned (wrapped) by a Target's Fallback when, at
// the moment of the retry, it has no other credential to offer: the
// caller then gets the upstream's original 401.
var ErrNoFallback = errors.New("proxy: no fallback credential")

// errCredentialMoved means a Credential changed the request's destination.
var errCredentialMoved = errors.New("proxy: credential changed the request's destination")

// applyError wraps a Credential's Apply failure.
type applyError struct{ err error }

func (e *applyError) Error() string { return "proxy: applying credential: " + e.err.Error() }
func (e *applyError) Unwrap() error { return e.err }

// bodyError wraps a failure to read the caller's request body.
type bodyError struct{ err error }

func (e *bodyError) Error() string { return "proxy: reading request body: " + e.err.Error() }
func (e *bodyError) Unwrap() error { return e.err }

// Proxy forwards requests to integrations' upstream APIs. It is safe for
// concurrent use; create one per process and share it.
type Proxy struct {
	timeout      time.Duration
	maxRetryBody int64
	transport    http.RoundTripper
	client       *http.Client
	log          *slog.Logger
	buffers      bufferPool
	// guard is the egress guard behind transport; nil when Config.Transport
	// replaced the guarded transport (tests only).
	guard *guard
	// custom is Config.Transport, kept for proxies with client certificates.
	custom http.RoundTripper
	// certs caches the proxies WithClientCert derives; shared by every
	// Proxy derived from the same New.
	certs *certCache
	// deadlines bounds every ServeTarget exchange by timeout.
	deadlines *watch
}

// New validates cfg and returns a Proxy.
func New(cfg Config) (*Proxy, error) {
	if cfg.Timeout < 0 {
		return nil, fmt.Errorf("proxy: negative Timeout %v", cfg.Timeout)
	}
	p := &Proxy{
		timeout:      cfg.Timeout,
		maxRetryBody: cfg.MaxRetryBody,
		transport:    cfg.Transport,
		log:          cfg.Logger,
	}
	if p.timeout == 0 {
		p.timeout = DefaultTimeout
	}
	if p.maxRetryBody == 0 {
		p.maxRetryBody = DefaultMaxRetryBody
	}
	if p.log == nil {
		p.log = slog.Default()
	}
	if p.transport == nil {
		p.guard = newGuard(cfg.AllowPrivate, cfg.resolve)
		p.transport = newTransport(p.guard, p.timeout, nil)
	} else {
		p.custom = cfg.Transport
	}
	p.certs = newCertCache(maxClientCertProxies)
	p.init()
	return p, nil
}

// init sets what New and WithClientCert derive from the other fields: the
// client, the buffer pool and the deadline watch.
func (p *Proxy) init() {
	p.client = &http.Client{
		Transport: p.transport,
		Timeout:   p.timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
	p.buffers.pool.New = func() any { return new([copyBufferSize]byte) }
	p.deadlines = &watch{limit: p.timeout}
}

// newTransport returns the guarded transport: every address dialled goes
// through g, there is never an environment proxy, and TLS is at least 1.2
// with the server's certificate always verified. tc, when not nil, is the
// TLS configuration to use (it must not skip verification); nil means the
// system roots and no client certificate.
func newTransport(g *guard, timeout time.Duration, tc *tls.Config) *http.Transport {
	if tc == nil {
		tc = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	return &http.Transport{
		Proxy:                 nil, // never an environment proxy: the guard must see the real destination
		DialContext:           g.dialContext,
		ForceAttemptHTTP2:     true,
		TLSClientConfig:       tc,
		TLSHandshakeTimeout:   dialTimeout,
		ResponseHeaderTimeout: min(responseHeaderTimeout, timeout),
		ExpectContinueTimeout: time.Second,
		IdleConnTimeout:       90 * time.Second,
		MaxIdleConns:          512,
		MaxIdleConnsPerHost:   64,
		DisableCompression:    true, // pass bodies through as the upstream encoded them
	}
}

// Client returns an HTTP client that uses the proxy's guarded transport and
// never follows redirects, for requests such as credential verification.
// It does not pin a host: build request URLs with JoinPath.
// Its errors are *url.Error values holding the full URL, query included:
// pass them through RedactError before logging or returning them.
func (p *Proxy) Client() *http.Client { return p.client }

// RedactError returns err with the URL of a top-level *url.Error (as
// returned by http.Client) cut down to scheme, host and path, so a
// credential carried in the query cannot leak through it.
func RedactError(err error) error {
	ue, ok := err.(*url.Error)
	if !ok {
		return err
	}
	safe := "(unparsable URL)"
	if u, perr := url.Parse(ue.URL); perr == nil {
		safe = logURL(u)
	}
	return &url.Error{Op: ue.Op, URL: safe, Err: ue.Err}
}

// ServeTarget forwards r to t and writes the upstream response, streamed,
// to w. When the request cannot be forwarded it writes an RFC 9457 problem:
// 400 for a bad path or unreadable body, 403 for a forbidden destination
// address, 405 for TRACE and CONNECT, 502 when the upstream cannot be
// reached, 504 when it does not answer in time, 500 for a bad Target. If
// the upstream fails after the response has started, the response is
// aborted (http.ErrAbortHandler), as httputil.ReverseProxy does.
func (p *Proxy) ServeTarget(w http.ResponseWriter, r *http.Request, t Target) {
	switch r.Method {
	case http.MethodTrace, http.MethodConnect:
		// TRACE would echo the applied credential back to the caller.
		w.Header().Set("Allow", "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS")
		problem.Write(w, problem.New(http.StatusMethodNotAllowed, "%s cannot be proxied", r.Method))
		return
	}
	if t.Active == nil {
		p.log.Error("proxy: target without a credential")
		problem.Write(w, problem.New(http.StatusInternalServerError, "the integration has no usable credential"))
		return
	}
	// An exchange is the biggest allocation of a proxied request: one
	// from the pool, given back when forwarding is done with it (nothing
	// keeps it: the outbound request has its own URL).
	x := exchanges.Get().(*exchange)
	defer func() {
		*x = exchange{}
		exchanges.Put(x)
	}()
	target := &x.target
	prefix, err := joinInto(target, t.Base, t.Path, t.RawQuery)
	if err == nil && t.Exact {
		if t.Path != "" {
			err = badPath("a request to the base URL itself takes no path")
		} else {
			target.RawPath = t.Base.EscapedPath()
			if target.RawPath == "" {
				target.RawPath = "/"
			}
			target.Path, err = url.PathUnescape(target.RawPath)
		}
	}
	if err != nil {
		var pe *pathError
		switch {
		case errors.Is(err, ErrBadPath) && errors.As(err, &pe):
			problem.Write(w, problem.New(http.StatusBadRequest, "%s", pe.reason))
		default:
			p.log.Error("proxy: unusable integration base URL", slog.String("error", err.Error()))
			problem.Write(w, problem.New(http.StatusInternalServerError, "the integration's base URL is not usable"))
		}
		return
	}
	x.p, x.t, x.prefix = p, t, prefix

	// Bounded by Timeout as a whole (the watch), without a context of
	// its own when there is no body to upload: the transport bounds the
	// wait for headers (ResponseHeaderTimeout) and the watch closes a
	// response body still being copied at the deadline. An upload needs
	// the context: a write the upstream never reads is stopped by nothing
	// else.
	x.exp = &expiry{}
	p.deadlines.start(x.exp)
	defer p.deadlines.end(x.exp)
	if r.Body != nil && r.Body != http.NoBody {
		r = x.exp.bind(r)
	}
	x.forward(w, r)
}

// exchange is one ServeTarget call. Its methods run sequentially:
// forward builds the outbound request, RoundTrip sends it, then respond
// or errorHandler answers.
type exchange struct {
	p      *Proxy
	t      Target        // a copy: one allocation with the exchange
	target url.URL       // where the request goes, before any credential
	prefix string        // Base's escaped path prefix, no trailing slash
	sent   *http.Request // the last request sent, credential applied
	// exp is the exchange on its Proxy's watch.
	exp *expiry
	// before is the outbound request's header before any credential. The
	// first attempt applies Active to the request itself, not a copy; a
	// retry copies it and puts back what before holds.
	before    []headerValues
	beforeBuf [8]headerValues // room for a usual request's header, in the exchange's own allocation
}

// headerValues is one header's value slice. A credential's Header.Set or
// Add replaces or extends the slice, never changes its elements, so the
// slice kept still holds the values as they were.
type headerValues struct {
	key  string
	vals []string
}

// markHeader records h as it is before any credential.
func (x *exchange) markHeader(h http.Header) {
	x.before = x.beforeBuf[:0]
	for k, vs := range h {
		x.before = append(x.before, headerValues{k, vs})
	}
}

// credentialSet reports whether header k's values vs were set by a
// credential: added, replaced or extended since markHeader.
func (x *exchange) credentialSet(k string, vs []string) bool {
	for _, b := range x.before {
		if b.key == k {
			return len(b.vals) != len(vs) || len(vs) > 0 && &b.vals[0] != &vs[0]
		}
	}
	return true
}

// unapply returns a copy of sent without the credential applied to it:
// the header, URL and Host as they were before.
func (x *exchange) unapply(sent *http.Request) *http.Request {
	out := sent.Clone(sent.Context())
	for k, vs := range out.Header {
		if x.credentialSet(k, vs) {
			delete(out.Header, k)
		}
	}
	for _, b := range x.before {
		if _, ok := out.Header[b.key]; !ok {
			out.Header[b.key] = b.vals
		}
	}
	u := x.target
	out.URL, out.Host = &u, ""
	return out
}

// exchanges recycles exchanges between ServeTarget calls.
var exchanges = sync.Pool{New: func() any { return new(exchange) }}

// stripped reports whether the canonical header key k is one the caller
// must not send upstream: its own credentials, forwarding and hop-by-hop
// headers, and Storm's own headers. A switch, not a map: it runs for
// every header of every proxied request.
func stripped(k string) bool {
	switch k {
	case "Authorization", "Cookie", "Cookie2", "Proxy-Authorization",
		"Forwarded", "Host", "X-Real-Ip":
		return true
	}
	return hopByHop(k) || strings.HasPrefix(k, "Proxy-") || strings.HasPrefix(k, "X-Forwarded-") || strings.HasPrefix(k, "Storm-")
}

// RoundTrip sends the request with Active applied and, on a 401, once more
// with Fallback applied if the body can be replayed.
func (x *exchange) RoundTrip(req *http.Request) (*http.Response, error) {
	x.markHeader(req.Header)
	body := req.Body
	var buf []byte
	buffered := false
	rewindable := body == nil || body == http.NoBody
	if !rewindable && (x.t.Fallback != nil || signsBody(x.t.Active)) && x.p.maxRetryBody > 0 && req.ContentLength <= x.p.maxRetryBody {
		b, err := io.ReadAll(io.LimitReader(body, x.p.maxRetryBody+1))
		if err != nil {
			return nil, &bodyError{err}
		}
		if int64(len(b)) <= x.p.maxRetryBody {
			buf, buffered, rewindable = b, true, true
		} else {
			// Too big to keep: send what was read, then stream the rest.
			body = readCloser{io.MultiReader(bytes.NewReader(b), body), body}
		}
	}

	// prepare applies c to out, the request itself the first time (no
	// one else holds it: outbound made it for this exchange).
	prepare := func(out *http.Request, c Credential) (*http.Request, error) {
		switch {
		case buffered && len(buf) == 0:
			out.Body, out.GetBody, out.ContentLength = http.NoBody, nil, 0
			out.TransferEncoding = nil
		case buffered:
			out.Body = io.NopCloser(bytes.NewReader(buf))
			out.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(buf)), nil }
			out.ContentLength = int64(len(buf))
			out.TransferEncoding = nil
		default:
			out.Body = body
		}
		if err := c.Apply(out); err != nil {
			return nil, &applyError{err}
		}
		if !strings.EqualFold(out.URL.Scheme, x.target.Scheme) || !strings.EqualFold(out.URL.Host, x.target.Host) ||
			out.URL.User != nil || (out.Host != "" && !strings.EqualFold(out.Host, out.URL.Host) && !strings.EqualFold(out.Host, withoutDefaultPort(out.URL))) {
			return nil, errCredentialMoved
		}
		return out, nil
	}
	send := func(out *http.Request) (*http.Response, error) {
		x.sent = out
		res, err := x.p.transport.RoundTrip(out)
		if err == nil && !x.exp.setBody(res.Body) {
			return nil, errExchangeTimeout // its deadline passed meanwhile
		}
		return res, err
	}

	first, err := prepare(req, x.t.Active)
	if err != nil {
		return nil, err
	}
	res, err := send(first)
	if err != nil || res.StatusCode != http.StatusUnauthorized || x.t.Fallback == nil || !rewindable {
		return res, err
	}
	// The transport may hold first until res.Body is closed: a copy. Its
	// Fallback may wait (a forced refresh): under a context the
	// deadline cancels.
	retry, err := prepare(x.exp.bind(x.unapply(first)), x.t.Fallback)
	if errors.Is(err, ErrNoFallback) {
		return res, nil
	}
	// Let the connection be reused, but do not wait on a huge error body.
	io.CopyN(io.Discard, res.Body, 64<<10)
	res.Body.Close()
	if err != nil {
		return nil, err
	}
	res, err = send(retry)
	if err != nil {
		return nil, err
	}
	if a, ok := x.t.Fallback.(AnsweredFallback); ok && res.StatusCode != http.StatusUnauthorized {
		a.Answered()
	}
	return res, nil
}

// withoutDefaultPort returns u.Host without an explicit default port
// (":443" for https, ":80" for http): the same origin, as some signers
// (AWS SigV4) write it in the Host header.
func withoutDefaultPort(u *url.URL) string {
	port := u.Port()
	if (strings.EqualFold(u.Scheme, "https") && port == "443") || (strings.EqualFold(u.Scheme, "http") && port == "80") {
		return strings.TrimSuffix(u.Host, ":"+port)
	}
	return u.Host
}

type readCloser struct {
	io.Reader
	io.Closer
}

// rewriteLocationHeader rewrites an answer's Location (rewriteLocation).
func (x *exchange) rewriteLocationHeader(h http.Header) {
	if loc := h.Get("Location"); loc != "" && x.t.ProxyPrefix != "" {
		if nl, ok := x.rewriteLocation(loc); ok {
			h.Set("Location", nl)
		}
	}
}

// rewriteLocation maps a Location inside Base (same origin, under the path
// prefix) to the same place under ProxyPrefix, without the credential's
// query parameters. Anything else is left alone: the caller may follow it,
// but Storm never sends a credential there.
func (x *exchange) rewriteLocation(loc string) (string, bool) {
	ref, err := url.Parse(loc)
	if err != nil {
		return "", false
	}
	// Resolve against the caller's URL, never the credentialed one, so a
	// fragment-only Location cannot pick up a credential from the query.
	base := &url.URL{Scheme: x.target.Scheme, Host: x.target.Host, Path: x.target.Path, RawPath: x.target.RawPath}
	abs := base.ResolveReference(ref)
	if abs.User != nil || abs.Opaque != "" || originOf(abs) != originOf(&x.target) {
		return "", false
	}
	ep := abs.EscapedPath()
	rest, ok := strings.CutPrefix(ep, x.prefix+"/")
	if !ok {
		if ep != x.prefix {
			return "", false
		}
		rest = ""
	}
	if checkPath(rest) != nil {
		return "", false
	}
	out := strings.TrimRight(x.t.ProxyPrefix, "/") + "/" + rest
	if q := stripParams(abs.RawQuery, x.credentialParams()); q != "" {
		out += "?" + q
	}
	if abs.Fragment != "" {
		out += "#" + abs.EscapedFragment()
	}
	return out, true
}

// credentialParams returns the names of query parameters the credential
// added or changed in the request last sent.
func (x *exchange) credentialParams() map[string]bool {
	if x.sent == nil || x.sent.URL.RawQuery == x.target.RawQuery {
		return nil
	}
	before, _ := url.ParseQuery(x.target.RawQuery)
	after, _ := url.ParseQuery(x.sent.URL.RawQuery)
	names := map[string]bool{}
	for k, vs := range after {
		if !slices.Equal(before[k], vs) {
			names[k] = true
		}
	}
	return names
}

// secretValues returns the values the credential put in the last request
// sent (changed query parameters and headers), to scrub from log lines.
func (x *exchange) secretValues() []string {
	if x.sent == nil {
		return nil
	}
	var vals []string
	after, _ := url.ParseQuery(x.sent.URL.RawQuery)
	for k := range x.credentialParams() {
		vals = append(vals, after[k]...)
	}
	for k, vs := range x.sent.Header {
		if x.credentialSet(k, vs) {
			for _, v := range vs {
				vals = append(vals, v)
				vals = append(vals, strings.Fields(v)...) // "Bearer <token>" → token
			}
		}
	}
	return vals
}

// stripParams removes the named parameters from a raw query, leaving the
// others exactly as they were.
func stripParams(raw string, names map[string]bool) string {
	if raw == "" || len(names) == 0 {
		return raw
	}
	var kept []string
	for pair := range strings.SplitSeq(raw, "&") {
		key, _, _ := strings.Cut(pair, "=")
		if k, err := url.QueryUnescape(key); err == nil && names[k] {
			continue
		}
		kept = append(kept, pair)
	}
	return strings.Join(kept, "&")
}

func (x *exchange) errorHandler(w http.ResponseWriter, r *http.Request, err error) {
	status, detail := classify(r.Context(), err)
	level := slog.LevelWarn
	if errors.Is(err, context.Canceled) && !errors.Is(context.Cause(r.Context()), context.DeadlineExceeded) {
		level = slog.LevelDebug // the caller went away
	}
	msg := err.Error()
	for _, v := range x.secretValues() {
		if len(v) >= 4 {
			msg = strings.ReplaceAll(msg, v, "[REDACTED]")
			msg = strings.ReplaceAll(msg, url.QueryEscape(v), "[REDACTED]")
		}
	}
	x.p.log.LogAttrs(r.Context(), level, "proxy: upstream request failed",
		slog.String("upstream", logURL(&x.target)),
		slog.String("method", r.Method),
		slog.Int("status", status),
		slog.String("error", msg))
	problem.Write(w, problem.New(status, "%s", detail))
}

// classify maps a forwarding error to the status and detail shown to the
// caller. Details are fixed strings: they never carry upstream URLs,
// addresses or credential errors.
func classify(ctx context.Context, err error) (int, string) {
	var (
		mbe *http.MaxBytesError
		be  *bodyError
		ae  *applyError
		ne  net.Error
	)
	switch {
	case errors.Is(err, ErrForbiddenDestination):
		return http.StatusForbidden, "the integration's base URL resolves to an address Storm may not contact"
	case errors.As(err, &mbe):
		return http.StatusRequestEntityTooLarge, "request body too large"
	case errors.As(err, &be):
		return http.StatusBadRequest, "the request body could not be read"
	case errors.As(err, &ae):
		return http.StatusBadGateway, "the credential could not be applied to the request"
	case errors.Is(err, errCredentialMoved):
		return http.StatusInternalServerError, "the credential could not be applied to the request"
	case errors.Is(err, context.DeadlineExceeded), errors.Is(context.Cause(ctx), context.DeadlineExceeded),
		errors.As(err, &ne) && ne.Timeout():
		return http.StatusGatewayTimeout, "the upstream did not answer in time"
	default:
		return http.StatusBadGateway, "the upstream could not be reached"
	}
}

// bufferPool recycles ReverseProxy copy buffers. It keeps them as array
// pointers: a slice put back would need a new pointer to it each time.
type bufferPool struct{ pool sync.Pool }

const copyBufferSize = 32 << 10

func (b *bufferPool) Get() []byte { return b.pool.Get().(*[copyBufferSize]byte)[:] }

func (b *bufferPool) Put(p []byte) {
	if len(p) == copyBufferSize {
		b.pool.Put((*[copyBufferSize]byte)(p))
	}
}
