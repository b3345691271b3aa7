package serviceaccount

import (
	"context"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	josejwt "github.com/go-jose/go-jose/v3/jwt"

	"github.com/stormcreds/storm/internal/oauth"
	"github.com/stormcreds/storm/internal/secret"
)

// GitHub App settings. GitHub refuses an app JWT whose exp is more than
// 10 minutes ahead and recommends an iat 60 s in the past against clock
// drift: iat = now − 60 s, exp = iat + 10 min.
const (
	GitHubAPI            = "https://api.github.com"
	GitHubAPIVersion     = "2022-11-28"
	githubJWTBackdate    = 60 * time.Second
	githubJWTLifetime    = 10 * time.Minute
	githubMaxMessage     = 200
	githubMaxIdentifier  = 64
	githubAcceptMediaTyp = "application/vnd.github+json"
)

var (
	// An app id is numeric; a client id is "Iv1." + hex or "Iv23…".
	githubAppIDPattern          = regexp.MustCompile(`^([1-9][0-9]{0,19}|Iv[0-9A-Za-z.]{2,60})$`)
	githubInstallationIDPattern = regexp.MustCompile(`^[1-9][0-9]{0,19}$`)
)

// GitHubAppProblem says what GitHub refused.
type GitHubAppProblem int

const (
	// GitHubKeyRefused: GitHub answered 401 to the app JWT — the private
	// key is not one of the app's keys, the app id is wrong, or the key
	// was deleted from the app.
	GitHubKeyRefused GitHubAppProblem = iota + 1
	// GitHubInstallationNotFound: 404 — no such installation of this app
	// (it was uninstalled, or belongs to another app).
	GitHubInstallationNotFound
	// GitHubForbidden: 403 (not a rate limit) or 422 — the installation
	// is suspended or the app may not do this.
	GitHubForbidden
)

// GitHubAppError is a final refusal of an installation-token mint. It
// wraps the *oauth.Error the token engine classifies (final, so the
// integration needs a person), and names the setting at fault so an API
// can answer 422 naming it. It holds GitHub's message (bounded), never a
// key or token.
type GitHubAppError struct {
	Problem        GitHubAppProblem
	AppID          string
	InstallationID string
	Status         int
	// Message is GitHub's "message", at most 200 bytes.
	Message string
	err     *oauth.Error
}

func (e *GitHubAppError) Error() string {
	var msg string
	switch e.Problem {
	case GitHubKeyRefused:
		msg = fmt.Sprintf("GitHub refused the app JWT: the private key does not belong to app %s (or the app id is wrong, or the key was deleted from the app)", e.AppID)
	case GitHubInstallationNotFound:
		msg = fmt.Sprintf("GitHub has no installation %s of app %s (uninstalled, or installed for another app)", e.InstallationID, e.AppID)
	default:
		msg = fmt.Sprintf("GitHub refused an installation token for installation %s of app %s", e.InstallationID, e.AppID)
	}
	if e.Message != "" {
		msg += " (GitHub: " + e.Message + ")"
	}
	return msg
}

// Unwrap is the *oauth.Error for the token engine.
func (e *GitHubAppError) Unwrap() error { return e.err }

// Field is the setting at fault: key_pem, installation_id or (for a
// refusal that is not about either) app_id.
func (e *GitHubAppError) Field() string {
	switch e.Problem {
	case GitHubKeyRefused:
		return "key_pem"
	case GitHubInstallationNotFound:
		return "installation_id"
	}
	return "app_id"
}

// mintGitHubApp mints GitHub App installation tokens: an RS256 JWT
// signed with the app's key is exchanged at
// {BaseURL}/app/installations/{id}/access_tokens.
type mintGitHubApp struct {
	signer         *mintSigner
	appID          string
	installationID string
	endpoint       string
	client         *http.Client
	now            func() time.Time
	ttl            time.Duration
}

func newMintGitHubApp(m Material, cfg MintConfig) (Minter, error) {
	switch {
	case cfg.AppID == "":
		return nil, errors.New("serviceaccount: github_app needs the app id (app_id)")
	case len(cfg.AppID) > githubMaxIdentifier || !githubAppIDPattern.MatchString(cfg.AppID):
		return nil, errors.New("serviceaccount: app_id must be the GitHub App's numeric id or its client id (Iv…)")
	case cfg.InstallationID == "":
		return nil, errors.New("serviceaccount: github_app needs the installation id (installation_id)")
	case !githubInstallationIDPattern.MatchString(cfg.InstallationID):
		return nil, errors.New("serviceaccount: installation_id must be the installation's numeric id")
	}
	base := cfg.BaseURL
	if base == "" {
		base = GitHubAPI
	}
	if err := mintCheckTokenURL("base_url", base); err != nil {
		return nil, err
	}
	if u, _ := url.Parse(base); u.RawQuery != "" || u.ForceQuery {
		return nil, errors.New("serviceaccount: base_url must not have a query")
	}
	if m.KeyPEM == "" {
		return nil, errors.New("serviceaccount: the github_app credential has no private key")
	}
	key, err := PrivateKey(m.KeyPEM)
	if err != nil {
		return nil, fmt.Errorf("serviceaccount: the private key: %w", err)
	}
	if _, ok := key.(*rsa.PrivateKey); !ok {
		return nil, errors.New("serviceaccount: a GitHub App key must be RSA")
	}
	signer, err := newMintSigner(key, "")
	if err != nil {
		return nil, err
	}
	return &mintGitHubApp{
		signer: signer, appID: cfg.AppID, installationID: cfg.InstallationID,
		endpoint: strings.TrimSuffix(base, "/") + "/app/installations/" + cfg.InstallationID + "/access_tokens",
		client:   cfg.HTTPClient, now: cfg.Now, ttl: cfg.TokenTTL,
	}, nil
}

// appJWT signs the app's JWT: iss, iat and exp only (GitHub's claims).
func (g *mintGitHubApp) appJWT(now time.Time) (string, error) {
	iat := now.UTC().Truncate(time.Second).Add(-githubJWTBackdate)
	claims := map[string]any{
		"iss": g.appID,
		"iat": josejwt.NewNumericDate(iat),
		"exp": josejwt.NewNumericDate(iat.Add(githubJWTLifetime)),
	}
	tok, err := josejwt.Signed(g.signer.signer).Claims(claims).CompactSerialize()
	if err != nil {
		return "", &oauth.Error{Op: mintOp, Description: "signing the app JWT failed"}
	}
	return tok, nil
}

// Refresh mints a new installation token; old is ignored. Failures are
// *oauth.Error (temporary for 5xx, 429, network errors and 403 rate
// limits), or a *GitHubAppError wrapping a final one.
func (g *mintGitHubApp) Refresh(ctx context.Context, _ oauth.TokenSet) (oauth.TokenSet, error) {
	if err := ctx.Err(); err != nil {
		return oauth.TokenSet{}, oauth.Classify(mintOp, err)
	}
	now := g.now()
	jwt, err := g.appJWT(now)
	if err != nil {
		return oauth.TokenSet{}, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, g.endpoint, http.NoBody)
	if err != nil {
		return oauth.TokenSet{}, &oauth.Error{Op: mintOp, Description: "cannot build the installation token request"}
	}
	req.Header.Set("Authorization", "Bearer "+jwt)
	req.Header.Set("Accept", githubAcceptMediaTyp)
	req.Header.Set("X-GitHub-Api-Version", GitHubAPIVersion)
	req.Header.Set("User-Agent", "storm-credentials/1") // GitHub refuses requests without one
	resp, err := g.client.Do(req)
	if err != nil {
		return oauth.TokenSet{}, oauth.Classify(mintOp, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, mintMaxTokenResponse))
	if err != nil {
		oe := oauth.Classify(mintOp, err)
		oe.Status = resp.StatusCode
		return oauth.TokenSet{}, oe
	}
	if resp.StatusCode != http.StatusCreated && resp.StatusCode != http.StatusOK {
		return oauth.TokenSet{}, g.failure(resp, body, jwt)
	}
	var answer struct {
		Token     string `json:"token"`
		ExpiresAt string `json:"expires_at"`
	}
	if json.Unmarshal(body, &answer) != nil || answer.Token == "" {
		return oauth.TokenSet{}, &oauth.Error{Op: mintOp, Status: resp.StatusCode, Temporary: true,
			Description: "GitHub's answer has no installation token"}
	}
	obtained := now.UTC()
	ts := oauth.TokenSet{AccessToken: secret.String(answer.Token), TokenType: "bearer", ObtainedAt: obtained}
	if exp, err := time.Parse(time.RFC3339, answer.ExpiresAt); err == nil && exp.After(obtained) {
		ts.Expiry = exp.UTC()
	} else {
		// GitHub documents an hour; a missing or odd expires_at is not
		// worth failing a token that works.
		ts.Expiry = mintExpiry(answer.Token, 0, time.Time{}, obtained, g.ttl)
	}
	return ts, nil
}

// failure classifies GitHub's error answer.
func (g *mintGitHubApp) failure(resp *http.Response, body []byte, jwt string) error {
	var doc struct {
		Message string `json:"message"`
	}
	_ = json.Unmarshal(body, &doc)
	msg := githubBound(doc.Message, jwt)
	oe := &oauth.Error{Op: mintOp, Status: resp.StatusCode}
	if ra := resp.Header.Get("Retry-After"); ra != "" {
		if secs, err := strconv.Atoi(ra); err == nil && secs >= 0 {
			oe.RetryAfter = min(time.Duration(secs)*time.Second, time.Hour)
		}
	}
	rateLimited := resp.Header.Get("X-Ratelimit-Remaining") == "0" || oe.RetryAfter > 0
	switch {
	case resp.StatusCode >= 500, resp.StatusCode == http.StatusTooManyRequests, resp.StatusCode == http.StatusRequestTimeout,
		resp.StatusCode == http.StatusForbidden && rateLimited:
		oe.Temporary = true
		oe.Description = "GitHub is unavailable or rate-limiting installation tokens"
		if msg != "" {
			oe.Description += ": " + msg
		}
		return oe
	}
	ge := &GitHubAppError{AppID: g.appID, InstallationID: g.installationID, Status: resp.StatusCode, Message: msg, err: oe}
	switch resp.StatusCode {
	case http.StatusUnauthorized:
		ge.Problem = GitHubKeyRefused
		oe.Code = "invalid_client"
	case http.StatusNotFound:
		ge.Problem = GitHubInstallationNotFound
		oe.Code = "invalid_grant"
	default:
		ge.Problem = GitHubForbidden
	}
	oe.Description = ge.Error()
	return ge
}

// githubBound cuts GitHub's message to a safe size, without control
// characters and without any piece of the JWT (were it echoed).
func githubBound(s, jwt string) string {
	if i := strings.LastIndexByte(jwt, '.'); i >= 0 && len(jwt)-i > 16 && strings.Contains(s, jwt[i+1:i+17]) {
		return "(message withheld: it quoted the request)"
	}
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, strings.TrimSpace(s))
	if r := []rune(s); len(s) > githubMaxMessage {
		for len(string(r)) > githubMaxMessage {
			r = r[:len(r)-1]
		}
		s = string(r) + "…"
	}
	return s
}
