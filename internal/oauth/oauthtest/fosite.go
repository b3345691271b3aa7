package oauthtest

import (
	"bytes"
	"context"
	"crypto/subtle"
	"errors"
	"strings"
	"sync/atomic"
	"time"

	"github.com/ory/fosite"
	"github.com/ory/fosite/handler/oauth2"
	"github.com/ory/fosite/storage"
)

// memoryStore is fosite's MemoryStore with switchable refresh-token
// rotation. When the context carries keepRefreshTokenKey, a refresh neither
// invalidates the presented refresh token nor stores the newly generated
// one (the handler then answers with the old token or none), so the old
// refresh token, its expiry and the request-ID → token mapping used for
// revocation all stay as they were.
type memoryStore struct {
	*storage.MemoryStore
}

func keepRefreshToken(ctx context.Context) bool {
	v, _ := ctx.Value(keepRefreshTokenKey{}).(bool)
	return v
}

func (m *memoryStore) RotateRefreshToken(ctx context.Context, requestID, refreshTokenSignature string) error {
	if keepRefreshToken(ctx) {
		return nil
	}
	return m.MemoryStore.RotateRefreshToken(ctx, requestID, refreshTokenSignature)
}

func (m *memoryStore) CreateRefreshTokenSession(ctx context.Context, signature, accessSignature string, req fosite.Requester) error {
	if keepRefreshToken(ctx) {
		return nil
	}
	return m.MemoryStore.CreateRefreshTokenSession(ctx, signature, accessSignature, req)
}

// tokenStrategy issues opaque HMAC tokens, or JWT access tokens while
// useJWT is set. Both kinds of access token are recognised at any time
// (a JWT has two dots, an HMAC token one).
type tokenStrategy struct {
	*oauth2.HMACSHAStrategy
	jwt    *oauth2.DefaultJWTStrategy
	useJWT *atomic.Bool
}

func isJWT(token string) bool { return strings.Count(token, ".") == 2 }

func (t *tokenStrategy) AccessTokenSignature(ctx context.Context, token string) string {
	if isJWT(token) {
		return t.jwt.AccessTokenSignature(ctx, token)
	}
	return t.HMACSHAStrategy.AccessTokenSignature(ctx, token)
}

func (t *tokenStrategy) GenerateAccessToken(ctx context.Context, r fosite.Requester) (string, string, error) {
	if !t.useJWT.Load() {
		return t.HMACSHAStrategy.GenerateAccessToken(ctx, r)
	}
	if sess, ok := r.GetSession().(*oauth2.JWTSession); ok && sess.JWTClaims != nil {
		c := sess.JWTClaims
		// The claims live in the session and survive refreshes; fosite
		// only sets iat when it is zero.
		c.IssuedAt = time.Now().UTC()
		if c.Subject == "" {
			c.Subject = sess.Subject
		}
		if c.Extra == nil {
			c.Extra = map[string]interface{}{}
		}
		if cl := r.GetClient(); cl != nil {
			c.Extra["client_id"] = cl.GetID()
		}
	}
	return t.jwt.GenerateAccessToken(ctx, r)
}

func (t *tokenStrategy) ValidateAccessToken(ctx context.Context, r fosite.Requester, token string) error {
	if isJWT(token) {
		return t.jwt.ValidateAccessToken(ctx, r, token)
	}
	return t.HMACSHAStrategy.ValidateAccessToken(ctx, r, token)
}

// plainHasher stores client secrets as they are; fosite's default bcrypt
// (cost 12) would make every token request slow.
type plainHasher struct{}

func (plainHasher) Compare(_ context.Context, hash, data []byte) error {
	if subtle.ConstantTimeCompare(hash, data) == 1 {
		return nil
	}
	return errors.New("client secret mismatch")
}

func (plainHasher) Hash(_ context.Context, data []byte) ([]byte, error) {
	return bytes.Clone(data), nil
}

// scopeStrategy allows any scope to clients (and JWT bearer keys) that list
// none, and exact matches otherwise.
func scopeStrategy(haystack []string, needle string) bool {
	if len(haystack) == 0 {
		return true
	}
	return fosite.ExactScopeStrategy(haystack, needle)
}
