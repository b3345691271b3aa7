package oauth1test

import (
	"cmp"
	"context"
	"crypto"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash"
	"io"
	"mime"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// DecisionHeader carries the resource owner's decision ("approve" or
// "deny") on a GET of the authorize endpoint (Approve and Deny set it).
const DecisionHeader = "X-Oauth1test-Decision"

// Options configures a Server; the zero value is a sensible default.
type Options struct {
	// Realm is announced in WWW-Authenticate; default "oauth1test".
	Realm string
	// Now is the server's clock for timestamps; default time.Now.
	Now func() time.Time
	// Window is how far oauth_timestamp may be from Now; default 5 min.
	Window time.Duration
	// Paths of the three endpoints; defaults /request_token, /authorize
	// and /access_token. Every other path is the protected resource.
	RequestTokenPath, AuthorizePath, AccessTokenPath string
}

// Consumer is a registered client.
type Consumer struct {
	Key string
	// Secret verifies HMAC-SHA1, HMAC-SHA256 and PLAINTEXT signatures.
	Secret string
	// PublicKey verifies RSA-SHA1 signatures.
	PublicKey *rsa.PublicKey
	// Methods are the signature methods accepted from this consumer;
	// empty accepts every method its credentials allow.
	Methods []string
}

type temporary struct {
	consumer, secret, callback, verifier string
	authorized                           bool
}

type token struct {
	consumer, secret string
}

// Server is a running OAuth 1.0a provider. Its methods are safe for
// concurrent use.
type Server struct {
	URL string

	t    testing.TB
	opts Options
	srv  *httptest.Server

	mu        sync.Mutex
	consumers map[string]Consumer
	temps     map[string]*temporary
	tokens    map[string]token
	nonces    map[string]bool
	rejection string

	verified, rejected                                 atomic.Int64
	requestTokenCalls, accessTokenCalls, resourceCalls atomic.Int64
}

// New starts a Server over plain HTTP; it is closed when the test ends.
func New(t testing.TB, opts Options) *Server {
	t.Helper()
	s := NewUnstarted(t, opts)
	s.srv = httptest.NewServer(s)
	s.URL = s.srv.URL
	t.Cleanup(s.srv.Close)
	return s
}

// NewUnstarted returns a Server that only answers through ServeHTTP (for
// requests with a Host of the test's choosing, such as the RFC's
// examples). Its URL is empty.
func NewUnstarted(t testing.TB, opts Options) *Server {
	if opts.Realm == "" {
		opts.Realm = "oauth1test"
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Window <= 0 {
		opts.Window = 5 * time.Minute
	}
	opts.RequestTokenPath = cmp.Or(opts.RequestTokenPath, "/request_token")
	opts.AuthorizePath = cmp.Or(opts.AuthorizePath, "/authorize")
	opts.AccessTokenPath = cmp.Or(opts.AccessTokenPath, "/access_token")
	return &Server{t: t, opts: opts, consumers: map[string]Consumer{}, temps: map[string]*temporary{},
		tokens: map[string]token{}, nonces: map[string]bool{}}
}

// Endpoint URLs.
func (s *Server) RequestTokenURL() string { return s.URL + s.opts.RequestTokenPath }
func (s *Server) AuthorizeURL() string    { return s.URL + s.opts.AuthorizePath }
func (s *Server) AccessTokenURL() string  { return s.URL + s.opts.AccessTokenPath }

// ResourceURL is a protected resource's URL (any path other than the
// three endpoints is one).
func (s *Server) ResourceURL(path string) string { return s.URL + path }

// AddConsumer registers a client.
func (s *Server) AddConsumer(c Consumer) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.consumers[c.Key] = c
}

// IssueToken issues token credentials out of band (as NetSuite does for
// token-based authentication) and returns them.
func (s *Server) IssueToken(consumerKey string) (tok, secret string) {
	tok, secret = randomString(), randomString()
	s.AddToken(consumerKey, tok, secret)
	return tok, secret
}

// AddToken adds token credentials with chosen values.
func (s *Server) AddToken(consumerKey, tok, secret string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tokens[tok] = token{consumerKey, secret}
}

// AddTemporary adds authorized temporary credentials with a verifier,
// as if the resource owner had approved them.
func (s *Server) AddTemporary(consumerKey, tok, secret, verifier string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.temps[tok] = &temporary{consumer: consumerKey, secret: secret, callback: "oob", verifier: verifier, authorized: true}
}

// RevokeToken makes token credentials invalid.
func (s *Server) RevokeToken(tok string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.tokens, tok)
}

// ValidToken reports whether tok is a usable access token.
func (s *Server) ValidToken(tok string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.tokens[tok]
	return ok
}

// Verified counts requests whose signature and nonce were accepted;
// Rejected counts refused ones.
func (s *Server) Verified() int64 { return s.verified.Load() }
func (s *Server) Rejected() int64 { return s.rejected.Load() }

// RequestTokenCalls, AccessTokenCalls and ResourceCalls count requests
// to each endpoint, accepted or not.
func (s *Server) RequestTokenCalls() int64 { return s.requestTokenCalls.Load() }
func (s *Server) AccessTokenCalls() int64  { return s.accessTokenCalls.Load() }
func (s *Server) ResourceCalls() int64     { return s.resourceCalls.Load() }

// LastRejection is the oauth_problem and advice of the last refusal.
func (s *Server) LastRejection() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.rejection
}

// Approve is the resource owner approving at authorizeURL; it returns the
// redirect to the client's callback (with oauth_token and oauth_verifier).
func (s *Server) Approve(ctx context.Context, authorizeURL string) (*url.URL, error) {
	return s.decide(ctx, authorizeURL, "approve")
}

// Deny is the resource owner refusing; the redirect carries denied=<token>.
func (s *Server) Deny(ctx context.Context, authorizeURL string) (*url.URL, error) {
	return s.decide(ctx, authorizeURL, "deny")
}

func (s *Server) decide(ctx context.Context, authorizeURL, decision string) (*url.URL, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, authorizeURL, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set(DecisionHeader, decision)
	hc := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != http.StatusFound {
		return nil, fmt.Errorf("oauth1test: authorize answered %s: %s", resp.Status, strings.TrimSpace(string(body)))
	}
	return resp.Location()
}

// ---- the protocol, written from RFC 5849 ----

// request is an incoming request's parameters, sorted out.
type request struct {
	protocol map[string]string // oauth_* parameters, wherever sent
	params   [][2]string       // every signed parameter (§3.4.1.3.1)
	realm    string
}

// rejection is a refused request: status and oauth_problem.
type rejection struct {
	status  int
	problem string
	advice  string
}

func reject(status int, problem, format string, args ...any) *rejection {
	return &rejection{status, problem, fmt.Sprintf(format, args...)}
}

// ServeHTTP answers the three endpoints and the protected resource.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	path, _ := target(r)
	switch path {
	case s.opts.RequestTokenPath:
		s.requestTokenCalls.Add(1)
		s.handleRequestToken(w, r)
	case s.opts.AuthorizePath:
		s.handleAuthorize(w, r)
	case s.opts.AccessTokenPath:
		s.accessTokenCalls.Add(1)
		s.handleAccessToken(w, r)
	default:
		s.resourceCalls.Add(1)
		s.handleResource(w, r)
	}
}

func (s *Server) fail(w http.ResponseWriter, rj *rejection) {
	s.rejected.Add(1)
	s.mu.Lock()
	s.rejection = rj.problem + ": " + rj.advice
	s.mu.Unlock()
	if rj.status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `OAuth realm="`+s.opts.Realm+`"`)
	}
	w.Header().Set("Content-Type", "application/x-www-form-urlencoded")
	w.WriteHeader(rj.status)
	fmt.Fprintf(w, "oauth_problem=%s&oauth_problem_advice=%s", url.QueryEscape(rj.problem), url.QueryEscape(rj.advice))
}

func (s *Server) handleRequestToken(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		s.fail(w, reject(http.StatusMethodNotAllowed, "method_not_allowed", "use POST"))
		return
	}
	req, rj := s.verify(r, func(string) (string, bool) { return "", true })
	if rj != nil {
		s.fail(w, rj)
		return
	}
	if req.protocol["oauth_token"] != "" {
		s.fail(w, reject(http.StatusBadRequest, "parameter_rejected", "a request-token call carries no oauth_token"))
		return
	}
	cb, ok := req.protocol["oauth_callback"]
	if !ok {
		s.fail(w, reject(http.StatusBadRequest, "parameter_absent", "oauth_callback is required"))
		return
	}
	if u, err := url.Parse(cb); cb != "oob" && (err != nil || !u.IsAbs()) {
		s.fail(w, reject(http.StatusBadRequest, "parameter_rejected", "oauth_callback must be an absolute URI or oob"))
		return
	}
	tok, sec := randomString(), randomString()
	s.mu.Lock()
	s.temps[tok] = &temporary{consumer: req.protocol["oauth_consumer_key"], secret: sec, callback: cb}
	s.mu.Unlock()
	w.Header().Set("Content-Type", "application/x-www-form-urlencoded")
	fmt.Fprintf(w, "oauth_token=%s&oauth_token_secret=%s&oauth_callback_confirmed=true", tok, sec)
}

func (s *Server) handleAuthorize(w http.ResponseWriter, r *http.Request) {
	tok := r.URL.Query().Get("oauth_token")
	s.mu.Lock()
	tmp, ok := s.temps[tok]
	if ok && r.Header.Get(DecisionHeader) == "approve" {
		tmp.authorized = true
		tmp.verifier = randomString()
	}
	var cb, verifier string
	if ok {
		cb, verifier = tmp.callback, tmp.verifier
	}
	s.mu.Unlock()
	if !ok {
		http.Error(w, "oauth1test: unknown oauth_token", http.StatusBadRequest)
		return
	}
	var add string
	switch r.Header.Get(DecisionHeader) {
	case "approve":
		if cb == "oob" {
			fmt.Fprintf(w, "verifier: %s\n", verifier)
			return
		}
		add = "oauth_token=" + url.QueryEscape(tok) + "&oauth_verifier=" + url.QueryEscape(verifier)
	case "deny":
		add = "denied=" + url.QueryEscape(tok)
	default:
		fmt.Fprintln(w, "oauth1test: send "+DecisionHeader+": approve or deny")
		return
	}
	u, _ := url.Parse(cb)
	if u.RawQuery != "" {
		u.RawQuery += "&" + add // RFC 5849 §2.2: appended to the existing query
	} else {
		u.RawQuery = add
	}
	http.Redirect(w, r, u.String(), http.StatusFound)
}

func (s *Server) handleAccessToken(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		s.fail(w, reject(http.StatusMethodNotAllowed, "method_not_allowed", "use POST"))
		return
	}
	var used *temporary
	req, rj := s.verify(r, func(tok string) (string, bool) {
		tmp, ok := s.temps[tok]
		if !ok {
			return "", false
		}
		used = tmp
		return tmp.secret, true
	})
	if rj != nil {
		s.fail(w, rj)
		return
	}
	tok := req.protocol["oauth_token"]
	s.mu.Lock()
	defer s.mu.Unlock()
	switch tmp, ok := s.temps[tok]; {
	case !ok || tmp != used:
		s.rejected.Add(1)
		s.failLocked(w, reject(http.StatusUnauthorized, "token_used", "the temporary credentials were used already"))
	case tmp.consumer != req.protocol["oauth_consumer_key"]:
		s.rejected.Add(1)
		s.failLocked(w, reject(http.StatusUnauthorized, "token_rejected", "the temporary credentials belong to another client"))
	case !tmp.authorized:
		s.rejected.Add(1)
		s.failLocked(w, reject(http.StatusUnauthorized, "permission_unknown", "the resource owner has not authorized these credentials"))
	case subtle.ConstantTimeCompare([]byte(req.protocol["oauth_verifier"]), []byte(tmp.verifier)) != 1:
		s.rejected.Add(1)
		s.failLocked(w, reject(http.StatusUnauthorized, "verifier_invalid", "oauth_verifier does not match"))
	default:
		delete(s.temps, tok) // RFC 5849 §2: temporary credentials are used once
		at, sec := randomString(), randomString()
		s.tokens[at] = token{tmp.consumer, sec}
		w.Header().Set("Content-Type", "application/x-www-form-urlencoded")
		fmt.Fprintf(w, "oauth_token=%s&oauth_token_secret=%s", at, sec)
	}
}

func (s *Server) failLocked(w http.ResponseWriter, rj *rejection) {
	s.rejection = rj.problem + ": " + rj.advice
	w.Header().Set("Content-Type", "application/x-www-form-urlencoded")
	w.WriteHeader(rj.status)
	fmt.Fprintf(w, "oauth_problem=%s&oauth_problem_advice=%s", url.QueryEscape(rj.problem), url.QueryEscape(rj.advice))
}

// Echo is the protected resource's answer: what the server verified.
type Echo struct {
	ConsumerKey string      `json:"consumer_key"`
	Token       string      `json:"token"`
	Method      string      `json:"method"`
	Realm       string      `json:"realm"`
	Params      [][2]string `json:"params"` // signed non-oauth parameters, decoded, as received
}

func (s *Server) handleResource(w http.ResponseWriter, r *http.Request) {
	req, rj := s.verify(r, func(tok string) (string, bool) {
		t, ok := s.tokens[tok]
		return t.secret, ok
	})
	if rj != nil {
		s.fail(w, rj)
		return
	}
	tok := req.protocol["oauth_token"]
	s.mu.Lock()
	t, ok := s.tokens[tok]
	s.mu.Unlock()
	if !ok || t.consumer != req.protocol["oauth_consumer_key"] {
		s.fail(w, reject(http.StatusUnauthorized, "token_rejected", "no access token of this client"))
		return
	}
	echo := Echo{ConsumerKey: req.protocol["oauth_consumer_key"], Token: tok, Method: r.Method, Realm: req.realm, Params: [][2]string{}}
	for _, p := range req.params {
		if !strings.HasPrefix(p[0], "oauth_") {
			echo.Params = append(echo.Params, p)
		}
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(echo)
}

// verify checks an OAuth-authenticated request (RFC 5849 §3.2): one set
// of protocol parameters, a known consumer, the token (tokenSecret finds
// its secret; called with s.mu held), the signature recomputed from the
// request as received, the timestamp window and a nonce never seen
// before with that timestamp, client and token.
func (s *Server) verify(r *http.Request, tokenSecret func(tok string) (string, bool)) (*request, *rejection) {
	req, rj := collect(r)
	if rj != nil {
		return nil, rj
	}
	p := req.protocol
	for _, name := range []string{"oauth_consumer_key", "oauth_signature_method", "oauth_signature"} {
		if _, ok := p[name]; !ok {
			return nil, reject(http.StatusBadRequest, "parameter_absent", "%s is required", name)
		}
	}
	if v, ok := p["oauth_version"]; ok && v != "1.0" {
		return nil, reject(http.StatusBadRequest, "version_rejected", "oauth_version must be 1.0")
	}
	method := p["oauth_signature_method"]
	if method != "PLAINTEXT" {
		for _, name := range []string{"oauth_timestamp", "oauth_nonce"} {
			if _, ok := p[name]; !ok {
				return nil, reject(http.StatusBadRequest, "parameter_absent", "%s is required with %s", name, method)
			}
		}
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.consumers[p["oauth_consumer_key"]]
	if !ok {
		return nil, reject(http.StatusUnauthorized, "consumer_key_unknown", "unknown client")
	}
	if len(c.Methods) > 0 && !slices.Contains(c.Methods, method) {
		return nil, reject(http.StatusBadRequest, "signature_method_rejected", "this client may not use %s", method)
	}
	var tokSecret string
	if tok := p["oauth_token"]; tok != "" {
		sec, ok := tokenSecret(tok)
		if !ok {
			return nil, reject(http.StatusUnauthorized, "token_rejected", "unknown or expired token")
		}
		tokSecret = sec
	} else if _, ok := tokenSecret(""); !ok {
		return nil, reject(http.StatusUnauthorized, "token_rejected", "a token is required")
	}

	if ts, ok := p["oauth_timestamp"]; ok {
		n, err := strconv.ParseInt(ts, 10, 64)
		if err != nil || n <= 0 {
			return nil, reject(http.StatusBadRequest, "parameter_rejected", "oauth_timestamp must be a positive integer")
		}
		if d := s.opts.Now().Sub(time.Unix(n, 0)); d > s.opts.Window || d < -s.opts.Window {
			return nil, reject(http.StatusUnauthorized, "timestamp_refused", "oauth_timestamp is %v away from the server's clock", d.Round(time.Second))
		}
	}

	sig, err := base64.StdEncoding.DecodeString(p["oauth_signature"])
	keyText := pct(c.Secret) + "&" + pct(tokSecret)
	base := baseString(r, req.params)
	switch method {
	case "PLAINTEXT":
		if subtle.ConstantTimeCompare([]byte(p["oauth_signature"]), []byte(keyText)) != 1 {
			return nil, reject(http.StatusUnauthorized, "signature_invalid", "the PLAINTEXT signature is wrong")
		}
	case "HMAC-SHA1", "HMAC-SHA256":
		var h func() hash.Hash = sha1.New
		if method == "HMAC-SHA256" {
			h = sha256.New
		}
		mac := hmac.New(h, []byte(keyText))
		io.WriteString(mac, base)
		if err != nil || !hmac.Equal(sig, mac.Sum(nil)) {
			return nil, reject(http.StatusUnauthorized, "signature_invalid", "expected a signature over %s", base)
		}
	case "RSA-SHA1":
		if c.PublicKey == nil {
			return nil, reject(http.StatusBadRequest, "signature_method_rejected", "this client has no RSA key")
		}
		sum := sha1.Sum([]byte(base))
		if err != nil || rsa.VerifyPKCS1v15(c.PublicKey, crypto.SHA1, sum[:], sig) != nil {
			return nil, reject(http.StatusUnauthorized, "signature_invalid", "expected a signature over %s", base)
		}
	default:
		return nil, reject(http.StatusBadRequest, "signature_method_rejected", "unsupported signature method")
	}

	if nonce, ok := p["oauth_nonce"]; ok {
		key := strings.Join([]string{p["oauth_consumer_key"], p["oauth_token"], p["oauth_timestamp"], nonce}, "\x00")
		if s.nonces[key] {
			return nil, reject(http.StatusUnauthorized, "nonce_used", "this nonce was used before with this timestamp and these credentials")
		}
		s.nonces[key] = true
	}
	s.verified.Add(1)
	return req, nil
}

// collect gathers the parameters of §3.4.1.3.1 and the protocol
// parameters (§3.5: in exactly one of header, body and query).
func collect(r *http.Request) (*request, *rejection) {
	req := &request{protocol: map[string]string{}}
	locations := 0
	takeProtocol := func(pairs [][2]string) *rejection {
		found := false
		for _, kv := range pairs {
			if !strings.HasPrefix(kv[0], "oauth_") {
				continue
			}
			if !found {
				found = true
				locations++
			}
			if _, dup := req.protocol[kv[0]]; dup {
				return reject(http.StatusBadRequest, "parameter_rejected", "%s appears more than once", kv[0])
			}
			req.protocol[kv[0]] = kv[1]
		}
		return nil
	}

	if h := r.Header.Get("Authorization"); len(h) > 6 && strings.EqualFold(h[:6], "oauth ") {
		pairs, realm, err := parseAuthorization(h[6:])
		if err != "" {
			return nil, reject(http.StatusBadRequest, "parameter_rejected", "Authorization header: %s", err)
		}
		req.realm = realm
		if rj := takeProtocol(pairs); rj != nil {
			return nil, rj
		}
		req.params = append(req.params, pairs...)
	}
	_, rawQuery := target(r)
	query, ok := parseForm(rawQuery)
	if !ok {
		return nil, reject(http.StatusBadRequest, "parameter_rejected", "malformed query")
	}
	if rj := takeProtocol(query); rj != nil {
		return nil, rj
	}
	req.params = append(req.params, query...)

	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt == "application/x-www-form-urlencoded" && r.Body != nil {
		b, err := io.ReadAll(io.LimitReader(r.Body, 4<<20))
		if err != nil {
			return nil, reject(http.StatusBadRequest, "parameter_rejected", "unreadable body")
		}
		body, ok := parseForm(string(b))
		if !ok {
			return nil, reject(http.StatusBadRequest, "parameter_rejected", "malformed form body")
		}
		if rj := takeProtocol(body); rj != nil {
			return nil, rj
		}
		req.params = append(req.params, body...)
	}
	if locations > 1 {
		return nil, reject(http.StatusBadRequest, "parameter_rejected", "protocol parameters in more than one place")
	}
	if locations == 0 {
		return nil, reject(http.StatusUnauthorized, "parameter_absent", "no OAuth protocol parameters")
	}
	// oauth_signature is not signed.
	req.params = slices.DeleteFunc(req.params, func(kv [2]string) bool { return kv[0] == "oauth_signature" })
	return req, nil
}

// parseAuthorization reads the parameters after "OAuth " (§3.5.1):
// name="value" pairs separated by commas and optional whitespace, values
// percent-encoded (§3.6). realm is returned apart and is not a parameter.
func parseAuthorization(h string) (pairs [][2]string, realm, problem string) {
	rest := strings.TrimSpace(h)
	seen := map[string]bool{}
	for rest != "" {
		eq := strings.IndexByte(rest, '=')
		if eq <= 0 {
			return nil, "", "expected name=\"value\""
		}
		name := strings.TrimSpace(rest[:eq])
		rest = strings.TrimLeft(rest[eq+1:], " \t")
		if !strings.HasPrefix(rest, `"`) {
			return nil, "", "values must be quoted"
		}
		end := strings.IndexByte(rest[1:], '"')
		if end < 0 {
			return nil, "", "unterminated quoted value"
		}
		raw := rest[1 : 1+end]
		rest = strings.TrimLeft(rest[end+2:], " \t")
		if rest != "" {
			if rest[0] != ',' {
				return nil, "", "parameters must be separated by commas"
			}
			rest = strings.TrimLeft(rest[1:], " \t\r\n")
		}
		if seen[name] {
			return nil, "", name + " appears more than once"
		}
		seen[name] = true
		if name == "realm" {
			realm = raw
			continue
		}
		value, err := url.PathUnescape(raw)
		if err != nil {
			return nil, "", "malformed percent-encoding"
		}
		n, err := url.PathUnescape(name)
		if err != nil {
			return nil, "", "malformed percent-encoding"
		}
		pairs = append(pairs, [2]string{n, value})
	}
	return pairs, realm, ""
}

// parseForm decodes application/x-www-form-urlencoded text into pairs,
// keeping repeats and empty values ("c2" is c2 with an empty value).
func parseForm(s string) ([][2]string, bool) {
	var out [][2]string
	if s == "" {
		return nil, true
	}
	for _, pair := range strings.Split(s, "&") {
		if pair == "" {
			continue
		}
		n, v, _ := strings.Cut(pair, "=")
		name, err1 := url.QueryUnescape(n)
		value, err2 := url.QueryUnescape(v)
		if err1 != nil || err2 != nil {
			return nil, false
		}
		out = append(out, [2]string{name, value})
	}
	return out, true
}

// baseString computes §3.4.1 from the request as the server received it.
func baseString(r *http.Request, params [][2]string) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	host := strings.ToLower(r.Host)
	if h, port, ok := cutPort(host); ok && ((scheme == "http" && port == "80") || (scheme == "https" && port == "443")) {
		host = h
	}
	path, _ := target(r)
	enc := make([][2]string, len(params))
	for i, kv := range params {
		enc[i] = [2]string{pct(kv[0]), pct(kv[1])}
	}
	slices.SortFunc(enc, func(a, b [2]string) int {
		return cmp.Or(strings.Compare(a[0], b[0]), strings.Compare(a[1], b[1]))
	})
	pairs := make([]string, len(enc))
	for i, kv := range enc {
		pairs[i] = kv[0] + "=" + kv[1]
	}
	return pct(strings.ToUpper(r.Method)) + "&" + pct(scheme+"://"+host+path) + "&" + pct(strings.Join(pairs, "&"))
}

// target splits the request-target as received into its path and raw
// query; an absolute-form target (RFC 9112 §3.2.2) loses its scheme and
// authority.
func target(r *http.Request) (path, rawQuery string) {
	t := r.RequestURI
	for _, scheme := range []string{"http://", "https://"} {
		if len(t) > len(scheme) && strings.EqualFold(t[:len(scheme)], scheme) {
			t = t[len(scheme):]
			if i := strings.IndexAny(t, "/?"); i >= 0 {
				t = t[i:]
			} else {
				t = ""
			}
		}
	}
	path, rawQuery, _ = strings.Cut(t, "?")
	if path == "" {
		path = "/"
	}
	return path, rawQuery
}

func cutPort(host string) (string, string, bool) {
	if strings.HasSuffix(host, "]") {
		return host, "", false
	}
	i := strings.LastIndex(host, ":")
	if i < 0 {
		return host, "", false
	}
	return host[:i], host[i+1:], true
}

// pct is the percent-encoding of RFC 5849 §3.6.
func pct(s string) string {
	const keep = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if strings.IndexByte(keep, s[i]) >= 0 {
			b.WriteByte(s[i])
		} else {
			fmt.Fprintf(&b, "%%%02X", s[i])
		}
	}
	return b.String()
}

func randomString() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
