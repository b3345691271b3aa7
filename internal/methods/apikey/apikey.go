package apikey

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"unicode"

	"github.com/stormcreds/storm/internal/catalog"
	"github.com/stormcreds/storm/internal/problem"
	"github.com/stormcreds/storm/internal/secret"
)

// MaxLen bounds a pasted key; real keys are far shorter.
const MaxLen = 8 << 10

// Material is what a saved API key credential holds (encrypted at rest).
type Material struct {
	APIKey secret.String `json:"-"`
}

type materialJSON struct {
	APIKey string `json:"api_key"`
}

// Encode serialises m for the vault. The result is plaintext: seal it.
func (m Material) Encode() []byte {
	b, _ := json.Marshal(materialJSON{APIKey: m.APIKey.Reveal()})
	return b
}

// Decode is the inverse of Encode.
func Decode(b []byte) (Material, error) {
	var j materialJSON
	if err := json.Unmarshal(b, &j); err != nil || j.APIKey == "" {
		return Material{}, fmt.Errorf("apikey: stored material is malformed")
	}
	return Material{APIKey: secret.String(j.APIKey)}, nil
}

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

// Key applies one API key as def says. It is immutable and safe for
// concurrent use; templates are expanded once, when it is built.
type Key struct {
	key      secret.String
	def      catalog.APIKey
	value    secret.String // header value or query value
	username string
	password secret.String
	headers  [][2]string
}

// New prepares key for use with def, filling templates from vars.
func New(def catalog.APIKey, vars map[string]string, key secret.String) (*Key, error) {
	all := make(map[string]string, len(vars)+1)
	for k, v := range vars {
		all[k] = v
	}
	all["key"] = key.Reveal()
	expand := func(tmpl string) (string, error) { return catalog.Expand(tmpl, all) }
	k := &Key{key: key, def: def}
	switch def.In {
	case catalog.InHeader:
		prefix, err := expand(def.Prefix)
		if err != nil {
			return nil, err
		}
		k.value = secret.String(prefix + key.Reveal())
	case catalog.InQuery:
		k.value = key
	case catalog.InBasic:
		user, err := expand(def.Username)
		if err != nil {
			return nil, err
		}
		passTmpl := def.Password
		if passTmpl == "" && def.Username == "" {
			passTmpl = "{key}"
		}
		pass, err := expand(passTmpl)
		if err != nil {
			return nil, err
		}
		k.username, k.password = user, secret.String(pass)
	default:
		return nil, fmt.Errorf("apikey: unknown placement %q", def.In)
	}
	for name, tmpl := range def.Headers {
		v, err := expand(tmpl)
		if err != nil {
			return nil, err
		}
		k.headers = append(k.headers, [2]string{name, v})
	}
	return k, nil
}

// Apply sets the key on r.
func (k *Key) Apply(r *http.Request) error {
	for _, h := range k.headers {
		r.Header.Set(h[0], h[1])
	}
	switch k.def.In {
	case catalog.InHeader:
		r.Header.Set(k.def.Name, k.value.Reveal())
	case catalog.InQuery:
		q := r.URL.Query()
		q.Set(k.def.Name, k.value.Reveal())
		r.URL.RawQuery = q.Encode()
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
}

// Access returns the key and how to apply it.
func (k *Key) Access() Access {
	a := Access{Type: "api_key", APIKey: k.key.Reveal(), In: k.def.In, Name: k.def.Name}
	if k.def.In == catalog.InHeader {
		a.Prefix = strings.TrimSuffix(k.value.Reveal(), k.key.Reveal())
	}
	if k.def.In == catalog.InBasic {
		a.Username, a.Password = k.username, k.password.Reveal()
	}
	if len(k.headers) > 0 {
		a.Headers = map[string]string{}
		for _, h := range k.headers {
			a.Headers[h[0]] = h[1]
		}
	}
	return a
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
