package exchange

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/stormcreds/storm/internal/problem"
	"github.com/stormcreds/storm/internal/proxy"
)

// Credential kinds an exchange block belongs to, and the templates each
// may use.
const (
	KindAPIKey = "api_key"
	KindBasic  = "basic"
)

// Templates substituted in body, form and header values.
const (
	TemplateAPIKey   = "{{api_key}}"
	TemplateUsername = "{{username}}"
	TemplatePassword = "{{password}}"
)

// Limits on a config. The whole integration config is at most 16 KiB;
// these bound the parts that are walked at every exchange.
const (
	MaxConfigSize = 16 << 10
	maxDepth      = 8
	maxValues     = 200
	maxNameLen    = 256
	maxValueLen   = 4096
)

// Config is the "exchange" block of an api_key or basic integration
// (shared/API.md): how the saved credential is swapped for a short-lived
// session token and how that token is applied. It holds templates, never
// a secret. Body (JSON) and Form are exclusive; with GET, Form goes into
// the query string and Body is refused.
type Config struct {
	Method string `json:"method"`
	// Path is relative to the integration's base URL ("/auth/session",
	// optionally with a query); it takes no templates.
	Path string            `json:"path"`
	Body map[string]any    `json:"body,omitempty"`
	Form map[string]string `json:"form,omitempty"`
	// Headers are extra request headers (an extension of the API's
	// block); values may hold templates, as for providers that take the
	// key in a header of the session request.
	Headers map[string]string `json:"headers,omitempty"`
	// TokenPointer is an RFC 6901 JSON pointer to the session token (a
	// string) in the answer.
	TokenPointer string `json:"token_pointer"`
	// ExpiresInPointer points at the lifetime in seconds (a number or a
	// numeric string); ExpiresAtPointer at the expiry (RFC 3339, or Unix
	// seconds — milliseconds when over 10^11). At most one of them; with
	// neither the lifetime is the token's JWT exp, else Options.DefaultTTL.
	ExpiresInPointer string `json:"expires_in_pointer,omitempty"`
	ExpiresAtPointer string `json:"expires_at_pointer,omitempty"`
	Apply            Apply  `json:"apply"`
}

// Apply says how requests carry the session token: a header (name and
// prefix, such as Authorization and "Bearer ") or a query parameter.
type Apply struct {
	In     string `json:"in"` // "header" or "query"
	Name   string `json:"name"`
	Prefix string `json:"prefix,omitempty"`
}

var templatePattern = regexp.MustCompile(`\{\{[^{}]*\}\}`)

// ParseConfig reads and checks an exchange block for an integration of
// kind (KindAPIKey or KindBasic). Unknown members, a template other
// than those of kind ({{api_key}}; {{username}}, {{password}}), a
// template outside body, form and header values, a method other than
// GET, POST or PUT, a path that is not relative to the base URL, a
// malformed RFC 6901 pointer, an apply.in other than header or query, and
// a block that never sends the credential are refused. Errors are 400
// *problem.Problem naming fields as "exchange.<member>".
func ParseConfig(raw json.RawMessage, kind string) (Config, error) {
	if len(raw) > MaxConfigSize {
		return Config{}, problem.Field("exchange", fmt.Sprintf("is larger than %d KiB", MaxConfigSize>>10))
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	dec.UseNumber()
	var c Config
	if err := dec.Decode(&c); err != nil {
		return Config{}, decodeProblem(err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return Config{}, problem.Field("exchange", "must be one JSON object")
	}
	if err := c.Validate(kind); err != nil {
		return Config{}, err
	}
	return c, nil
}

func decodeProblem(err error) error {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) && te.Field != "" {
		return problem.Field("exchange."+te.Field, "has the wrong type (want "+te.Type.String()+")")
	}
	msg := err.Error()
	if name, ok := strings.CutPrefix(msg, "json: unknown field "); ok {
		name = strings.Trim(name, `"`)
		if !fieldNameOK(name) {
			name = "(unprintable)"
		}
		return problem.Field("exchange."+name, "unknown setting (known: "+strings.Join(members(reflect.TypeFor[Config]()), ", ")+
			"); apply takes "+strings.Join(members(reflect.TypeFor[Apply]()), ", "))
	}
	return problem.Field("exchange", "must be a JSON object")
}

// members lists the JSON names of a struct's fields, sorted.
func members(t reflect.Type) []string {
	var out []string
	for f := range t.Fields() {
		if name, _, _ := strings.Cut(f.Tag.Get("json"), ","); name != "" && name != "-" {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out
}

func fieldNameOK(s string) bool {
	return s != "" && len(s) <= 64 && strings.IndexFunc(s, func(r rune) bool { return r > unicode.MaxASCII || !unicode.IsPrint(r) }) < 0
}

// Validate checks c for an integration of kind (see ParseConfig).
func (c Config) Validate(kind string) error {
	v := &checks{}
	allowed := map[string]bool{}
	switch kind {
	case KindAPIKey:
		allowed[TemplateAPIKey] = true
	case KindBasic:
		allowed[TemplateUsername], allowed[TemplatePassword] = true, true
	default:
		v.add("exchange", "is only for api_key and basic integrations")
		return v.err()
	}

	switch c.Method {
	case http.MethodGet, http.MethodPost, http.MethodPut:
	case "":
		v.add("exchange.method", "is required (GET, POST or PUT)")
	default:
		v.add("exchange.method", "must be GET, POST or PUT")
	}
	checkPath(v, c.Path)

	used := false
	switch {
	case c.Body != nil && c.Form != nil:
		v.add("exchange.body", "and exchange.form are exclusive: give one")
	case c.Body != nil && c.Method == http.MethodGet:
		v.add("exchange.body", "cannot be sent with GET (use form, which goes into the query)")
	}
	count := 0
	if c.Body != nil {
		used = checkJSON(v, "exchange.body", c.Body, allowed, 1, &count) || used
	}
	for _, k := range sortedKeys(c.Form) {
		field := "exchange.form." + printableName(k)
		switch {
		case k == "" || len(k) > maxNameLen || !printable(k):
			v.add(field, "needs a printable name")
		case templatePattern.MatchString(k) || strings.Contains(k, "{{"):
			v.add(field, "templates are only substituted in values, not names")
		}
		used = checkValue(v, field, c.Form[k], allowed) || used
		count++
	}
	for _, k := range sortedKeys(c.Headers) {
		field := "exchange.headers." + printableName(k)
		switch {
		case !headerName(k):
			v.add(field, "is not a valid header name")
		case forbiddenHeader(k):
			v.add(field, "is set by Storm and cannot be configured")
		}
		if strings.ContainsAny(c.Headers[k], "\r\n\x00") {
			v.add(field, "must not contain line breaks")
		}
		used = checkValue(v, field, c.Headers[k], allowed) || used
		count++
	}
	if count > maxValues {
		v.add("exchange", fmt.Sprintf("has more than %d values", maxValues))
	}
	if !used && v.ok() {
		names := make([]string, 0, len(allowed))
		for t := range allowed {
			names = append(names, t)
		}
		sort.Strings(names)
		v.add("exchange", "never sends the credential: put "+strings.Join(names, " or ")+" in a body, form or header value")
	}

	checkPointer(v, "exchange.token_pointer", c.TokenPointer, true)
	checkPointer(v, "exchange.expires_in_pointer", c.ExpiresInPointer, false)
	checkPointer(v, "exchange.expires_at_pointer", c.ExpiresAtPointer, false)
	if c.ExpiresInPointer != "" && c.ExpiresAtPointer != "" {
		v.add("exchange.expires_at_pointer", "and exchange.expires_in_pointer are exclusive: give one")
	}

	switch c.Apply.In {
	case "header":
		switch {
		case !headerName(c.Apply.Name):
			v.add("exchange.apply.name", "must be a header name")
		case forbiddenHeader(c.Apply.Name):
			v.add("exchange.apply.name", "cannot be a header Storm sets")
		}
	case "query":
		if c.Apply.Name == "" || len(c.Apply.Name) > maxNameLen || !printable(c.Apply.Name) || strings.ContainsAny(c.Apply.Name, "&=#+% ") {
			v.add("exchange.apply.name", "must be a query parameter name (printable, without & = # + % or spaces)")
		}
	case "":
		v.add("exchange.apply.in", "is required (header or query)")
	default:
		v.add("exchange.apply.in", "must be header or query")
	}
	if len(c.Apply.Prefix) > maxNameLen || !printable(c.Apply.Prefix) {
		v.add("exchange.apply.prefix", "must be printable text without line breaks")
	} else if strings.Contains(c.Apply.Prefix, "{{") {
		v.add("exchange.apply.prefix", "takes no templates: the credential only goes to the exchange endpoint")
	}
	return v.err()
}

// checks collects field errors.
type checks struct{ errs []problem.FieldError }

func (v *checks) add(field, msg string) {
	v.errs = append(v.errs, problem.FieldError{Field: field, Message: msg})
}
func (v *checks) ok() bool { return len(v.errs) == 0 }
func (v *checks) err() error {
	if len(v.errs) == 0 {
		return nil
	}
	detail := v.errs[0].Field + ": " + v.errs[0].Message
	if n := len(v.errs) - 1; n > 0 {
		detail += fmt.Sprintf(" (and %d more)", n)
	}
	return problem.Invalid(detail, v.errs...)
}

// checkPath accepts a path that proxy.JoinPath keeps under a base URL:
// it starts with "/", has no scheme, authority, dot segments, templates
// or fragment.
func checkPath(v *checks, p string) {
	const field = "exchange.path"
	switch {
	case p == "":
		v.add(field, `is required (relative to the base URL, such as "/auth/session")`)
		return
	case !strings.HasPrefix(p, "/") || strings.HasPrefix(p, "//"):
		v.add(field, `must be relative to the base URL and start with "/"`)
		return
	case strings.Contains(p, "{{") || strings.Contains(p, "}}"):
		v.add(field, "takes no templates: the credential never goes into a URL path")
		return
	case strings.ContainsAny(p, "#\\ ") || !printable(p) || len(p) > 2048:
		v.add(field, "must be a plain path (no fragment, backslash, spaces or control characters)")
		return
	}
	rawPath, rawQuery, _ := strings.Cut(p, "?")
	if _, err := proxy.JoinPath(&url.URL{Scheme: "https", Host: "base.invalid"}, strings.TrimPrefix(rawPath, "/"), rawQuery); err != nil {
		v.add(field, "must stay under the base URL (no dot segments, encoded slashes or empty segments)")
	}
}

// checkJSON walks a JSON body; templates may appear in string values.
func checkJSON(v *checks, field string, x any, allowed map[string]bool, depth int, count *int) (used bool) {
	if depth > maxDepth {
		v.add(field, fmt.Sprintf("nests deeper than %d levels", maxDepth))
		return false
	}
	*count++
	if *count > maxValues {
		return false
	}
	switch x := x.(type) {
	case map[string]any:
		for _, k := range sortedKeys(x) {
			sub := field + "." + printableName(k)
			if strings.Contains(k, "{{") {
				v.add(sub, "templates are only substituted in values, not names")
			}
			used = checkJSON(v, sub, x[k], allowed, depth+1, count) || used
		}
	case []any:
		for i, e := range x {
			used = checkJSON(v, fmt.Sprintf("%s[%d]", field, i), e, allowed, depth+1, count) || used
		}
	case string:
		return checkValue(v, field, x, allowed)
	}
	return used
}

// checkValue reports unknown templates in s; used is true when s holds an
// allowed one.
func checkValue(v *checks, field, s string, allowed map[string]bool) (used bool) {
	if len(s) > maxValueLen {
		v.add(field, fmt.Sprintf("is longer than %d bytes", maxValueLen))
		return false
	}
	for _, t := range templatePattern.FindAllString(s, -1) {
		switch {
		case allowed[t]:
			used = true
		case t == TemplateAPIKey || t == TemplateUsername || t == TemplatePassword:
			v.add(field, t+" is not available here ("+allowedList(allowed)+" are)")
		default:
			v.add(field, "unknown template "+printableName(t)+" (known: "+allowedList(allowed)+")")
		}
	}
	if rest := templatePattern.ReplaceAllString(s, ""); strings.Contains(rest, "{{") || strings.Contains(rest, "}}") {
		v.add(field, "has an unbalanced {{ or }}")
	}
	return used
}

func allowedList(allowed map[string]bool) string {
	var names []string
	for t := range allowed {
		names = append(names, t)
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}

// checkPointer checks RFC 6901 syntax: "" (the whole document) or "/"
// followed by reference tokens in which "~" is only "~0" or "~1".
func checkPointer(v *checks, field, p string, required bool) {
	if p == "" {
		if required {
			v.add(field, `is required (an RFC 6901 JSON pointer such as "/token")`)
		}
		return
	}
	if _, err := parsePointer(p); err != nil {
		v.add(field, err.Error())
	}
}

// parsePointer splits an RFC 6901 pointer into unescaped reference
// tokens.
func parsePointer(p string) ([]string, error) {
	if p == "" {
		return nil, nil
	}
	if !strings.HasPrefix(p, "/") {
		return nil, errors.New(`must be an RFC 6901 JSON pointer starting with "/" (such as "/token")`)
	}
	if len(p) > 1024 || !utf8.ValidString(p) {
		return nil, errors.New("is too long or not UTF-8")
	}
	parts := strings.Split(p[1:], "/")
	for i, t := range parts {
		for j := 0; j < len(t); j++ {
			if t[j] == '~' && (j+1 == len(t) || (t[j+1] != '0' && t[j+1] != '1')) {
				return nil, errors.New(`has a "~" that is not "~0" or "~1" (RFC 6901 §3)`)
			}
		}
		parts[i] = strings.ReplaceAll(strings.ReplaceAll(t, "~1", "/"), "~0", "~")
	}
	return parts, nil
}

func headerName(s string) bool {
	if s == "" || len(s) > maxNameLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0) {
			return false
		}
	}
	return true
}

func forbiddenHeader(name string) bool {
	switch http.CanonicalHeaderKey(name) {
	case "Host", "Content-Length", "Transfer-Encoding", "Connection", "Content-Type", "Te", "Trailer", "Upgrade", "Proxy-Authorization":
		return true
	}
	return false
}

func printable(s string) bool {
	return utf8.ValidString(s) && strings.IndexFunc(s, func(r rune) bool { return !unicode.IsPrint(r) }) < 0
}

// printableName repeats a configured name in a field path when it is
// short and printable (names are not secrets, garbage is not echoed).
func printableName(s string) string {
	if !fieldNameOK(s) {
		return "(unprintable)"
	}
	return s
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
