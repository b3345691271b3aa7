package web

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"time"

	"github.com/stormcreds/storm/internal/store"
	"github.com/stormcreds/storm/internal/vault"
)

// A session is a sealed cookie: the vault's AES-GCM both hides and
// authenticates it, and the additional data keeps a session from being
// replayed as any other sealed value. A signed-in session also names a
// row in the store (store.UISession) that every request checks, so
// signing out ends it on every instance, however many copies of the
// cookie exist. It names the API token by id only; every request loads
// the token again, so deleting the token ends its sessions.
//
// Before sign-in a session has no token (and no row) but still a CSRF
// secret, so the sign-in form is protected too (login CSRF); signing in
// replaces it.
type session struct {
	// ID names the session's store row; empty before sign-in.
	ID      string `json:"s,omitempty"`
	TokenID string `json:"t,omitempty"`
	// CSRF is the secret every form of this session must send back.
	CSRF    string `json:"c"`
	Expires int64  `json:"e"` // Unix seconds
}

// Cookie names. Behind https the session cookie takes the __Host-
// prefix, which a browser only accepts with Secure, Path=/ and no
// Domain, so no sibling host can plant one.
const (
	sessionCookie       = "storm_session"
	secureSessionCookie = "__Host-storm_session"
	flashCookie         = "storm_flash"
)

var (
	sessionAD = vault.AD{Field: "ui-session"}
	flashAD   = vault.AD{Field: "ui-flash"}
)

// anonymousTTL bounds a signed-out session (the sign-in form's CSRF
// secret).
const anonymousTTL = 2 * time.Hour

// maxCookie bounds what is read from a cookie before opening it.
const maxCookie = 4096

func randomString(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// secure reports whether cookies must be Secure: the server is reached
// over https (its public URL says so, or this request came over TLS).
func (u *UI) secure(r *http.Request) bool { return u.httpsPublic || r.TLS != nil }

func (u *UI) sessionCookieName(r *http.Request) string {
	if u.secure(r) {
		return secureSessionCookie
	}
	return sessionCookie
}

// openCookie reads the sealed JSON value of cookie name into v.
func (u *UI) openCookie(r *http.Request, name string, ad vault.AD, v any) bool {
	c, err := r.Cookie(name)
	if err != nil || c.Value == "" || len(c.Value) > maxCookie {
		return false
	}
	raw, err := base64.RawURLEncoding.DecodeString(c.Value)
	if err != nil {
		return false
	}
	pt, err := u.cfg.Vault.Open(raw, ad)
	if err != nil {
		return false
	}
	defer clear(pt)
	return json.Unmarshal(pt, v) == nil
}

func (u *UI) sealCookie(v any, ad vault.AD) (string, error) {
	pt, err := json.Marshal(v)
	if err != nil {
		return "", err
	}
	ct, err := u.cfg.Vault.Seal(pt, ad)
	clear(pt)
	if err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(ct), nil
}

// readSession returns the request's session if it opens and has not
// expired.
func (u *UI) readSession(r *http.Request) (session, bool) {
	var s session
	if !u.openCookie(r, u.sessionCookieName(r), sessionAD, &s) || s.CSRF == "" || u.now().Unix() >= s.Expires {
		return session{}, false
	}
	return s, true
}

// newSession starts a signed-out session with a fresh CSRF secret.
func (u *UI) newSession() session {
	return session{CSRF: randomString(32), Expires: u.now().Add(anonymousTTL).Unix()}
}

// signInSession starts a session for tokenID with a fresh CSRF secret
// and stores its row, which is what makes it valid.
func (u *UI) signInSession(ctx context.Context, tokenID string) (session, error) {
	now := u.now()
	s := session{ID: randomString(32), TokenID: tokenID, CSRF: randomString(32), Expires: now.Add(u.cfg.SessionTTL).Unix()}
	err := u.cfg.Store.CreateUISession(ctx, store.UISession{ID: s.ID, TokenID: tokenID, CreatedAt: now.UTC(),
		ExpiresAt: time.Unix(s.Expires, 0).UTC()})
	return s, err
}

// live reports whether signed-in session s still has its row: not
// signed out (on any instance), not expired, its token not deleted.
func (u *UI) live(ctx context.Context, s session) (bool, error) {
	if s.ID == "" {
		return false, nil // sealed before sessions had rows
	}
	row, err := u.cfg.Store.GetUISession(ctx, s.ID)
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return row.TokenID == s.TokenID && u.now().Before(row.ExpiresAt), nil
}

func (u *UI) writeSession(w http.ResponseWriter, r *http.Request, s session) error {
	v, err := u.sealCookie(s, sessionAD)
	if err != nil {
		return err
	}
	http.SetCookie(w, &http.Cookie{Name: u.sessionCookieName(r), Value: v, Path: "/", HttpOnly: true,
		SameSite: http.SameSiteLaxMode, Secure: u.secure(r), MaxAge: int(s.Expires - u.now().Unix())})
	return nil
}

// csrfOK compares a form's token with the session's secret in constant
// time.
func (s session) csrfOK(token string) bool {
	return token != "" && s.CSRF != "" && subtle.ConstantTimeCompare([]byte(token), []byte(s.CSRF)) == 1
}

// flash is a message for the next page, after a redirect (post, then
// redirect, then get). It is sealed so nobody can make Storm show text of
// their choosing.
type flash struct {
	Kind    string        `json:"k"` // ok | error | info
	Message string        `json:"m"`
	Verify  *verifyResult `json:"v,omitempty"`
	// Link is a connect link just made, shown once.
	Link *linkFlash `json:"l,omitempty"`
}

// verifyResult is a verification outcome as pages show it.
type verifyResult struct {
	OK        bool   `json:"ok"`
	Status    int    `json:"status"`
	LatencyMS int64  `json:"latency_ms"`
	Error     string `json:"error,omitempty"`
	// Reason (not_checked: nothing was sent) and the provider's own
	// words, scrubbed and bounded (see methods.Result).
	Reason  string `json:"reason,omitempty"`
	Message string `json:"message,omitempty"`
}

func (u *UI) setFlash(w http.ResponseWriter, r *http.Request, f flash) {
	v, err := u.sealCookie(f, flashAD)
	if err != nil {
		u.logger.Warn("web: seal flash", "err", err)
		return
	}
	http.SetCookie(w, &http.Cookie{Name: flashCookie, Value: v, Path: "/", HttpOnly: true,
		SameSite: http.SameSiteLaxMode, Secure: u.secure(r), MaxAge: 60})
}

// takeFlash returns the pending flash, if any, and clears it.
func (u *UI) takeFlash(w http.ResponseWriter, r *http.Request) *flash {
	if _, err := r.Cookie(flashCookie); err != nil {
		return nil
	}
	http.SetCookie(w, &http.Cookie{Name: flashCookie, Value: "", Path: "/", HttpOnly: true,
		SameSite: http.SameSiteLaxMode, Secure: u.secure(r), MaxAge: -1})
	var f flash
	if !u.openCookie(r, flashCookie, flashAD, &f) {
		return nil
	}
	return &f
}
