package oauth1

import (
	"bytes"
	"crypto"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/stormcreds/storm/internal/problem"
	"github.com/stormcreds/storm/internal/secret"
)

// Signature methods. HMAC-SHA256 is not in RFC 5849 but is HMAC-SHA1 with
// SHA-256 (NetSuite token-based authentication requires it).
const (
	HMACSHA1   = "HMAC-SHA1"
	HMACSHA256 = "HMAC-SHA256"
	RSASHA1    = "RSA-SHA1"
	PLAINTEXT  = "PLAINTEXT"
)

// Methods lists the signature methods in the order a UI offers them.
var Methods = []string{HMACSHA1, HMACSHA256, RSASHA1, PLAINTEXT}

// MaxSignedBody bounds a form body that is read to sign its parameters.
// The proxy buffers bodies up to its retry limit; a larger form body
// cannot be signed and is refused (ErrBodyTooLarge).
const MaxSignedBody = 1 << 20

// Limits on configured values; identifiers are far shorter in practice.
const (
	maxKeyLen    = 512
	maxSecretLen = 4096
	maxRealmLen  = 256
)

// ErrBodyTooLarge is returned by Apply for a form body over MaxSignedBody.
var ErrBodyTooLarge = errors.New("oauth1: the form body is too large to sign")

// Config is a client's registration with a provider (the "consumer" of
// OAuth 1.0a) and how its requests are signed. The zero value is not
// usable: ConsumerKey and SignatureMethod are required, and PrivateKey
// with RSA-SHA1. A Config redacts itself when printed, logged or encoded.
type Config struct {
	ConsumerKey string
	// ConsumerSecret signs with HMAC-SHA1, HMAC-SHA256 and PLAINTEXT; it
	// may be empty (RFC 5849 keeps the "&" of the key then).
	ConsumerSecret secret.String
	// PrivateKey signs with RSA-SHA1 (ParsePrivateKey reads one).
	PrivateKey      *rsa.PrivateKey
	SignatureMethod string
	// Realm goes into the Authorization header (RFC 2617 realm); it is
	// not signed. NetSuite wants the account id here (NetSuiteRealm).
	Realm string
	// OmitVersion leaves out oauth_version="1.0", which RFC 5849 makes
	// optional; it is sent by default because some providers insist.
	OmitVersion bool
	// Now is the clock of oauth_timestamp; default time.Now.
	Now func() time.Time
	// Rand is the source of nonces; default crypto/rand.
	Rand io.Reader
}

// Validate reports the first problems of c as a 400 *problem.Problem
// whose fields are named as in the API's oauth1 config
// (consumer_key, consumer_secret, signature_method, realm).
func (c Config) Validate() error {
	var errs []problem.FieldError
	bad := func(field, msg string) { errs = append(errs, problem.FieldError{Field: field, Message: msg}) }
	switch {
	case strings.TrimSpace(c.ConsumerKey) == "":
		bad("consumer_key", "is required")
	case len(c.ConsumerKey) > maxKeyLen:
		bad("consumer_key", fmt.Sprintf("is longer than %d bytes", maxKeyLen))
	case !printable(c.ConsumerKey):
		bad("consumer_key", "must be printable text without line breaks")
	}
	switch c.SignatureMethod {
	case HMACSHA1, HMACSHA256, PLAINTEXT:
		if c.PrivateKey != nil {
			bad("signature_method", c.SignatureMethod+" signs with the consumer secret; a private key is only used with RSA-SHA1")
		}
		switch s := c.ConsumerSecret.Reveal(); {
		case len(s) > maxSecretLen:
			bad("consumer_secret", fmt.Sprintf("is longer than %d bytes", maxSecretLen))
		case !printable(s):
			bad("consumer_secret", "must be printable text without line breaks (check for a partial paste)")
		}
	case RSASHA1:
		if c.PrivateKey == nil {
			bad("consumer_secret", "RSA-SHA1 needs the client's RSA private key (PEM)")
		}
		if c.ConsumerSecret != "" {
			bad("consumer_secret", "RSA-SHA1 signs with the private key, not a consumer secret")
		}
	case "":
		bad("signature_method", "is required (one of "+strings.Join(Methods, ", ")+")")
	default:
		bad("signature_method", "must be one of "+strings.Join(Methods, ", "))
	}
	switch {
	case len(c.Realm) > maxRealmLen:
		bad("realm", fmt.Sprintf("is longer than %d bytes", maxRealmLen))
	case !printable(c.Realm) || strings.ContainsAny(c.Realm, `"\`):
		bad("realm", `must be printable text without quotes, backslashes or line breaks`)
	}
	if len(errs) == 0 {
		return nil
	}
	p := problem.Invalid(errs[0].Field+": "+errs[0].Message, errs...)
	return p
}

func printable(s string) bool {
	return strings.IndexFunc(s, func(r rune) bool { return !unicode.IsPrint(r) || r == unicode.ReplacementChar }) < 0
}

// String redacts.
func (c Config) String() string {
	return fmt.Sprintf("oauth1.Config(%s, key %q, secret [redacted])", c.SignatureMethod, c.ConsumerKey)
}

// GoString redacts.
func (c Config) GoString() string { return c.String() }

// LogValue redacts.
func (c Config) LogValue() slog.Value {
	return slog.GroupValue(slog.String("consumer_key", c.ConsumerKey), slog.String("signature_method", c.SignatureMethod),
		slog.String("realm", c.Realm), slog.String("consumer_secret", "[redacted]"))
}

// MarshalJSON writes the non-secret settings only.
func (c Config) MarshalJSON() ([]byte, error) {
	return json.Marshal(map[string]string{"consumer_key": c.ConsumerKey, "signature_method": c.SignatureMethod,
		"realm": c.Realm, "consumer_secret": "[redacted]"})
}

// Credentials are a token and its shared secret: temporary credentials
// (the request token of RFC 5849 §2.1) or token credentials (the access
// token of §2.3, or NetSuite's token id and secret issued out of band).
// They redact themselves.
type Credentials struct {
	Token  string
	Secret secret.String
}

// String redacts.
func (c Credentials) String() string { return "oauth1.Credentials([redacted])" }

// GoString redacts.
func (c Credentials) GoString() string { return c.String() }

// LogValue redacts.
func (c Credentials) LogValue() slog.Value { return slog.StringValue("[redacted]") }

// MarshalJSON redacts.
func (c Credentials) MarshalJSON() ([]byte, error) { return []byte(`"[redacted]"`), nil }

// Validate checks pasted token credentials; fields are named as in the
// API's Save body (token, token_secret).
func (c Credentials) Validate() error {
	var errs []problem.FieldError
	check := func(field, v string, max int) {
		switch {
		case strings.TrimSpace(v) == "":
			errs = append(errs, problem.FieldError{Field: field, Message: "is required"})
		case len(v) > max:
			errs = append(errs, problem.FieldError{Field: field, Message: fmt.Sprintf("is longer than %d bytes", max)})
		case !printable(v):
			errs = append(errs, problem.FieldError{Field: field, Message: "must be printable text without line breaks (check for a partial paste)"})
		}
	}
	check("token", c.Token, maxSecretLen)
	check("token_secret", c.Secret.Reveal(), maxSecretLen)
	if len(errs) == 0 {
		return nil
	}
	return problem.Invalid(errs[0].Field+": "+errs[0].Message, errs...)
}

// Signer signs requests with a client's credentials and one set of token
// credentials (none for a request-token call). It implements the proxy's
// Credential (Apply) and BodySigner (SignsBody) and is safe for
// concurrent use.
type Signer struct {
	cfg   Config
	token Credentials
	now   func() time.Time
	nonce func() (string, error)
}

// NewSigner checks cfg and returns its signer for token (Token empty: a
// request signed with the client credentials only).
func NewSigner(cfg Config, token Credentials) (*Signer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	s := &Signer{cfg: cfg, token: token, now: cfg.Now}
	if s.now == nil {
		s.now = time.Now
	}
	src := cfg.Rand
	if src == nil {
		src = rand.Reader
	}
	s.nonce = func() (string, error) {
		b := make([]byte, 16)
		if _, err := io.ReadFull(src, b); err != nil {
			return "", errors.New("oauth1: no randomness for a nonce")
		}
		// Hex: 128 bits in characters every provider accepts.
		return hex.EncodeToString(b), nil
	}
	return s, nil
}

// String redacts.
func (s *Signer) String() string { return "oauth1.Signer([redacted])" }

// SignsBody reports that Apply reads form bodies (proxy.BodySigner): the
// proxy then buffers them so r.GetBody is set.
func (s *Signer) SignsBody() bool { return true }

// Apply signs r and sets its Authorization header (RFC 5849 §3.5.1)
// with a fresh nonce and timestamp. The signature covers r's method, URL
// (with r.Host as the Host header), every query parameter and, when the
// Content-Type is application/x-www-form-urlencoded, every body parameter
// (read through r.GetBody when set, else from r.Body, which is then
// replaced by a copy). A query or body that already holds oauth_*
// parameters, a malformed form encoding and a form body over
// MaxSignedBody are refused.
func (s *Signer) Apply(r *http.Request) error {
	params, err := ParseForm(r.URL.RawQuery)
	if err != nil {
		return fmt.Errorf("oauth1: the query string: %w", err)
	}
	body, err := formBody(r)
	if err != nil {
		return err
	}
	params = append(params, body...)
	h, err := s.header(r.Method, r.URL, r.Host, params, nil)
	if err != nil {
		return err
	}
	r.Header.Set("Authorization", h)
	return nil
}

// Header returns the Authorization header value for a request with the
// given method, URL, Host header (empty: u's host) and form body
// parameters (nil when the body is not a form); u's query is read from u.
func (s *Signer) Header(method string, u *url.URL, host string, form []Param) (string, error) {
	params, err := ParseForm(u.RawQuery)
	if err != nil {
		return "", fmt.Errorf("oauth1: the query string: %w", err)
	}
	return s.header(method, u, host, append(params, form...), nil)
}

// formBody reads r's parameters when its body is a form.
func formBody(r *http.Request) ([]Param, error) {
	if r.Body == nil || r.Body == http.NoBody {
		return nil, nil
	}
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/x-www-form-urlencoded" {
		return nil, nil
	}
	var raw []byte
	if r.GetBody != nil {
		rc, err := r.GetBody()
		if err != nil {
			return nil, fmt.Errorf("oauth1: reading the form body: %w", err)
		}
		raw, err = io.ReadAll(io.LimitReader(rc, MaxSignedBody+1))
		rc.Close()
		if err != nil {
			return nil, fmt.Errorf("oauth1: reading the form body: %w", err)
		}
	} else {
		raw, err = io.ReadAll(io.LimitReader(r.Body, MaxSignedBody+1))
		if err != nil {
			return nil, fmt.Errorf("oauth1: reading the form body: %w", err)
		}
		if len(raw) <= MaxSignedBody {
			r.Body.Close()
			b := raw
			r.Body = io.NopCloser(bytes.NewReader(b))
			r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }
			r.ContentLength = int64(len(b))
		}
	}
	if len(raw) > MaxSignedBody {
		return nil, ErrBodyTooLarge
	}
	params, err := ParseForm(string(raw))
	if err != nil {
		return nil, fmt.Errorf("oauth1: the form body: %w", err)
	}
	return params, nil
}

// header signs a request whose non-protocol parameters are params; extra
// are additional protocol parameters (oauth_callback, oauth_verifier).
func (s *Signer) header(method string, u *url.URL, host string, params, extra []Param) (string, error) {
	for _, p := range params {
		if strings.HasPrefix(p.Name, "oauth_") {
			// RFC 5849 §3.5: protocol parameters go in one place only.
			return "", errors.New("oauth1: the request already carries an oauth_ parameter in its query or body")
		}
	}
	if len(params)+len(extra) > MaxParams {
		return "", fmt.Errorf("oauth1: more than %d parameters", MaxParams)
	}
	baseURI, err := BaseStringURI(u, host)
	if err != nil {
		return "", err
	}
	nonce, err := s.nonce()
	if err != nil {
		return "", err
	}
	proto := []Param{
		{"oauth_consumer_key", s.cfg.ConsumerKey},
		{"oauth_nonce", nonce},
		{"oauth_signature_method", s.cfg.SignatureMethod},
		{"oauth_timestamp", strconv.FormatInt(s.now().Unix(), 10)},
	}
	if s.token.Token != "" {
		proto = append(proto, Param{"oauth_token", s.token.Token})
	}
	if !s.cfg.OmitVersion {
		proto = append(proto, Param{"oauth_version", "1.0"})
	}
	proto = append(proto, extra...)

	all := make([]Param, 0, len(params)+len(proto))
	all = append(append(all, params...), proto...)
	sig, err := Sign(s.cfg.SignatureMethod, BaseString(method, baseURI, all), s.cfg.ConsumerSecret, s.token.Secret, s.cfg.PrivateKey)
	if err != nil {
		return "", err
	}
	proto = append(proto, Param{"oauth_signature", sig})

	var b strings.Builder
	b.WriteString("OAuth ")
	if s.cfg.Realm != "" {
		b.WriteString(`realm="` + s.cfg.Realm + `", `)
	}
	for i, p := range proto {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(Encode(p.Name) + `="` + Encode(p.Value) + `"`)
	}
	return b.String(), nil
}

// Sign computes oauth_signature (before its encoding into the header)
// over baseString: RFC 5849 §3.4.2 HMAC-SHA1 (HMAC-SHA256 alike) keyed
// with Encode(consumerSecret) + "&" + Encode(tokenSecret), §3.4.3
// RSA-SHA1 (PKCS #1 v1.5) with key, or §3.4.4 PLAINTEXT (the HMAC key
// itself; baseString is ignored).
func Sign(method, baseString string, consumerSecret, tokenSecret secret.String, key *rsa.PrivateKey) (string, error) {
	hmacKey := Encode(consumerSecret.Reveal()) + "&" + Encode(tokenSecret.Reveal())
	var h func() hash.Hash
	switch method {
	case PLAINTEXT:
		return hmacKey, nil
	case HMACSHA1:
		h = sha1.New
	case HMACSHA256:
		h = sha256.New
	case RSASHA1:
		if key == nil {
			return "", errors.New("oauth1: RSA-SHA1 needs a private key")
		}
		sum := sha1.Sum([]byte(baseString))
		sig, err := rsa.SignPKCS1v15(nil, key, crypto.SHA1, sum[:])
		if err != nil {
			return "", errors.New("oauth1: RSA-SHA1 signing failed")
		}
		return base64.StdEncoding.EncodeToString(sig), nil
	default:
		return "", errors.New("oauth1: unknown signature method")
	}
	m := hmac.New(h, []byte(hmacKey))
	m.Write([]byte(baseString))
	return base64.StdEncoding.EncodeToString(m.Sum(nil)), nil
}
