package api

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"errors"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/stormcreds/storm/internal/events"
	"github.com/stormcreds/storm/internal/problem"
	"github.com/stormcreds/storm/internal/store"
)

// TokenPrefix starts every API token, so secret scanners can find leaked
// ones.
const TokenPrefix = "storm_"

// NewToken returns a new API token (256 random bits) and its hash.
func NewToken() (token string, hash []byte) {
	var b [32]byte
	rand.Read(b[:])
	token = TokenPrefix + strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b[:]))
	return token, HashToken(token)
}

// HashToken is how API tokens are stored: a SHA-256, which is enough for
// 256-bit random tokens (no guessable input to slow down).
func HashToken(token string) []byte {
	h := sha256.Sum256([]byte(token))
	return h[:]
}

var roleRank = map[string]int{store.RoleViewer: 1, store.RoleWorker: 2, store.RoleEditor: 3, store.RoleAdmin: 4}

// ValidRole reports whether role is one of the four roles.
func ValidRole(role string) bool { return roleRank[role] > 0 }

// principal is the authenticated caller.
type principal struct {
	token store.APIToken
	ip    string
}

func (p principal) admin() bool { return p.token.Role == store.RoleAdmin }

func (p principal) actor() events.Actor { return events.Actor{TokenID: p.token.ID, IP: p.ip} }

// Allows reports whether a token of role may do what needs at least
// least (admin > editor > worker > viewer).
func Allows(role, least string) bool { return roleRank[role] >= roleRank[least] && roleRank[role] > 0 }

// Visible reports whether tok may see objects of workspaceID: admins
// see every workspace, other roles their own. What a token may not see
// is answered as "not found", never "forbidden".
func Visible(tok store.APIToken, workspaceID string) bool {
	return tok.Role == store.RoleAdmin || tok.WorkspaceID == workspaceID
}

// ActorOf is who a request made with tok is, for events and audit: the
// token id and the client's address.
func ActorOf(tok store.APIToken, r *http.Request) events.Actor {
	return events.Actor{TokenID: tok.ID, IP: clientIP(r)}
}

func clientIP(r *http.Request) string {
	ip, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return ip
}

// LookupToken finds the API token whose secret is token, through the
// same short-lived cache as bearer authentication; store.ErrNotFound
// when it is not valid. A pasted "Bearer <token>" (any case) is taken
// as the token.
func (s *Server) LookupToken(ctx context.Context, token string) (store.APIToken, error) {
	if t, ok := bearerToken(token); ok {
		token = t
	}
	return s.verifiedToken(ctx, strings.TrimSpace(token))
}

// verifiedToken returns the API token whose secret is raw, through the
// token cache, and keeps its last use fresh; store.ErrNotFound when it is
// not valid. One clock read serves both.
func (s *Server) verifiedToken(ctx context.Context, raw string) (store.APIToken, error) {
	now := s.now()
	tok, err := s.tokens.lookup(ctx, raw, now)
	if err == nil {
		s.used(ctx, tok, now)
	}
	return tok, err
}

// bearerToken returns the credentials of an Authorization header value
// that uses the Bearer scheme. Schemes are case-insensitive (RFC 7235
// §2.1), so "bearer" and "BEARER" count, and extra spaces around the
// token are tolerated.
func bearerToken(header string) (string, bool) {
	scheme, rest, ok := strings.Cut(strings.TrimSpace(header), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	tok := strings.TrimSpace(rest)
	return tok, tok != ""
}

type principalKey struct{}

// nobody is the principal of a request no token admitted.
var nobody principal

// principalFrom returns who sent the request of ctx (nobody when no token
// admitted it), to read, never to change: a pointer, not a copy of the
// token on the stack of every handler that asks.
func principalFrom(ctx context.Context) *principal {
	if p, ok := ctx.Value(principalKey{}).(*principal); ok {
		return p
	}
	if sc := scopeFrom(ctx); sc != nil && sc.admitted {
		return &sc.principal
	}
	return &nobody
}

// authenticate admits requests with a valid bearer token of at least
// role.
func (s *Server) authenticate(role string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r = s.admit(w, r, role); r != nil {
			next.ServeHTTP(w, r)
		}
	})
}

// admit returns r with its principal when it carries a valid bearer token
// of at least role; otherwise it answers r and returns nil. Not part of
// authenticate's handler: its frame (the token, the principal, the
// problems) is off the stack before the next handler runs. A proxied
// request's stack then stays under 8 KiB, which spares the runtime
// growing it again on the next request after every GC has shrunk it.
func (s *Server) admit(w http.ResponseWriter, r *http.Request, role string) *http.Request {
	raw, ok := bearerToken(r.Header.Get("Authorization"))
	if !ok {
		w.Header().Set("WWW-Authenticate", `Bearer realm="storm"`)
		problem.Write(w, problem.New(http.StatusUnauthorized, "send an API token: Authorization: Bearer <token>"))
		return nil
	}
	tok, err := s.verifiedToken(r.Context(), raw)
	if err != nil {
		if !errors.Is(err, store.ErrNotFound) {
			s.writeError(w, r, err)
			return nil
		}
		w.Header().Set("WWW-Authenticate", `Bearer realm="storm", error="invalid_token"`)
		problem.Write(w, problem.New(http.StatusUnauthorized, "the API token is not valid"))
		return nil
	}
	if !Allows(tok.Role, role) {
		problem.Write(w, problem.New(http.StatusForbidden, "role %s may not do this (needs %s)", tok.Role, role))
		return nil
	}
	if sc := scopeFrom(r.Context()); sc != nil && !sc.admitted {
		// Built in place: a local whose address the other branch takes
		// would be a heap allocation on every request.
		sc.principal, sc.admitted = principal{token: tok, ip: clientIP(r)}, true // before any reader: next has not run
		return r
	}
	return r.WithContext(context.WithValue(r.Context(), principalKey{}, &principal{token: tok, ip: clientIP(r)}))
}

// tokenCache keeps recently verified tokens so the hot paths do not read
// the store on every request. A sync.Map: every request reads it, and an
// RWMutex's reader count is a cache line the CPUs contend for.
type tokenCache struct {
	store store.Store
	ttl   time.Duration
	byKey sync.Map     // the token's hash ([sha256.Size]byte) → cachedToken
	size  atomic.Int64 // entries in byKey, about
}

// maxCachedTokens bounds the cache; past it, it starts again empty.
const maxCachedTokens = 10000

type cachedToken struct {
	tok     store.APIToken
	expires time.Time
}

func newTokenCache(st store.Store, ttl time.Duration) *tokenCache {
	return &tokenCache{store: st, ttl: ttl}
}

// lookup returns token's record, from the cache when it was verified
// less than the cache's TTL before now.
func (c *tokenCache) lookup(ctx context.Context, token string, now time.Time) (store.APIToken, error) {
	if len(token) > 200 {
		return store.APIToken{}, store.ErrNotFound
	}
	// Hashed from a copy on the stack: HashToken allocates twice.
	var buf [200]byte
	hash := sha256.Sum256(append(buf[:0], token...))
	if v, ok := c.byKey.Load(hash); ok { // an array key: no allocation
		if e := v.(cachedToken); now.Before(e.expires) {
			return e.tok, nil
		}
	}
	return c.fill(ctx, hash, now)
}

// fill reads the token whose hash is hash from the store and caches it.
// Apart from lookup: a hash kept in the map escapes, and in lookup that
// would move it to the heap on every call, hit or miss.
func (c *tokenCache) fill(ctx context.Context, hash [sha256.Size]byte, now time.Time) (store.APIToken, error) {
	tok, err := c.store.GetAPITokenByHash(ctx, hash[:])
	if err != nil {
		return store.APIToken{}, err
	}
	if c.size.Load() >= maxCachedTokens {
		c.byKey.Clear() // bound memory; entries refill on demand
		c.size.Store(0)
	}
	if _, refreshed := c.byKey.Swap(hash, cachedToken{tok: tok, expires: now.Add(c.ttl)}); !refreshed {
		c.size.Add(1)
	}
	return tok, nil
}

func (c *tokenCache) forget(id string) {
	c.byKey.Range(func(k, v any) bool {
		if v.(cachedToken).tok.ID == id {
			c.byKey.Delete(k)
		}
		return true
	})
}

// workspace resolves a workspace reference (id or name; empty means the
// caller's own) that the caller may see; others are "not found".
func (s *Server) workspace(ctx context.Context, ref string) (store.Workspace, error) {
	p := principalFrom(ctx)
	if ref == "" {
		ref = p.token.WorkspaceID
	}
	ws, err := s.cfg.Store.GetWorkspace(ctx, ref)
	if errors.Is(err, store.ErrNotFound) || (err == nil && !Visible(p.token, ws.ID)) {
		return store.Workspace{}, problem.NotFound("workspace", ref)
	}
	return ws, err
}

// integration loads an integration the caller may see.
func (s *Server) integration(r *http.Request) (store.Integration, error) {
	return s.visibleIntegration(r, s.cfg.Store.GetIntegration)
}

// usedIntegration is integration for the hot paths (/access, /proxy):
// it reads through the credential cache instead of the store.
func (s *Server) usedIntegration(r *http.Request) (store.Integration, error) {
	return s.visibleIntegration(r, s.cfg.Creds.CachedIntegration)
}

func (s *Server) visibleIntegration(r *http.Request, get func(context.Context, string) (store.Integration, error)) (store.Integration, error) {
	id := routeID(r)
	p := principalFrom(r.Context())
	in, err := get(r.Context(), id)
	if errors.Is(err, store.ErrNotFound) || (err == nil && !Visible(p.token, in.WorkspaceID)) {
		return store.Integration{}, problem.NotFound("integration", id)
	}
	return in, err
}
