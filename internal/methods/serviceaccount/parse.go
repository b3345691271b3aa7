package serviceaccount

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"golang.org/x/oauth2/google"

	"github.com/stormcreds/storm/internal/problem"
)

// Limits on uploaded values. Secrets and identifiers are far shorter in
// practice; the limits keep messages, logs and the vault small.
const (
	parseMaxKeyIDLen        = 200  // characters
	parseMaxClientIDLen     = 512  // characters
	parseMaxClientSecretLen = 4096 // bytes
	parseMaxSessionTokenLen = 8192 // bytes
	parseMaxEmailLen        = 254
	parseMaxGoogleFieldLen  = 2048 // a known optional string member of a Google key file
	parseMaxGoogleMembers   = 100
	parseMaxMemberNameLen   = 256
)

// Parse validates a JSON upload body (PUT /v1/integrations/{id}/credentials)
// for kind and returns the material to store and what may be shown about
// it:
//
//	google:             {"file": <Google service-account JSON key object>}
//	jwt_bearer:         {"key_pem":"…","key_id":"…"(optional)}
//	client_credentials: {"client_id":"…","client_secret":"…"} or
//	                    {"client_id":"…","key_pem":"…","key_id":"…"(optional)} (private_key_jwt)
//	mtls:               {"cert_pem":"…","key_pem":"…"}
//	aws_sigv4:          {"access_key_id":"…","secret_access_key":"…","session_token":"…"(optional)}
//	github_app:         {"key_pem":"…"} (the app's RSA private key, PKCS#1 as GitHub issues it, or PKCS#8)
//
// Errors are *problem.Problem: 400 for malformed input (not JSON, missing,
// unknown or mistyped fields, unreadable PEM), 422 for well-formed material
// that is refused (wrong credential type, weak key, expired certificate,
// key and certificate that do not match). Every error names its fields;
// no message contains a submitted value.
func Parse(kind string, body map[string]json.RawMessage, now time.Time) (Material, Info, error) {
	c := &parseChecks{}
	in := &parseMembers{c: c, vals: body}
	var m Material
	var info Info
	switch kind {
	case KindGoogle:
		in.only("file")
		raw, ok := body["file"]
		if !ok || parseIsNull(raw) {
			c.bad("file", "is required: the service-account key file's JSON object")
			break
		}
		if c.ok() {
			m, info = parseGoogle(c, "file", raw)
		}
	case KindJWTBearer:
		in.only("key_pem", "key_id")
		keyPEM := in.str("key_pem", true)
		keyID := in.text("key_id", false, parseMaxKeyIDLen)
		if c.ok() {
			m, info = parseJWTBearer(c, "key_pem", keyPEM, keyID)
		}
	case KindClientCredentials:
		in.only("client_id", "client_secret", "key_pem", "key_id")
		cc := parseClientCreds{
			id:       in.text("client_id", true, parseMaxClientIDLen),
			secret:   in.secret("client_secret", parseMaxClientSecretLen),
			keyPEM:   in.str("key_pem", false),
			keyID:    in.text("key_id", false, parseMaxKeyIDLen),
			idField:  "client_id",
			secField: "client_secret",
			keyField: "key_pem",
			kidField: "key_id",
		}
		if c.ok() {
			m, info = cc.parse(c)
		}
	case KindMTLS:
		in.only("cert_pem", "key_pem")
		certPEM := in.str("cert_pem", true)
		keyPEM := in.str("key_pem", true)
		if c.ok() {
			m, info = parseMTLSSeparate(c, certPEM, keyPEM, now, true)
		}
	case KindAWS:
		in.only("access_key_id", "secret_access_key", "session_token")
		a := parseAWSKeys{
			id:       strings.TrimSpace(in.str("access_key_id", true)),
			secret:   strings.TrimSpace(in.str("secret_access_key", true)),
			token:    strings.TrimSpace(in.str("session_token", false)),
			idField:  "access_key_id",
			secField: "secret_access_key",
			tokField: "session_token",
		}
		if c.ok() {
			m, info = a.parse(c)
		}
	case KindGitHubApp:
		in.only("key_pem")
		keyPEM := in.str("key_pem", true)
		if c.ok() {
			m, info = parseGitHubApp(c, "key_pem", keyPEM)
		}
	default:
		c.reject("kind", "is not a service-account kind (want "+parseKinds+")")
	}
	if err := c.err(); err != nil {
		return Material{}, Info{}, err
	}
	return m, info, nil
}

// parseKinds lists the kinds for messages.
const parseKinds = "google, jwt_bearer, client_credentials, mtls, aws_sigv4 or github_app"

// ParseFile validates a multipart upload: file is the part named "file"
// and form holds the other form fields.
//
//	google:             the JSON key file (no form fields)
//	jwt_bearer:         a PEM private key; form: key_id (optional)
//	client_credentials: a JSON file {"client_id","client_secret"} (or
//	                    {"client_id","key_pem","key_id"}), or a PEM private key for
//	                    private_key_jwt with form client_id and key_id (optional);
//	                    form client_id/key_id may fill members the JSON file lacks
//	mtls:               one PEM file with the certificate chain (leaf first) and
//	                    exactly one private key (no form fields)
//	aws_sigv4:          the AWS console's access-key CSV ("Access key ID,Secret
//	                    access key", or "User name,Password,Access key ID,Secret
//	                    access key,Console login link") with one row, or an INI
//	                    credentials file ([default] aws_access_key_id = …);
//	                    form: session_token (optional), profile (to pick one
//	                    section of an INI file with several)
//	github_app:         the .pem private key GitHub generated for the app (no form fields)
//
// Errors are as for Parse; problems in the file are reported under "file"
// or "file.<member>".
func ParseFile(kind string, file []byte, form map[string]string, now time.Time) (Material, Info, error) {
	c := &parseChecks{}
	file = bytes.TrimPrefix(file, parseBOM)
	switch {
	case len(bytes.TrimSpace(file)) == 0:
		c.bad("file", "is empty")
	case len(file) > MaxFileSize:
		c.bad("file", fmt.Sprintf("is larger than %d KiB", MaxFileSize>>10))
	}
	var m Material
	var info Info
	switch kind {
	case KindGoogle:
		parseOnlyForm(c, form)
		if c.ok() {
			m, info = parseGoogle(c, "file", file)
		}
	case KindJWTBearer:
		parseOnlyForm(c, form, "key_id")
		keyID := parseFormText(c, form, "key_id", parseMaxKeyIDLen)
		if c.ok() {
			m, info = parseJWTBearer(c, "file", string(file), keyID)
		}
	case KindClientCredentials:
		parseOnlyForm(c, form, "client_id", "key_id")
		if c.ok() {
			m, info = parseClientCredentialsFile(c, file, form)
		}
	case KindMTLS:
		parseOnlyForm(c, form)
		if c.ok() {
			m, info = parseMTLSCombined(c, string(file), now)
		}
	case KindAWS:
		parseOnlyForm(c, form, "session_token", "profile")
		if c.ok() {
			m, info = parseAWSFile(c, file, form)
		}
	case KindGitHubApp:
		parseOnlyForm(c, form)
		if c.ok() {
			m, info = parseGitHubApp(c, "file", string(file))
		}
	default:
		c.reject("kind", "is not a service-account kind (want "+parseKinds+")")
	}
	if err := c.err(); err != nil {
		return Material{}, Info{}, err
	}
	return m, info, nil
}

// Inspect recomputes Info from stored material, for listings and
// warnings. It applies the same checks as Parse except the certificate's
// validity period, so an expired certificate still yields its dates
// (compare Info.NotAfter with now to warn). The error, if any, says the
// stored material is unusable; it is not a problem for the caller.
func Inspect(m Material, now time.Time) (Info, error) {
	_ = now // validity is reported in Info, not enforced
	c := &parseChecks{}
	var info Info
	switch m.Kind {
	case KindGoogle:
		_, info = parseGoogle(c, "google", m.Google)
	case KindJWTBearer:
		parseCheckText(c, "key_id", m.KeyID, parseMaxKeyIDLen)
		if c.ok() {
			_, info = parseJWTBearer(c, "key_pem", m.KeyPEM, m.KeyID)
		}
	case KindClientCredentials:
		cc := parseClientCreds{id: m.ClientID, secret: m.ClientSecret, keyPEM: m.KeyPEM, keyID: m.KeyID,
			idField: "client_id", secField: "client_secret", keyField: "key_pem", kidField: "key_id"}
		parseCheckText(c, "client_id", cc.id, parseMaxClientIDLen)
		parseCheckText(c, "key_id", cc.keyID, parseMaxKeyIDLen)
		parseCheckSecret(c, "client_secret", cc.secret, parseMaxClientSecretLen)
		if c.ok() {
			_, info = cc.parse(c)
		}
	case KindMTLS:
		_, info = parseMTLSSeparate(c, m.CertPEM, m.KeyPEM, now, false)
	case KindAWS:
		a := parseAWSKeys{id: m.AccessKeyID, secret: m.SecretAccessKey, token: m.SessionToken,
			idField: "access_key_id", secField: "secret_access_key", tokField: "session_token"}
		_, info = a.parse(c)
	case KindGitHubApp:
		_, info = parseGitHubApp(c, "key_pem", m.KeyPEM)
	default:
		c.reject("kind", "is not a service-account kind")
	}
	if err := c.err(); err != nil {
		// Not wrapped: the caller's request is not at fault.
		return Info{}, fmt.Errorf("serviceaccount: stored %s material is unusable: %s", parsePrintable(m.Kind), err.(*problem.Problem).Detail)
	}
	return info, nil
}

// --- Errors -----------------------------------------------------------

// parseChecks collects field errors. Any malformed field makes the result a
// 400; otherwise refused material makes it a 422.
type parseChecks struct {
	errs      []problem.FieldError
	malformed bool
}

func (c *parseChecks) ok() bool { return len(c.errs) == 0 }

// bad records malformed input (400).
func (c *parseChecks) bad(field, msg string) {
	c.malformed = true
	c.errs = append(c.errs, problem.FieldError{Field: field, Message: msg})
}

// reject records well-formed but refused material (422).
func (c *parseChecks) reject(field, msg string) {
	c.errs = append(c.errs, problem.FieldError{Field: field, Message: msg})
}

// key records an error of the PEM readers.
func (c *parseChecks) key(field string, err error) {
	var ke *KeyError
	if errors.As(err, &ke) && ke.Rejected {
		c.reject(field, ke.Msg)
		return
	}
	if ke != nil {
		c.bad(field, ke.Msg)
		return
	}
	c.bad(field, "cannot be read")
}

func (c *parseChecks) err() error {
	if len(c.errs) == 0 {
		return nil
	}
	status := http.StatusUnprocessableEntity
	if c.malformed {
		status = http.StatusBadRequest
	}
	detail := c.errs[0].Field + ": " + c.errs[0].Message
	if n := len(c.errs) - 1; n > 0 {
		detail += fmt.Sprintf(" (and %d more)", n)
	}
	p := problem.New(status, "%s", detail)
	p.Errors = c.errs
	return p
}

// --- JSON members and form fields -------------------------------------

// parseMembers reads string members of a JSON object by name.
type parseMembers struct {
	c      *parseChecks
	prefix string
	vals   map[string]json.RawMessage
}

// only reports members other than allowed.
func (in *parseMembers) only(allowed ...string) {
	var unknown []string
	for name := range in.vals {
		if !slices.Contains(allowed, name) {
			unknown = append(unknown, name)
		}
	}
	sort.Strings(unknown)
	for _, name := range unknown {
		in.c.bad(in.prefix+parseFieldName(name), "is not a field of this credential (allowed: "+strings.Join(allowed, ", ")+")")
	}
}

// str returns the member as a string; null and absent are "", which is
// an error when required.
func (in *parseMembers) str(name string, required bool) string {
	field := in.prefix + name
	raw, ok := in.vals[name]
	if !ok || parseIsNull(raw) {
		if required {
			in.c.bad(field, "is required")
		}
		return ""
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		in.c.bad(field, "must be a string")
		return ""
	}
	if required && strings.TrimSpace(s) == "" {
		in.c.bad(field, "is required (it is empty)")
	}
	return s
}

// text is str for an identifier: trimmed, printable, at most max
// characters.
func (in *parseMembers) text(name string, required bool, max int) string {
	s := strings.TrimSpace(in.str(name, required))
	parseCheckText(in.c, in.prefix+name, s, max)
	return s
}

// secret is str for an optional secret: trimmed, printable, at most max
// bytes.
func (in *parseMembers) secret(name string, max int) string {
	s := strings.TrimSpace(in.str(name, false))
	parseCheckSecret(in.c, in.prefix+name, s, max)
	return s
}

func parseOnlyForm(c *parseChecks, form map[string]string, allowed ...string) {
	var unknown []string
	for name, v := range form {
		if v != "" && !slices.Contains(allowed, name) {
			unknown = append(unknown, name)
		}
	}
	sort.Strings(unknown)
	for _, name := range unknown {
		msg := "is not a form field of this upload"
		if len(allowed) > 0 {
			msg += " (allowed besides file: " + strings.Join(allowed, ", ") + ")"
		}
		c.bad(parseFieldName(name), msg)
	}
}

func parseFormText(c *parseChecks, form map[string]string, name string, max int) string {
	s := strings.TrimSpace(form[name])
	parseCheckText(c, name, s, max)
	return s
}

func parseCheckText(c *parseChecks, field, s string, max int) {
	switch {
	case !utf8.ValidString(s):
		c.bad(field, "must be UTF-8 text")
	case utf8.RuneCountInString(s) > max:
		c.bad(field, fmt.Sprintf("is longer than %d characters", max))
	case strings.IndexFunc(s, func(r rune) bool { return !unicode.IsPrint(r) }) >= 0:
		c.bad(field, "must be printable text without line breaks or control characters")
	}
}

func parseCheckSecret(c *parseChecks, field, s string, max int) {
	switch {
	case len(s) > max:
		c.bad(field, fmt.Sprintf("is longer than %d bytes", max))
	case !utf8.ValidString(s):
		c.bad(field, "must be UTF-8 text")
	case strings.IndexFunc(s, func(r rune) bool { return !unicode.IsPrint(r) }) >= 0:
		c.bad(field, "must be printable text without line breaks or control characters (check for a partial or wrapped paste)")
	}
}

func parseIsNull(raw json.RawMessage) bool { return string(bytes.TrimSpace(raw)) == "null" }

// parseFieldName repeats a field name the caller sent when it is short and
// printable; names are not secrets, but garbage is not worth echoing.
func parseFieldName(name string) string {
	if name == "" || len(name) > 64 || strings.IndexFunc(name, func(r rune) bool { return r > unicode.MaxASCII || !unicode.IsPrint(r) }) >= 0 {
		return "(unprintable field name)"
	}
	return name
}

func parsePrintable(s string) string {
	if len(s) > 40 || strings.IndexFunc(s, func(r rune) bool { return r > unicode.MaxASCII || !unicode.IsPrint(r) }) >= 0 {
		return "(unprintable)"
	}
	return s
}

var parseBOM = []byte{0xEF, 0xBB, 0xBF}

// --- Google ------------------------------------------------------------

// parseGoogleLibraryMembers are the members golang.org/x/oauth2/google reads
// from a credentials file. encoding/json matches names case-insensitively,
// so a member spelled differently ("Token_URI") would be read by the
// library but not by a case-sensitive reader: such spellings are refused.
var parseGoogleLibraryMembers = []string{
	"type", "client_email", "private_key_id", "private_key", "auth_uri", "token_uri", "project_id",
	"universe_domain", "client_secret", "client_id", "refresh_token", "audience", "subject_token_type",
	"token_url", "token_info_url", "service_account_impersonation_url", "service_account_impersonation",
	"delegates", "credential_source", "quota_project_id", "workforce_pool_user_project", "revoke_url",
	"source_credentials", "web", "installed",
}

// parseGoogleOptionalStrings are string members of a service-account key file
// that Storm does not use.
var parseGoogleOptionalStrings = []string{
	"project_id", "client_id", "auth_uri", "auth_provider_x509_cert_url", "client_x509_cert_url", "universe_domain",
}

// parseGoogleForeignTypes explain the other Google credential files.
var parseGoogleForeignTypes = map[string]string{
	"authorized_user":                  "this is a user credential, not a service-account key (it comes from gcloud auth application-default login); create a key under IAM → Service accounts → Keys",
	"external_account":                 "this is a workload identity federation configuration, not a service-account key",
	"external_account_authorized_user": "this is a workforce identity federation user credential, not a service-account key",
	"impersonated_service_account":     "this is an impersonation configuration, not a service-account key; upload a key of the service account itself",
	"gdch_service_account":             "this is a Google Distributed Cloud Hosted service account, which is not supported; upload a Google Cloud service-account key",
}

// parseGoogle checks a service-account JSON key file. field names the
// file ("file"), members are reported as field.member.
func parseGoogle(c *parseChecks, field string, raw []byte) (Material, Info) {
	raw = bytes.TrimSpace(bytes.TrimPrefix(raw, parseBOM))
	switch {
	case len(raw) == 0:
		c.bad(field, "is empty")
		return Material{}, Info{}
	case len(raw) > MaxFileSize:
		c.bad(field, fmt.Sprintf("is larger than %d KiB", MaxFileSize>>10))
		return Material{}, Info{}
	case raw[0] == '"':
		c.bad(field, "must be the key file's JSON object, not a string holding it")
		return Material{}, Info{}
	case bytes.HasPrefix(raw, []byte("-----BEGIN")):
		c.bad(field, "is PEM text; upload the service-account JSON key file (IAM → Service accounts → Keys → Add key → JSON)")
		return Material{}, Info{}
	case !utf8.Valid(raw) || raw[0] == 0x30 && len(raw) > 1 && raw[1] >= 0x80:
		c.bad(field, "is a binary file (a P12 key?); upload the service-account JSON key file instead")
		return Material{}, Info{}
	case raw[0] != '{':
		c.bad(field, "must be a JSON object (the service-account key file)")
		return Material{}, Info{}
	}
	names, vals, err := parseObject(raw)
	if err != nil {
		c.bad(field, err.Error())
		return Material{}, Info{}
	}
	p := field + "."
	if len(names) > parseMaxGoogleMembers {
		c.bad(field, fmt.Sprintf("has more than %d members", parseMaxGoogleMembers))
		return Material{}, Info{}
	}
	for _, name := range names {
		if len(name) > parseMaxMemberNameLen {
			c.bad(field, fmt.Sprintf("has a member name longer than %d bytes", parseMaxMemberNameLen))
			continue
		}
		for _, known := range parseGoogleLibraryMembers {
			if name != known && strings.EqualFold(name, known) {
				c.bad(p+known, "is spelled with different capitalisation; member names are case-sensitive")
			}
		}
	}
	if !c.ok() {
		return Material{}, Info{}
	}
	in := &parseMembers{c: c, prefix: p, vals: vals}

	typ := in.str("type", false)
	switch {
	case !c.ok():
		return Material{}, Info{}
	case typ == "" && (vals["web"] != nil || vals["installed"] != nil):
		c.reject(p+"type", "this is an OAuth client file (client_secret….json), not a service-account key")
		return Material{}, Info{}
	case typ == "":
		c.bad(p+"type", `is required (a service-account key file has "type": "service_account")`)
		return Material{}, Info{}
	case typ != string(google.ServiceAccount):
		if msg, ok := parseGoogleForeignTypes[typ]; ok {
			c.reject(p+"type", msg)
		} else {
			c.reject(p+"type", `is not "service_account"; this is not a service-account key file`)
		}
		return Material{}, Info{}
	}
	// Members the library would act on for a service account although
	// they do not belong in one: an OAuth client section makes it build
	// an interactive OAuth flow instead, an audience changes the JWT.
	for _, name := range []string{"web", "installed"} {
		if _, ok := vals[name]; ok {
			c.reject(p+name, "is an OAuth client section and does not belong in a service-account key file")
		}
	}
	if _, ok := vals["audience"]; ok {
		c.reject(p+"audience", "does not belong in a service-account key file")
	}

	email := in.str("client_email", true)
	if email != "" && !parseEmailish(email) {
		c.bad(p+"client_email", "must be the service account's email address")
	}
	keyID := in.str("private_key_id", true)
	parseCheckText(c, p+"private_key_id", keyID, parseMaxKeyIDLen)
	tokenURI := in.str("token_uri", true)
	if tokenURI != "" {
		parseCheckTokenURL(c, p+"token_uri", tokenURI)
	}
	for _, name := range parseGoogleOptionalStrings {
		s := in.str(name, false)
		if len(s) > parseMaxGoogleFieldLen {
			c.bad(p+name, fmt.Sprintf("is longer than %d bytes", parseMaxGoogleFieldLen))
		}
	}
	keyPEM := in.str("private_key", true)
	var key crypto.Signer
	if keyPEM != "" {
		k, _, err := parsePrivateKeyText(keyPEM)
		switch {
		case err != nil:
			c.key(p+"private_key", err)
		case !parseIsRSA(k):
			c.reject(p+"private_key", "is not an RSA key; Google service-account keys are RSA")
		default:
			key = k
		}
	}
	if !c.ok() {
		return Material{}, Info{}
	}

	// Cross-check with Google's own reader, which is what mints tokens
	// from this file, so that both read the same account, key and URL.
	if _, err := google.CredentialsFromJSONWithType(context.Background(), raw, google.ServiceAccount); err != nil {
		parseGoogleLibraryError(c, field, err)
		return Material{}, Info{}
	}
	cfg, err := google.JWTConfigFromJSON(raw)
	if err != nil {
		parseGoogleLibraryError(c, field, err)
		return Material{}, Info{}
	}
	if cfg.Email != email || cfg.PrivateKeyID != keyID || cfg.TokenURL != tokenURI || string(cfg.PrivateKey) != keyPEM || cfg.Audience != "" {
		c.reject(field, "Google's client library reads this key file differently; upload the file as Google issued it")
		return Material{}, Info{}
	}

	var compact bytes.Buffer
	if err := json.Compact(&compact, raw); err != nil { // cannot fail: raw was decoded above
		c.bad(field, "is not valid JSON")
		return Material{}, Info{}
	}
	alg, bits := KeyInfo(key)
	return Material{Kind: KindGoogle, Google: json.RawMessage(compact.Bytes())}, Info{
		Hint:             parseShortID(keyID),
		Identity:         email,
		KeyID:            keyID,
		Algorithm:        alg,
		Bits:             bits,
		FingerprintInput: parseSPKI(key),
	}
}

// parseGoogleLibraryError reports the Google library's refusal of a file that
// passed the checks above: a member it reads with another type (400), or
// anything else (422). Its message is not repeated: it may quote values.
func parseGoogleLibraryError(c *parseChecks, field string, err error) {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		if name := te.Field; name != "" && parseFieldName(name) == name {
			c.bad(field+"."+name, "has the wrong type for Google's client library")
		} else {
			c.bad(field, "has a member with the wrong type for Google's client library")
		}
		return
	}
	c.reject(field, "Google's client library cannot read this key file")
}

// parseObject decodes one JSON object's members, refusing duplicate
// names and anything after the object. Names are unescaped.
func parseObject(raw []byte) (names []string, vals map[string]json.RawMessage, err error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	syntax := func(err error) error {
		var se *json.SyntaxError
		if errors.As(err, &se) {
			return fmt.Errorf("is not valid JSON (error at byte %d)", se.Offset)
		}
		return errors.New("is not valid JSON")
	}
	tok, err := dec.Token()
	if err != nil {
		return nil, nil, syntax(err)
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, nil, errors.New("must be a JSON object")
	}
	vals = map[string]json.RawMessage{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, nil, syntax(err)
		}
		name, ok := tok.(string)
		if !ok {
			return nil, nil, errors.New("is not valid JSON")
		}
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, nil, syntax(err)
		}
		if _, dup := vals[name]; dup {
			return nil, nil, fmt.Errorf("has the member %q twice", parseFieldName(name))
		}
		names = append(names, name)
		vals[name] = v
	}
	if _, err := dec.Token(); err != nil { // the closing brace
		return nil, nil, syntax(err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, nil, errors.New("has data after the JSON object")
	}
	return names, vals, nil
}

// parseEmailish accepts what looks like a service account's email address.
func parseEmailish(s string) bool {
	if len(s) > parseMaxEmailLen || strings.Count(s, "@") != 1 {
		return false
	}
	local, domain, _ := strings.Cut(s, "@")
	if local == "" || len(local) > 64 || !strings.Contains(domain, ".") ||
		strings.HasPrefix(domain, ".") || strings.HasSuffix(domain, ".") || strings.Contains(domain, "..") {
		return false
	}
	for _, r := range local {
		if !parseIsAlnum(r) && !strings.ContainsRune(".-_+%", r) {
			return false
		}
	}
	for _, r := range domain {
		if !parseIsAlnum(r) && r != '.' && r != '-' {
			return false
		}
	}
	return true
}

func parseIsAlnum(r rune) bool {
	return r < unicode.MaxASCII && (unicode.IsLetter(r) || unicode.IsDigit(r))
}

// parseCheckTokenURL accepts an https URL, or http to a loopback host (tests).
func parseCheckTokenURL(c *parseChecks, field, s string) {
	u, err := url.Parse(s)
	switch {
	case err != nil || !u.IsAbs() || u.Host == "" || u.Opaque != "":
		c.bad(field, "must be an absolute https URL")
		return
	case u.User != nil:
		c.bad(field, "must not contain a user name or password")
		return
	case u.Fragment != "" || strings.Contains(s, "#"):
		c.bad(field, "must not have a #fragment")
		return
	}
	switch u.Scheme {
	case "https":
	case "http":
		if !parseIsLoopback(u.Hostname()) {
			c.reject(field, "must use https (plain http is allowed only for localhost)")
		}
	default:
		c.reject(field, "must be an https URL")
	}
}

func parseIsLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// --- Keys -------------------------------------------------------------

// parsePrivateKeyText is PrivateKey returning also the normalised PEM text of
// the key (the one block, without surrounding text).
func parsePrivateKeyText(text string) (crypto.Signer, string, error) {
	blocks, err := pemBlocks(text)
	if err != nil {
		return nil, "", err
	}
	if len(blocks) != 1 {
		for _, b := range blocks {
			if !isPrivateKeyBlock(b.Type) {
				return nil, "", malformedKey("unexpected %s (want one private key)", describeBlock(b.Type))
			}
		}
		return nil, "", malformedKey("want exactly one private key, found %d", len(blocks))
	}
	if !isPrivateKeyBlock(blocks[0].Type) {
		return nil, "", malformedKey("unexpected %s (want one private key)", describeBlock(blocks[0].Type))
	}
	k, err := privateKey(blocks[0])
	if err != nil {
		return nil, "", err
	}
	return k, parseEncodeBlock(blocks[0]), nil
}

func parseEncodeBlock(b *pem.Block) string {
	return string(pem.EncodeToMemory(&pem.Block{Type: b.Type, Bytes: b.Bytes}))
}

func parseIsRSA(k crypto.Signer) bool { _, ok := k.(*rsa.PrivateKey); return ok }

// parseJWTSigningKey accepts the keys JWT signers use here: RSA or EC.
func parseJWTSigningKey(c *parseChecks, field, text string) (crypto.Signer, string) {
	k, norm, err := parsePrivateKeyText(text)
	if err != nil {
		c.key(field, err)
		return nil, ""
	}
	switch k.(type) {
	case *rsa.PrivateKey, *ecdsa.PrivateKey:
		return k, norm
	case ed25519.PrivateKey:
		c.reject(field, "Ed25519 keys are not supported for signing JWTs; use RSA (2048 bits or more) or EC P-256/P-384/P-521")
	default:
		c.reject(field, "unsupported private key algorithm")
	}
	return nil, ""
}

func parseJWTBearer(c *parseChecks, field, keyPEM, keyID string) (Material, Info) {
	k, norm := parseJWTSigningKey(c, field, keyPEM)
	if !c.ok() {
		return Material{}, Info{}
	}
	return Material{Kind: KindJWTBearer, KeyPEM: norm, KeyID: keyID}, parseKeyInfo(k, keyID)
}

// parseKeyInfo describes a signing key named by keyID.
func parseKeyInfo(k crypto.Signer, keyID string) Info {
	alg, bits := KeyInfo(k)
	pub := parseSPKI(k)
	hint := parseShortID(keyID)
	if keyID == "" {
		sum := sha256.Sum256(pub)
		hint = "sha256:" + hex.EncodeToString(sum[:4])
	}
	return Info{Hint: hint, KeyID: keyID, Algorithm: alg, Bits: bits, FingerprintInput: pub}
}

// parseSPKI is the DER SubjectPublicKeyInfo of k's public key.
func parseSPKI(k crypto.Signer) []byte {
	b, err := x509.MarshalPKIXPublicKey(k.Public())
	if err != nil { // the key types accepted here always marshal
		return nil
	}
	return b
}

// --- GitHub App -------------------------------------------------------

// parseGitHubApp accepts a GitHub App's private key: RSA (GitHub issues
// 2048-bit PKCS#1 keys), PKCS#1 or PKCS#8. Info's Identity is the key's
// SHA-256 fingerprint as GitHub shows it in the app's settings, so a
// person can tell which of the app's keys this is.
func parseGitHubApp(c *parseChecks, field, keyPEM string) (Material, Info) {
	k, norm, err := parsePrivateKeyText(keyPEM)
	if err != nil {
		c.key(field, err)
		return Material{}, Info{}
	}
	if !parseIsRSA(k) {
		c.reject(field, "is not an RSA key; GitHub App private keys are RSA (download a new one from the app's settings)")
		return Material{}, Info{}
	}
	info := parseKeyInfo(k, "")
	if fp, err := PublicKeyFingerprint(k); err == nil {
		info.Identity = fp
	}
	return Material{Kind: KindGitHubApp, KeyPEM: norm}, info
}

// --- Client credentials ----------------------------------------------

type parseClientCreds struct {
	id, secret, keyPEM, keyID             string
	idField, secField, keyField, kidField string
}

func (cc parseClientCreds) parse(c *parseChecks) (Material, Info) {
	if strings.TrimSpace(cc.keyPEM) == "" {
		cc.keyPEM = ""
	}
	switch {
	case cc.id == "":
		c.bad(cc.idField, "is required")
	case cc.secret != "" && cc.keyPEM != "":
		c.bad(cc.secField, "give either client_secret or key_pem (private_key_jwt), not both")
	case cc.secret == "" && cc.keyPEM == "":
		c.bad(cc.secField, "is required (or key_pem, for private_key_jwt client authentication)")
	case cc.secret != "" && cc.keyID != "":
		c.bad(cc.kidField, "is only used with key_pem (private_key_jwt)")
	}
	if !c.ok() {
		return Material{}, Info{}
	}
	if cc.secret != "" {
		return Material{Kind: KindClientCredentials, ClientID: cc.id, ClientSecret: cc.secret}, Info{
			Hint:             parseSecretHint(cc.secret),
			Identity:         cc.id,
			FingerprintInput: []byte(cc.id),
		}
	}
	k, norm := parseJWTSigningKey(c, cc.keyField, cc.keyPEM)
	if !c.ok() {
		return Material{}, Info{}
	}
	info := parseKeyInfo(k, cc.keyID)
	info.Identity = cc.id
	return Material{Kind: KindClientCredentials, ClientID: cc.id, KeyPEM: norm, KeyID: cc.keyID}, info
}

// parseClientCredentialsFile reads a JSON file {"client_id","client_secret"}
// (or with key_pem) or a PEM key with client_id in the form.
func parseClientCredentialsFile(c *parseChecks, file []byte, form map[string]string) (Material, Info) {
	formID := parseFormText(c, form, "client_id", parseMaxClientIDLen)
	formKID := parseFormText(c, form, "key_id", parseMaxKeyIDLen)
	trimmed := bytes.TrimSpace(file)
	if bytes.HasPrefix(trimmed, []byte("-----BEGIN")) {
		if formID == "" {
			c.bad("client_id", "is required with a PEM key file (private_key_jwt)")
		}
		if !c.ok() {
			return Material{}, Info{}
		}
		return parseClientCreds{id: formID, keyPEM: string(file), keyID: formKID,
			idField: "client_id", secField: "file", keyField: "file", kidField: "key_id"}.parse(c)
	}
	if len(trimmed) == 0 || trimmed[0] != '{' {
		c.bad("file", `must be a JSON file {"client_id":"…","client_secret":"…"} or a PEM private key`)
		return Material{}, Info{}
	}
	_, vals, err := parseObject(trimmed)
	if err != nil {
		c.bad("file", err.Error())
		return Material{}, Info{}
	}
	in := &parseMembers{c: c, prefix: "file.", vals: vals}
	in.only("client_id", "client_secret", "key_pem", "key_id")
	cc := parseClientCreds{
		id:       in.text("client_id", false, parseMaxClientIDLen),
		secret:   in.secret("client_secret", parseMaxClientSecretLen),
		keyPEM:   in.str("key_pem", false),
		keyID:    in.text("key_id", false, parseMaxKeyIDLen),
		idField:  "file.client_id",
		secField: "file.client_secret",
		keyField: "file.key_pem",
		kidField: "file.key_id",
	}
	cc.id = parseMerge(c, "client_id", cc.id, formID)
	cc.keyID = parseMerge(c, "key_id", cc.keyID, formKID)
	if !c.ok() {
		return Material{}, Info{}
	}
	return cc.parse(c)
}

// parseMerge takes a value from the file or, where the file lacks it, the
// form; both must agree when both are given.
func parseMerge(c *parseChecks, field, inFile, inForm string) string {
	if inFile != "" && inForm != "" && inFile != inForm {
		c.bad(field, "differs between the file and the form field")
	}
	if inFile != "" {
		return inFile
	}
	return inForm
}

// parseSecretHint shows at most the last 4 characters of a secret, and none of
// a short one.
func parseSecretHint(s string) string {
	r := []rune(s)
	if len(r) < 16 {
		return "…"
	}
	return "…" + string(r[len(r)-4:])
}

// parseShortID abbreviates a long identifier for a hint.
func parseShortID(s string) string {
	r := []rune(s)
	if len(r) <= 16 {
		return s
	}
	return string(r[:8]) + "…" + string(r[len(r)-4:])
}

// --- mTLS -------------------------------------------------------------

// parseMTLSSeparate checks a certificate chain and key given apart (the JSON
// body, stored material). With enforceTime, a leaf outside its validity
// period is refused.
func parseMTLSSeparate(c *parseChecks, certPEM, keyPEM string, now time.Time, enforceTime bool) (Material, Info) {
	blocks, err := pemBlocks(certPEM)
	if err != nil {
		c.key("cert_pem", err)
	}
	var certs []*pem.Block
	for _, b := range blocks {
		switch {
		case b.Type == "CERTIFICATE":
			certs = append(certs, b)
		case isPrivateKeyBlock(b.Type):
			c.bad("cert_pem", "holds a private key; put it in key_pem")
		default:
			c.bad("cert_pem", "holds an unexpected "+describeBlock(b.Type)+" (want CERTIFICATE blocks, client certificate first)")
		}
	}
	key, keyNorm, err := parsePrivateKeyText(keyPEM)
	if err != nil {
		c.key("key_pem", err)
	}
	if !c.ok() {
		return Material{}, Info{}
	}
	return parseMTLS(c, "cert_pem", "key_pem", certs, key, keyNorm, now, enforceTime)
}

// parseMTLSCombined checks one PEM file holding the chain and the key.
func parseMTLSCombined(c *parseChecks, file string, now time.Time) (Material, Info) {
	blocks, err := pemBlocks(file)
	if err != nil {
		c.key("file", err)
		return Material{}, Info{}
	}
	var certs, keys []*pem.Block
	for _, b := range blocks {
		switch {
		case b.Type == "CERTIFICATE":
			certs = append(certs, b)
		case isPrivateKeyBlock(b.Type):
			keys = append(keys, b)
		default:
			c.bad("file", "holds an unexpected "+describeBlock(b.Type)+" (want CERTIFICATE blocks and one private key)")
		}
	}
	if len(certs) == 0 {
		c.bad("file", "holds no certificate (want the client certificate, its chain and its private key)")
	}
	if len(keys) != 1 {
		c.bad("file", fmt.Sprintf("must hold exactly one private key, found %d", len(keys)))
	}
	if !c.ok() {
		return Material{}, Info{}
	}
	key, err := privateKey(keys[0])
	if err != nil {
		c.key("file", err)
		return Material{}, Info{}
	}
	return parseMTLS(c, "file", "file", certs, key, parseEncodeBlock(keys[0]), now, true)
}

func parseMTLS(c *parseChecks, certField, keyField string, blocks []*pem.Block, key crypto.Signer, keyNorm string, now time.Time, enforceTime bool) (Material, Info) {
	if len(blocks) == 0 {
		c.bad(certField, "holds no certificate")
		return Material{}, Info{}
	}
	certs := make([]*x509.Certificate, len(blocks))
	var chain strings.Builder
	for i, b := range blocks {
		if len(b.Headers) > 0 {
			c.bad(certField, fmt.Sprintf("certificate %d has unexpected PEM headers", i+1))
			continue
		}
		cert, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			c.bad(certField, fmt.Sprintf("certificate %d cannot be parsed", i+1))
			continue
		}
		certs[i] = cert
		chain.WriteString(parseEncodeBlock(b))
	}
	if !c.ok() {
		return Material{}, Info{}
	}
	for i := 0; i+1 < len(certs); i++ {
		if !bytes.Equal(certs[i].RawIssuer, certs[i+1].RawSubject) {
			c.reject(certField, fmt.Sprintf("the chain is out of order: certificate %d was not issued by certificate %d (put the client certificate first, then each issuer)", i+1, i+2))
			return Material{}, Info{}
		}
	}
	leaf := certs[0]
	type equaler interface{ Equal(crypto.PublicKey) bool }
	if pub, ok := key.Public().(equaler); !ok || !pub.Equal(leaf.PublicKey) {
		c.reject(keyField, "the key does not belong to the certificate (the first certificate must be the client certificate for this key)")
		return Material{}, Info{}
	}
	if len(leaf.ExtKeyUsage) > 0 || len(leaf.UnknownExtKeyUsage) > 0 {
		if !slices.Contains(leaf.ExtKeyUsage, x509.ExtKeyUsageClientAuth) && !slices.Contains(leaf.ExtKeyUsage, x509.ExtKeyUsageAny) {
			c.reject(certField, "the certificate is not valid for TLS client authentication (its extended key usage lacks clientAuth)")
		}
	}
	if enforceTime {
		switch {
		case now.After(leaf.NotAfter):
			c.reject(certField, "the certificate expired on "+leaf.NotAfter.UTC().Format(time.RFC3339))
		case now.Before(leaf.NotBefore):
			c.reject(certField, "the certificate is not valid until "+leaf.NotBefore.UTC().Format(time.RFC3339))
		}
	}
	if !c.ok() {
		return Material{}, Info{}
	}
	// Cross-check with crypto/tls, which presents the pair.
	if _, err := tls.X509KeyPair([]byte(chain.String()), []byte(keyNorm)); err != nil {
		c.reject(certField, "the certificate and key cannot be used for TLS")
		return Material{}, Info{}
	}
	alg, bits := KeyInfo(key)
	hint := leaf.Subject.CommonName
	if hint == "" {
		hint = leaf.Subject.String()
	}
	if hint == "" {
		hint = "serial " + leaf.SerialNumber.Text(16)
	}
	return Material{Kind: KindMTLS, CertPEM: chain.String(), KeyPEM: keyNorm}, Info{
		Hint:             parseTruncRunes(hint, 64),
		Identity:         parseTruncRunes(leaf.Subject.String(), 256),
		Algorithm:        alg,
		Bits:             bits,
		NotBefore:        leaf.NotBefore,
		NotAfter:         leaf.NotAfter,
		FingerprintInput: parseSPKI(key),
	}
}

func parseTruncRunes(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

// --- AWS --------------------------------------------------------------

type parseAWSKeys struct {
	id, secret, token           string
	idField, secField, tokField string
}

func (a parseAWSKeys) parse(c *parseChecks) (Material, Info) {
	switch {
	case a.id == "":
		c.bad(a.idField, "is required")
	case parseIsAWSSecret(a.id):
		c.bad(a.idField, "looks like a secret access key; the access key id is 20 characters starting with AKIA or ASIA (were the fields swapped?)")
	case !parseIsAWSKeyID(a.id):
		c.bad(a.idField, "must be an AWS access key id: AKIA (long-term key) or ASIA (temporary key) followed by 16 upper-case letters or digits")
	}
	switch {
	case a.secret == "":
		c.bad(a.secField, "is required")
	case !parseIsAWSSecret(a.secret):
		c.bad(a.secField, "must be 40 characters of letters, digits, / and + (the secret access key shown when the key was created)")
	}
	switch {
	case len(a.token) > parseMaxSessionTokenLen:
		c.bad(a.tokField, fmt.Sprintf("is longer than %d bytes", parseMaxSessionTokenLen))
	case strings.IndexFunc(a.token, func(r rune) bool { return r > unicode.MaxASCII || r == ' ' || !unicode.IsPrint(r) }) >= 0:
		c.bad(a.tokField, "must be printable ASCII without spaces or line breaks")
	case strings.HasPrefix(a.id, "ASIA") && a.token == "":
		c.bad(a.tokField, "is required: temporary (ASIA…) access keys only work with their session token")
	case strings.HasPrefix(a.id, "AKIA") && a.token != "":
		c.reject(a.tokField, "is only used with temporary (ASIA…) access keys; a long-term AKIA… key has none")
	}
	if !c.ok() {
		return Material{}, Info{}
	}
	return Material{Kind: KindAWS, AccessKeyID: a.id, SecretAccessKey: a.secret, SessionToken: a.token}, Info{
		Hint:             a.id[:4] + "…" + a.id[len(a.id)-4:],
		Identity:         a.id,
		KeyID:            a.id,
		FingerprintInput: []byte(a.id),
	}
}

// parseIsAWSKeyID matches ^(AKIA|ASIA)[A-Z0-9]{16}$.
func parseIsAWSKeyID(s string) bool {
	if len(s) != 20 || (!strings.HasPrefix(s, "AKIA") && !strings.HasPrefix(s, "ASIA")) {
		return false
	}
	for _, r := range s[4:] {
		if !(r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			return false
		}
	}
	return true
}

// parseIsAWSSecret matches ^[A-Za-z0-9/+]{40}$.
func parseIsAWSSecret(s string) bool {
	if len(s) != 40 {
		return false
	}
	for _, r := range s {
		if !(r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '/' || r == '+') {
			return false
		}
	}
	return true
}

// parseAWSFile reads the console's access-key CSV or an INI credentials file.
func parseAWSFile(c *parseChecks, file []byte, form map[string]string) (Material, Info) {
	text := strings.TrimSpace(string(file))
	if !utf8.ValidString(text) {
		c.bad("file", "must be a UTF-8 text file (the access-key CSV or an AWS credentials file)")
		return Material{}, Info{}
	}
	formToken := strings.TrimSpace(form["session_token"])
	profile := strings.TrimSpace(form["profile"])
	var id, secret, token string
	var ok bool
	first, _, _ := strings.Cut(text, "\n")
	first = strings.TrimSpace(first)
	switch {
	case strings.HasPrefix(first, "export ") || strings.HasPrefix(first, "AWS_"):
		c.bad("file", "looks like shell variables; upload the access-key CSV from the AWS console or an AWS credentials file")
		return Material{}, Info{}
	case strings.HasPrefix(first, "[") || strings.HasPrefix(first, "#") || strings.HasPrefix(first, ";") ||
		strings.HasPrefix(first, "aws_"):
		id, secret, token, ok = parseAWSINI(c, text, profile)
	default:
		if profile != "" {
			c.bad("profile", "is only used with an AWS credentials (INI) file")
		}
		id, secret, ok = parseAWSCSV(c, text)
	}
	if !ok || !c.ok() {
		return Material{}, Info{}
	}
	tokField := "session_token"
	switch {
	case token != "" && formToken != "" && token != formToken:
		c.bad("session_token", "differs between the file and the form field")
		return Material{}, Info{}
	case token != "":
		tokField = "file.session_token"
	default:
		token = formToken
	}
	return parseAWSKeys{id: id, secret: secret, token: token,
		idField: "file.access_key_id", secField: "file.secret_access_key", tokField: tokField}.parse(c)
}

var (
	parseAWSCSVHeader     = []string{"access key id", "secret access key"}
	parseAWSCSVUserHeader = []string{"user name", "password", "access key id", "secret access key", "console login link"}
)

func parseAWSCSV(c *parseChecks, text string) (id, secret string, ok bool) {
	r := csv.NewReader(strings.NewReader(text))
	r.FieldsPerRecord = -1
	r.TrimLeadingSpace = true
	rows, err := r.ReadAll()
	if err != nil {
		var pe *csv.ParseError
		if errors.As(err, &pe) {
			c.bad("file", fmt.Sprintf("is not valid CSV (line %d)", pe.Line))
		} else {
			c.bad("file", "is not valid CSV")
		}
		return "", "", false
	}
	if len(rows) == 0 {
		c.bad("file", "is empty")
		return "", "", false
	}
	header := make([]string, len(rows[0]))
	for i, h := range rows[0] {
		header[i] = strings.ToLower(strings.TrimSpace(h))
	}
	var idCol, secCol int
	switch {
	case slices.Equal(header, parseAWSCSVHeader):
		idCol, secCol = 0, 1
	case slices.Equal(header, parseAWSCSVUserHeader):
		idCol, secCol = 2, 3
	default:
		c.bad("file", `is not an AWS access-key CSV: the first line must be "Access key ID,Secret access key" (or the user-credentials variant "User name,Password,Access key ID,Secret access key,Console login link")`)
		return "", "", false
	}
	switch {
	case len(rows) == 1:
		c.bad("file", "has a header but no access key row")
		return "", "", false
	case len(rows) > 2:
		c.bad("file", fmt.Sprintf("holds %d access keys; upload a file with exactly one", len(rows)-1))
		return "", "", false
	case len(rows[1]) != len(header):
		c.bad("file", fmt.Sprintf("the access key row has %d columns; the header has %d", len(rows[1]), len(header)))
		return "", "", false
	}
	return strings.TrimSpace(rows[1][idCol]), strings.TrimSpace(rows[1][secCol]), true
}

// parseAWSProfileOnly are settings that mean a profile gets its credentials
// some other way than static keys.
var parseAWSProfileOnly = []string{"role_arn", "source_profile", "credential_process", "sso_start_url", "sso_session", "sso_account_id", "sso_role_name", "web_identity_token_file"}

func parseAWSINI(c *parseChecks, text, profile string) (id, secret, token string, ok bool) {
	type section struct {
		name   string
		values map[string]string
		line   int
	}
	var sections []*section
	var cur *section
	for n, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		lineNo := n + 1
		switch {
		case line == "" || line[0] == '#' || line[0] == ';':
			continue
		case line[0] == '[':
			if !strings.HasSuffix(line, "]") {
				c.bad("file", fmt.Sprintf("line %d: a section header must end with ]", lineNo))
				return "", "", "", false
			}
			name := strings.TrimSpace(line[1 : len(line)-1])
			name = strings.TrimSpace(strings.TrimPrefix(name, "profile "))
			if name == "" {
				c.bad("file", fmt.Sprintf("line %d: empty profile name", lineNo))
				return "", "", "", false
			}
			for _, s := range sections {
				if s.name == name {
					c.bad("file", fmt.Sprintf("line %d: the profile appears twice", lineNo))
					return "", "", "", false
				}
			}
			cur = &section{name: name, values: map[string]string{}, line: lineNo}
			sections = append(sections, cur)
			continue
		}
		k, v, found := strings.Cut(line, "=")
		k = strings.ToLower(strings.TrimSpace(k))
		v = strings.TrimSpace(v)
		switch {
		case !found:
			c.bad("file", fmt.Sprintf("line %d is neither a [profile] header nor key = value", lineNo))
			return "", "", "", false
		case cur == nil:
			c.bad("file", fmt.Sprintf("line %d is outside a [profile] section (an AWS credentials file starts with [default])", lineNo))
			return "", "", "", false
		}
		switch k {
		case "aws_access_key_id", "aws_secret_access_key", "aws_session_token", "aws_security_token", "region", "output":
		default:
			if slices.Contains(parseAWSProfileOnly, k) {
				c.reject("file", fmt.Sprintf("line %d: this profile gets credentials from a role, SSO or a process; upload static access keys", lineNo))
			} else {
				c.bad("file", fmt.Sprintf("line %d: unsupported setting (want aws_access_key_id, aws_secret_access_key, aws_session_token)", lineNo))
			}
			return "", "", "", false
		}
		if _, dup := cur.values[k]; dup {
			c.bad("file", fmt.Sprintf("line %d: the setting appears twice in the profile", lineNo))
			return "", "", "", false
		}
		cur.values[k] = v
	}
	var s *section
	switch {
	case len(sections) == 0:
		c.bad("file", "holds no [profile] section")
		return "", "", "", false
	case profile != "":
		for _, x := range sections {
			if x.name == profile {
				s = x
			}
		}
		if s == nil {
			c.bad("profile", "names no profile of the file")
			return "", "", "", false
		}
	case len(sections) == 1:
		s = sections[0]
	default:
		c.bad("file", fmt.Sprintf("holds %d profiles; choose one with the profile form field", len(sections)))
		return "", "", "", false
	}
	id, secret = s.values["aws_access_key_id"], s.values["aws_secret_access_key"]
	token = s.values["aws_session_token"]
	if legacy := s.values["aws_security_token"]; legacy != "" {
		if token != "" && token != legacy {
			c.bad("file.session_token", "aws_session_token and aws_security_token differ")
			return "", "", "", false
		}
		token = legacy
	}
	if id == "" {
		c.bad("file.access_key_id", "the profile has no aws_access_key_id")
	}
	if secret == "" {
		c.bad("file.secret_access_key", "the profile has no aws_secret_access_key")
	}
	return id, secret, token, c.ok()
}
