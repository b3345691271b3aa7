package oauth

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/stormcreds/storm/internal/catalog"
	"github.com/stormcreds/storm/internal/secret"
)

// TokenSet is what an authorization grants: sealed by the vault as one
// credential version's material.
type TokenSet struct {
	AccessToken  secret.String
	RefreshToken secret.String
	TokenType    string
	// Expiry is when the access token expires; zero means it does not
	// (or the provider did not say and there is nothing to refresh with).
	Expiry time.Time
	Scope  string
	// ObtainedAt is when the access token was issued to Storm; with
	// Expiry it gives the token's lifetime.
	ObtainedAt time.Time
}

type tokenJSON struct {
	AccessToken  string    `json:"access_token"`
	RefreshToken string    `json:"refresh_token,omitempty"`
	TokenType    string    `json:"token_type,omitempty"`
	Expiry       time.Time `json:"expiry,omitzero"`
	Scope        string    `json:"scope,omitempty"`
	ObtainedAt   time.Time `json:"obtained_at,omitzero"`
}

// Encode serialises t (plaintext: seal it).
func (t TokenSet) Encode() []byte {
	b, _ := json.Marshal(tokenJSON{t.AccessToken.Reveal(), t.RefreshToken.Reveal(), t.TokenType, t.Expiry, t.Scope, t.ObtainedAt})
	return b
}

// DecodeTokenSet is the inverse of Encode.
func DecodeTokenSet(b []byte) (TokenSet, error) {
	var j tokenJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return TokenSet{}, errors.New("oauth: stored token set is malformed")
	}
	return TokenSet{secret.String(j.AccessToken), secret.String(j.RefreshToken), j.TokenType, j.Expiry, j.Scope, j.ObtainedAt}, nil
}

// String redacts.
func (t TokenSet) String() string { return "oauth.TokenSet([redacted])" }

// Lifetime is how long the access token was valid when obtained; zero
// when unknown or unlimited.
func (t TokenSet) Lifetime() time.Duration {
	if t.Expiry.IsZero() || t.ObtainedAt.IsZero() {
		return 0
	}
	return t.Expiry.Sub(t.ObtainedAt)
}

// FreshAt reports whether the token may be handed out at now: it must
// have at least min(60s, half its lifetime) left (shared/API.md).
func (t TokenSet) FreshAt(now time.Time) bool {
	if t.AccessToken == "" {
		return false
	}
	if t.Expiry.IsZero() {
		return true
	}
	need := time.Minute
	if l := t.Lifetime(); l > 0 && l/2 < need {
		need = l / 2
	}
	return t.Expiry.Sub(now) >= need
}

// ValidAt reports whether the access token has not expired at now.
func (t TokenSet) ValidAt(now time.Time) bool {
	return t.AccessToken != "" && (t.Expiry.IsZero() || now.Before(t.Expiry))
}

// JWTExpiry reads the exp claim of a JWT access token, unverified, for
// scheduling a refresh when a token response had no expires_in (see
// jwtExpiry).
func JWTExpiry(token string) (time.Time, bool) { return jwtExpiry(token) }

// jwtExpiry reads the exp claim of a JWT access token without verifying
// it: it is only used to schedule a refresh when the token response had
// no expires_in, never to trust the token.
func jwtExpiry(token string) (time.Time, bool) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 || len(parts[1]) > 8<<10 {
		return time.Time{}, false
	}
	payload, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(parts[1], "="))
	if err != nil {
		return time.Time{}, false
	}
	var claims struct {
		Exp json.Number `json:"exp"`
	}
	if json.Unmarshal(payload, &claims) != nil || claims.Exp == "" {
		return time.Time{}, false
	}
	exp, err := claims.Exp.Float64()
	if err != nil || exp <= 0 || exp > 1e11 {
		return time.Time{}, false
	}
	return time.Unix(int64(exp), 0).UTC(), true
}

// Placement says how a provider's API takes an access token: a header
// (default Authorization) with a prefix (default "Bearer "), plus extra
// headers (an API version) that a caller's own values override.
type Placement struct {
	Header  string
	Prefix  string
	Headers map[string]string
}

// PlacementOf reads the placement from a resolved provider definition.
func PlacementOf(def *catalog.OAuth2) Placement {
	p := Placement{Header: "Authorization", Prefix: "Bearer "}
	if def == nil {
		return p
	}
	if def.TokenHeader != "" {
		p.Header, p.Prefix = def.TokenHeader, def.TokenPrefix
	}
	p.Headers = def.Headers
	return p
}

// Apply sets token on r.
func (p Placement) Apply(r *http.Request, token secret.String) {
	for k, v := range p.Headers {
		if r.Header.Get(k) == "" {
			r.Header.Set(k, v)
		}
	}
	r.Header.Set(p.Header, p.Prefix+token.Reveal())
}
