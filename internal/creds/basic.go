package creds

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/stormcreds/storm/internal/catalog"
	"github.com/stormcreds/storm/internal/methods/apikey"
	"github.com/stormcreds/storm/internal/problem"
	"github.com/stormcreds/storm/internal/secret"
	"github.com/stormcreds/storm/internal/store"
	"github.com/stormcreds/storm/internal/tokens"
)

// basicMember is where a credential's material document keeps a Basic
// user name and password.
const basicMember = "basic"

// basicMaterial is a saved Basic credential.
type basicMaterial struct {
	Username string `json:"username"`
	Password string `json:"password"`
}

// maxBasicLen bounds a user name or password.
const maxBasicLen = 8 << 10

// parseBasic checks a Save's user name and password. RFC 7617 §2: the
// user name cannot hold a colon (it ends the user name); neither may hold
// control characters, which could not travel in the header.
func parseBasic(username, password string) (basicMaterial, error) {
	var errs []problem.FieldError
	bad := func(field, msg string) { errs = append(errs, problem.FieldError{Field: field, Message: msg}) }
	username = strings.TrimSpace(username)
	password = strings.TrimRight(password, "\r\n") // a paste often ends in a newline
	switch {
	case username == "":
		bad("username", "is required")
	case len(username) > maxBasicLen:
		bad("username", fmt.Sprintf("is longer than %d bytes", maxBasicLen))
	case strings.Contains(username, ":"):
		bad("username", "cannot contain a colon in HTTP Basic (RFC 7617)")
	case !printableText(username):
		bad("username", "must be printable text")
	}
	switch {
	case password == "":
		bad("password", "is required")
	case len(password) > maxBasicLen:
		bad("password", fmt.Sprintf("is longer than %d bytes", maxBasicLen))
	case !printableText(password):
		bad("password", "must be printable text without line breaks (check for a partial paste)")
	}
	if len(errs) > 0 {
		return basicMaterial{}, problem.Invalid(errs[0].Field+": "+errs[0].Message, errs...)
	}
	return basicMaterial{Username: username, Password: password}, nil
}

func printableText(s string) bool {
	return utf8.ValidString(s) && strings.IndexFunc(s, func(r rune) bool { return !unicode.IsPrint(r) }) < 0
}

// basicHint shows the user name (an identifier) and at most the last 4
// characters of the password.
func basicHint(m basicMaterial) string {
	user := m.Username
	if utf8.RuneCountInString(user) > 32 {
		user = string([]rune(user)[:32]) + "…"
	}
	return user + " · " + apikey.Hint(secret.String(m.Password))
}

// basicFingerprintInput is what identifies a Basic credential.
func basicFingerprintInput(m basicMaterial) []byte {
	return []byte(m.Username + "\x00" + m.Password)
}

// basicAuth applies a user name and password as HTTP Basic.
type basicAuth struct {
	username string
	password secret.String
}

func basicOf(doc tokens.Material) (basicMaterial, error) {
	var m basicMaterial
	raw, ok := doc[basicMember]
	if !ok {
		return m, errors.New("the credential holds no user name and password")
	}
	if err := json.Unmarshal(raw, &m); err != nil || m.Username == "" {
		return m, errors.New("the stored user name and password are malformed")
	}
	return m, nil
}

// openBasic builds the usable form of a Basic credential: HTTP Basic, or
// the session token its exchange obtained.
func (s *Service) openBasic(integ store.Integration, resolved catalog.Resolved, c store.Credential, doc tokens.Material) (*usable, error) {
	if resolved.Provider.ExchangeFor(catalog.MethodBasic) != nil {
		return s.exchangeUsable(integ, resolved, c, doc)
	}
	m, err := basicOf(doc)
	if err != nil {
		return nil, fmt.Errorf("credential %s: %w", c.ID, err)
	}
	u := &usable{cred: c, kind: catalog.MethodBasic, secret: secret.String(m.Password),
		basic: &basicAuth{username: m.Username, password: secret.String(m.Password)}}
	if b := resolved.Provider.Basic; b != nil {
		u.headers = b.Headers
	}
	return u, nil
}
