package apps

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/stormcreds/storm/internal/catalog"
	"github.com/stormcreds/storm/internal/problem"
)

// MethodOAuth1 is the auth method of OAuth 1.0a apps (shared/API.md "More
// auth methods").
const MethodOAuth1 = catalog.MethodOAuth1

// An app's config is flat (shared/API.md "Apps"): the client, the scopes
// and, for provider custom, the authorization server's endpoints. These
// are its keys.
const (
	keyClientID       = "client_id"
	keyClientSecret   = "client_secret"
	keyScopes         = "scopes"
	keyConsumerKey    = "consumer_key"
	keyConsumerSecret = "consumer_secret"
)

// Endpoint and client keys of a custom OAuth 2.0 app; in an integration's
// config they live under "oauth2", where creds reads them.
var customOAuth2Keys = []string{"authorize_url", "token_url", "revoke_url", "issuer", "pkce", "auth_style"}

// Keys of a custom OAuth 1.0a app; in an integration's config they live
// under "oauth1".
var customOAuth1Keys = []string{"request_token_url", "authorize_url", "access_token_url", "signature_method", "realm"}

var signatureMethods = []string{"HMAC-SHA1", "HMAC-SHA256", "RSA-SHA1", "PLAINTEXT"}

// Limits on app input.
const (
	maxIDLen     = 512
	maxSecretLen = 4 << 10
	maxConfigLen = 16 << 10
)

// SecretKey is the config key of method's client secret.
func SecretKey(method string) string {
	if method == MethodOAuth1 {
		return keyConsumerSecret
	}
	return keyClientSecret
}

// IDKey is the config key of method's client id.
func IDKey(method string) string {
	if method == MethodOAuth1 {
		return keyConsumerKey
	}
	return keyClientID
}

// ClientID returns the client id (consumer key) in an app's stored config.
func ClientID(method string, cfg map[string]any) string {
	s, _ := cfg[IDKey(method)].(string)
	return s
}

// Scopes returns the scopes an app narrows its provider's defaults to,
// and whether it sets any (an explicit empty list asks for none).
func Scopes(cfg map[string]any) ([]string, bool) {
	raw, ok := cfg[keyScopes].([]any)
	if !ok {
		return nil, false
	}
	out := make([]string, 0, len(raw))
	for _, v := range raw {
		if s, ok := v.(string); ok {
			out = append(out, s)
		}
	}
	return out, true
}

// Decode reads an app's stored config.
func Decode(b []byte) (map[string]any, error) {
	cfg := map[string]any{}
	if len(b) == 0 {
		return cfg, nil
	}
	if err := json.Unmarshal(b, &cfg); err != nil {
		return nil, errors.New("apps: stored config is malformed")
	}
	return cfg, nil
}

// Parse checks an app's config as a caller sent it for provider and
// method and splits it: the non-secret settings to store, and the client
// secret (empty when none was sent). Problems are 400s naming the field
// ("config.token_url").
func Parse(cat *catalog.Catalog, provider, method string, raw map[string]any) (map[string]any, string, error) {
	if raw == nil {
		raw = map[string]any{}
	}
	p, ok := cat.Get(provider)
	if !ok {
		return nil, "", problem.Field("provider", fmt.Sprintf("unknown provider %q (see GET /v1/providers)", provider))
	}
	custom := provider == catalog.Custom
	switch {
	case method != catalog.MethodOAuth2 && method != MethodOAuth1:
		return nil, "", problem.Field("auth_method", "must be oauth2 or oauth1: apps hold OAuth clients")
	case !custom && !p.Supports(method):
		return nil, "", problem.Field("auth_method", fmt.Sprintf("%s does not support %s (supported: %s)", provider, method, strings.Join(p.AuthMethods, ", ")))
	case !custom && method == catalog.MethodOAuth2 && p.OAuth2 == nil:
		return nil, "", problem.Field("provider", fmt.Sprintf("%s has no OAuth 2.0 settings", provider))
	}

	var fields []problem.FieldError
	bad := func(key, msg string) {
		fields = append(fields, problem.FieldError{Field: "config." + key, Message: msg})
	}
	allowed := []string{IDKey(method), SecretKey(method), keyScopes}
	switch {
	case custom && method == catalog.MethodOAuth2:
		allowed = append(allowed, customOAuth2Keys...)
	case custom:
		allowed = append(allowed, customOAuth1Keys...)
	default:
		for _, f := range p.Config {
			allowed = append(allowed, f.Name) // pinned for every integration of the app
		}
	}
	cfg := map[string]any{}
	for _, k := range sortedKeys(raw) {
		if !slices.Contains(allowed, k) {
			bad(k, "unknown setting of an app (known: "+strings.Join(allowed, ", ")+")")
			continue
		}
		cfg[k] = raw[k]
	}
	secret, _ := cfg[SecretKey(method)].(string)
	if v, ok := cfg[SecretKey(method)]; ok {
		if _, isString := v.(string); !isString {
			bad(SecretKey(method), "must be a string")
		} else if msg := checkSecret(secret); msg != "" {
			bad(SecretKey(method), msg)
		}
		delete(cfg, SecretKey(method))
	}
	switch id, ok := cfg[IDKey(method)].(string); {
	case !ok || strings.TrimSpace(id) == "":
		bad(IDKey(method), "is required (the client registered at the provider)")
	case len(id) > maxIDLen || !printable(id):
		bad(IDKey(method), fmt.Sprintf("must be printable text of at most %d bytes", maxIDLen))
	}
	if v, ok := cfg[keyScopes]; ok {
		list, isList := v.([]any)
		for _, s := range list {
			if str, ok := s.(string); !ok || str == "" || !printable(str) || strings.ContainsAny(str, " ,") {
				isList = false
			}
		}
		if !isList {
			bad(keyScopes, "must be a list of scope names")
		}
	}
	if len(fields) > 0 {
		return nil, "", problem.Invalid("the app's config is not valid", fields...)
	}
	if err := checkResolves(cat, provider, method, cfg); err != nil {
		return nil, "", err
	}
	if b, _ := json.Marshal(cfg); len(b) > maxConfigLen {
		return nil, "", problem.Field("config", fmt.Sprintf("is larger than %d bytes", maxConfigLen))
	}
	return cfg, secret, nil
}

// checkResolves holds the app's settings to the catalog's rules by
// resolving a config that uses them, and reports the problems that are
// the app's (its own fields), not those an integration will fill in.
func checkResolves(cat *catalog.Catalog, provider, method string, cfg map[string]any) error {
	if method == MethodOAuth1 && provider == catalog.Custom {
		return checkOAuth1(cfg)
	}
	probe := map[string]any{}
	remap := func(f string) string { return f }
	if provider == catalog.Custom && method == catalog.MethodOAuth2 {
		o := map[string]any{keyClientID: cfg[keyClientID]}
		for _, k := range customOAuth2Keys {
			if v, ok := cfg[k]; ok {
				o[k] = v
			}
		}
		base := firstURL(cfg, "issuer", "token_url", "authorize_url")
		if base == "" {
			return problem.Field("config.token_url", "is required (or issuer, where the server publishes its metadata)")
		}
		probe = map[string]any{"base_url": base, "oauth2": o}
		remap = func(f string) string { return strings.TrimPrefix(f, "oauth2.") }
	} else {
		for k, v := range cfg {
			probe[k] = v
		}
	}
	_, err := cat.ResolveMethod(provider, method, probe)
	var verr *catalog.ValidationError
	if !errors.As(err, &verr) {
		if err != nil {
			return problem.Field("config", err.Error())
		}
		return nil
	}
	var fields []problem.FieldError
	for _, fe := range verr.Errors {
		f := remap(fe.Field)
		if _, own := cfg[f]; !own && provider != catalog.Custom {
			continue // a setting each integration supplies
		}
		if f == "" || f == "base_url" {
			f = "token_url"
		}
		fields = append(fields, problem.FieldError{Field: "config." + f, Message: fe.Message})
	}
	if len(fields) == 0 {
		return nil
	}
	return problem.Invalid("the app's config is not valid", fields...)
}

func checkOAuth1(cfg map[string]any) error {
	var fields []problem.FieldError
	for _, k := range []string{"request_token_url", "authorize_url", "access_token_url"} {
		s, _ := cfg[k].(string)
		if msg := checkURL(s); msg != "" {
			fields = append(fields, problem.FieldError{Field: "config." + k, Message: msg})
		}
	}
	if v, ok := cfg["signature_method"]; ok {
		if s, _ := v.(string); !slices.Contains(signatureMethods, s) {
			fields = append(fields, problem.FieldError{Field: "config.signature_method", Message: "must be one of " + strings.Join(signatureMethods, ", ")})
		}
	}
	if v, ok := cfg["realm"]; ok {
		if s, isString := v.(string); !isString || len(s) > 256 || !printable(s) {
			fields = append(fields, problem.FieldError{Field: "config.realm", Message: "must be printable text of at most 256 bytes"})
		}
	}
	if len(fields) > 0 {
		return problem.Invalid("the app's config is not valid", fields...)
	}
	return nil
}

func checkURL(s string) string {
	if s == "" {
		return "is required"
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil || u.Fragment != "" || len(s) > 2048 {
		return "must be an absolute http(s) URL without credentials or fragment"
	}
	return ""
}

// firstURL is the origin of the first of keys that holds a URL.
func firstURL(cfg map[string]any, keys ...string) string {
	for _, k := range keys {
		s, _ := cfg[k].(string)
		if u, err := url.Parse(s); err == nil && u.Scheme != "" && u.Host != "" {
			return u.Scheme + "://" + u.Host
		}
	}
	return ""
}

func checkSecret(s string) string {
	switch {
	case s == "":
		return "must not be empty (leave it out for a public client)"
	case len(s) > maxSecretLen:
		return fmt.Sprintf("is longer than %d bytes", maxSecretLen)
	case !utf8.ValidString(s) || strings.ContainsAny(s, "\r\n\x00"):
		return "must be one line of text"
	}
	return ""
}

// CheckSecret reports a client secret that cannot be stored, as a 400
// naming field.
func CheckSecret(field, s string) error {
	if msg := checkSecret(s); msg != "" {
		return problem.Field(field, msg)
	}
	return nil
}

func printable(s string) bool {
	return utf8.ValidString(s) && !strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f })
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// Apply returns an integration's config with the app's client and
// endpoints in place: what an integration that uses the app stores, so
// that every reader of the integration (endpoint rules, the proxy, the
// token engine) sees where its secrets go. Scopes are not copied: an
// integration's own scopes win, else the app's apply when its client is
// built.
//
// strict (a caller's input): a client secret, or a client id or endpoint
// the integration sets differently from the app, is a 400 naming the
// field. Otherwise (the app changed) the app's values replace the
// integration's. integCfg is not modified.
func Apply(provider, method string, appCfg, integCfg map[string]any, strict bool) (map[string]any, error) {
	out := cloneMap(integCfg)
	var fields []problem.FieldError
	refuse := func(path, msg string) {
		fields = append(fields, problem.FieldError{Field: "config." + path, Message: msg})
	}
	fromApp := "comes from the app: leave it out"

	// set puts the app's value (or its absence) at path in m.
	set := func(m map[string]any, path, key string, v any, present bool) {
		cur, has := m[key]
		if strict && has && (!present || !sameValue(cur, v)) {
			refuse(path, fromApp)
			return
		}
		if present {
			m[key] = v
		} else {
			delete(m, key)
		}
	}
	secretPaths := []string{keyClientSecret, "oauth2." + keyClientSecret, "oauth1." + keyConsumerSecret, keyConsumerSecret}
	for _, path := range secretPaths {
		parent, leaf := lookupParent(out, path)
		if parent == nil {
			continue
		}
		if _, has := parent[leaf]; has {
			if strict {
				refuse(path, "must not be set: the client secret comes from the app (manage it with /v1/apps/{id}/secrets)")
			}
			delete(parent, leaf)
		}
	}
	id, idSet := appCfg[IDKey(method)]
	switch {
	case provider == catalog.Custom && method == catalog.MethodOAuth2:
		nested, _ := out["oauth2"].(map[string]any)
		if nested == nil {
			nested = map[string]any{}
		}
		if v, has := out[keyClientID]; has && (strict && !sameValue(v, id)) {
			refuse(keyClientID, fromApp)
		}
		delete(out, keyClientID)
		set(nested, "oauth2."+keyClientID, keyClientID, id, idSet)
		for _, k := range customOAuth2Keys {
			v, ok := appCfg[k]
			set(nested, "oauth2."+k, k, v, ok)
		}
		out["oauth2"] = nested
	case provider == catalog.Custom && method == MethodOAuth1:
		nested, _ := out["oauth1"].(map[string]any)
		if nested == nil {
			nested = map[string]any{}
		}
		set(nested, "oauth1."+keyConsumerKey, keyConsumerKey, id, idSet)
		for _, k := range customOAuth1Keys {
			v, ok := appCfg[k]
			set(nested, "oauth1."+k, k, v, ok)
		}
		out["oauth1"] = nested
	default:
		set(out, IDKey(method), IDKey(method), id, idSet)
		// Settings the app pins (a tenant's subdomain).
		for _, k := range sortedKeys(appCfg) {
			if k == IDKey(method) || k == keyScopes {
				continue
			}
			set(out, k, k, appCfg[k], true)
		}
	}
	if len(fields) > 0 {
		return nil, problem.Invalid("the integration's config conflicts with its app", fields...)
	}
	return out, nil
}

// InSync reports whether an integration's stored config already holds
// what Apply would put there: its client and endpoints are the app's
// current ones.
func InSync(provider, method string, appCfg, integCfg map[string]any) bool {
	applied, err := Apply(provider, method, appCfg, integCfg, false)
	return err == nil && reflect.DeepEqual(normalize(applied), normalize(integCfg))
}

// Own extracts from an integration's config the client it holds itself,
// in an app's flat form (no secret): what an app made from it, or
// adopting it, compares.
func Own(provider, method string, integCfg map[string]any, declared []string) map[string]any {
	out := map[string]any{}
	switch {
	case provider == catalog.Custom && method == catalog.MethodOAuth2:
		nested, _ := integCfg["oauth2"].(map[string]any)
		if id, ok := nested[keyClientID].(string); ok && id != "" {
			out[keyClientID] = id
		} else if id, ok := integCfg[keyClientID].(string); ok {
			out[keyClientID] = id
		}
		for _, k := range customOAuth2Keys {
			if v, ok := nested[k]; ok {
				out[k] = v
			}
		}
	case provider == catalog.Custom && method == MethodOAuth1:
		nested, _ := integCfg["oauth1"].(map[string]any)
		for _, k := range append([]string{keyConsumerKey}, customOAuth1Keys...) {
			if v, ok := nested[k]; ok {
				out[k] = v
			}
		}
	default:
		if v, ok := integCfg[IDKey(method)]; ok {
			out[IDKey(method)] = v
		}
		for _, k := range declared {
			if v, ok := integCfg[k]; ok {
				out[k] = v
			}
		}
	}
	return out
}

func lookupParent(m map[string]any, path string) (map[string]any, string) {
	parts := strings.Split(path, ".")
	for _, p := range parts[:len(parts)-1] {
		next, ok := m[p].(map[string]any)
		if !ok {
			return nil, ""
		}
		m = next
	}
	return m, parts[len(parts)-1]
}

func cloneMap(m map[string]any) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		if sub, ok := v.(map[string]any); ok {
			v = cloneMap(sub)
		}
		out[k] = v
	}
	return out
}

func sameValue(a, b any) bool { return reflect.DeepEqual(normalize(a), normalize(b)) }

// normalize makes JSON values comparable whatever their Go types were
// (a []string from code, a []any from JSON).
func normalize(v any) any {
	b, err := json.Marshal(v)
	if err != nil {
		return v
	}
	var out any
	_ = json.Unmarshal(b, &out)
	return out
}
