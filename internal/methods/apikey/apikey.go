package apikey

import (
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
	"unicode"

	"github.com/stormcreds/storm/internal/catalog"
	"github.com/stormcreds/storm/internal/problem"
	"github.com/stormcreds/storm/internal/secret"
)

// MaxLen bounds a pasted key; real keys are far shorter.
const MaxLen = 8 << 10

// Parse validates a pasted key: surrounding whitespace is trimmed (a
// paste often carries a newline), anything else that could not travel in
// a header is refused.
func Parse(raw string) (secret.String, error) {
	key := strings.TrimSpace(raw)
	switch {
	case key == "":
		return "", problem.Field("api_key", "is required")
	case len(key) > MaxLen:
		return "", problem.Field("api_key", fmt.Sprintf("is longer than %d bytes", MaxLen))
	}
	for _, r := range key {
		if r > unicode.MaxASCII || unicode.IsSpace(r) || unicode.IsControl(r) {
			return "", problem.Field("api_key", "must be printable ASCII without spaces (check for a partial or wrapped paste)")
		}
	}
	return secret.String(key), nil
}

// Key applies one API key as a resolved provider definition says. It is
// immutable and safe for concurrent use; templates are expanded once,
// when it is built.
type Key struct {
	key      secret.String
	in, name string
	value    secret.String // header or query value: prefix + key
	username string
	password secret.String
	// headers and query are the provider's extra settings (an API
	// version, an application id). They are defaults: a value the request
	// already carries is kept, so a caller may pin another API version.
	headers [][2]string
	query   [][2]string
}

// New prepares key for def, which comes from a catalog.Resolved (every
// template but {key} already expanded).
func New(def catalog.APIKey, key secret.String) (*Key, error) {
	vars := map[string]string{catalog.KeyVar: key.Reveal()}
	var err error
	expand := func(tmpl string) string {
		v, e := catalog.Expand(tmpl, vars)
		if e != nil && err == nil {
			err = e
		}
		return v
	}
	k := &Key{key: key, in: def.In, name: def.Name}
	switch def.In {
	case catalog.InHeader, catalog.InQuery:
		k.value = secret.String(expand(def.Prefix) + key.Reveal())
	case catalog.InBasic:
		k.username, k.password = expand(def.Username), secret.String(expand(def.Password))
		if strings.Contains(k.username, ":") {
			return nil, errors.New("apikey: a basic-auth user name cannot contain ':'")
		}
	default:
		return nil, fmt.Errorf("apikey: unknown placement %q", def.In)
	}
	for _, name := range slices.Sorted(maps.Keys(def.Headers)) {
		if v := expand(def.Headers[name]); v != "" {
			k.headers = append(k.headers, [2]string{name, v})
		}
	}
	for _, name := range slices.Sorted(maps.Keys(def.Query)) {
		if v := expand(def.Query[name]); v != "" {
			k.query = append(k.query, [2]string{name, v})
		}
	}
	if err != nil {
		return nil, fmt.Errorf("apikey: %w", err)
	}
	return k, nil
}

// Apply sets the key on r, replacing any value r carried under the key's
// own header or parameter.
func (k *Key) Apply(r *http.Request) error {
	for _, h := range k.headers {
		if r.Header.Get(h[0]) == "" {
			r.Header.Set(h[0], h[1])
		}
	}
	if len(k.query) > 0 || k.in == catalog.InQuery {
		q := r.URL.Query()
		for _, p := range k.query {
			if !q.Has(p[0]) {
				q.Set(p[0], p[1])
			}
		}
		if k.in == catalog.InQuery {
			q.Set(k.name, k.value.Reveal())
		}
		r.URL.RawQuery = q.Encode()
	}
	switch k.in {
	case catalog.InHeader:
		r.Header.Set(k.name, k.value.Reveal())
	case catalog.InBasic:
		r.SetBasicAuth(k.username, k.password.Reveal())
	}
	return nil
}

// Access is the /access answer for an API key: what a sync needs to call
// the API itself. It reveals the key on purpose.
type Access struct {
	Type     string            `json:"type"`
	APIKey   string            `json:"api_key"`
	In       string            `json:"in"`
	Name     string            `json:"name,omitempty"`
	Prefix   string            `json:"prefix,omitempty"`
	Username string            `json:"username,omitempty"`
	Password string            `json:"password,omitempty"`
	Headers  map[string]string `json:"headers,omitempty"`
	Query    map[string]string `json:"query,omitempty"`
}

// Access returns the key and how to apply it.
func (k *Key) Access() Access {
	a := Access{Type: "api_key", APIKey: k.key.Reveal(), In: k.in, Name: k.name}
	switch k.in {
	case catalog.InHeader, catalog.InQuery:
		a.Prefix = strings.TrimSuffix(k.value.Reveal(), k.key.Reveal())
	case catalog.InBasic:
		a.Username, a.Password = k.username, k.password.Reveal()
	}
	a.Headers = pairs(k.headers)
	a.Query = pairs(k.query)
	return a
}

func pairs(kv [][2]string) map[string]string {
	if len(kv) == 0 {
		return nil
	}
	m := make(map[string]string, len(kv))
	for _, p := range kv {
		m[p[0]] = p[1]
	}
	return m
}

// String redacts.
func (k *Key) String() string { return "apikey.Key([redacted])" }

// Hint masks a key for display: a short type prefix such as "sk_" or
// "ghp_" when the key has one, then "…" and at most its last 4
// characters (fewer for short keys, none for very short ones).
func Hint(key secret.String) string {
	s := key.Reveal()
	var tail string
	switch {
	case len(s) >= 16:
		tail = s[len(s)-4:]
	case len(s) >= 10:
		tail = s[len(s)-2:]
	}
	prefix := ""
	if i := strings.IndexAny(s, "_-"); i > 0 && i <= 4 && len(s) >= 16 && isLetters(s[:i]) {
		prefix = s[:i+1]
	}
	return prefix + "…" + tail
}

func isLetters(s string) bool {
	for _, r := range s {
		if !unicode.IsLetter(r) {
			return false
		}
	}
	return true
}
