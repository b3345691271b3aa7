package catalog

import (
	"cmp"
	"encoding/json"
	"net/url"
	"regexp"
	"slices"
	"strings"

	"github.com/stormcreds/storm/internal/proxy"
)

var (
	nameRe       = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]*$`)
	fieldNameRe  = regexp.MustCompile(`^[a-z][a-z0-9_]*$`)
	headerNameRe = regexp.MustCompile("^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
	queryNameRe  = regexp.MustCompile(`^[A-Za-z0-9._~\[\]-]+$`)
	regionRe     = regexp.MustCompile(`^[a-z0-9-]{1,32}$`)
	serviceRe    = regexp.MustCompile(`^[a-z0-9-]{1,64}$`)

	// A value substituted into a URL's host may only hold host characters
	// (and a port); one substituted into the path or query only one
	// segment's worth of unreserved characters. This is checked on top of
	// each field's own pattern so that no pattern, however loose, lets a
	// value move a request to another host or path.
	hostValueRe    = regexp.MustCompile(`^[A-Za-z0-9.-]+(:[0-9]{1,5})?$`)
	segmentValueRe = regexp.MustCompile(`^[A-Za-z0-9._~-]+$`)
)

var knownMethods = []string{MethodAPIKey, MethodOAuth2, MethodServiceAccount, MethodBasic, MethodOAuth1}

// ServiceAccountKinds are the supported service-account credential kinds.
var ServiceAccountKinds = []string{"google", "jwt_bearer", "client_credentials", "mtls", "aws_sigv4", "github_app"}

// reservedFields cannot be config field names: {key} is the secret,
// {public_key_fp} the signing key's fingerprint in assertion claims, and
// the rest are the shared config keys of OAuth 2.0 apps, service accounts
// and the custom provider.
var reservedFields = []string{KeyVar, PublicKeyFPVar, "base_url", "api_key", "verify", "oauth2", "service_account",
	"client_id", "client_secret", "scopes", "issuer", "subject",
	"consumer_key", "consumer_secret", "basic", "oauth1", "exchange"}

// Headers a provider definition must not set: the HTTP client owns them.
var forbiddenHeaders = []string{"Host", "Content-Length", "Transfer-Encoding", "Connection", "Cookie"}

// urlProbes are values the pattern of a field used in a URL must reject;
// a pattern that accepts one of them could steer a request elsewhere.
var urlProbes = []string{"evil.com/x", "user@evil.com", "a?b", "a#b", `a\b`, "a b", "a%2f"}

// validateProvider checks p and fills defaults (the basic-auth password).
// custom is set for a definition built from a custom integration's config:
// http URLs are allowed (tests, on-prem) and there is no name, display
// name or docs URL to check.
func validateProvider(p *Provider, fe *fieldErrors, custom bool) {
	if !custom {
		switch {
		case p.Name == "":
			fe.add("name", "is required")
		case len(p.Name) > 64 || !nameRe.MatchString(p.Name):
			fe.add("name", "must be a lowercase slug matching %s", nameRe)
		}
		if strings.TrimSpace(p.DisplayName) == "" {
			fe.add("display_name", "is required")
		}
		if p.DocsURL == "" {
			fe.add("docs_url", "is required")
		} else if err := checkDocsURL(p.DocsURL); err != nil {
			fe.add("docs_url", "%s", err)
		}
		for i, c := range p.Categories {
			switch {
			case !knownCategory(c):
				fe.add(sprintf("categories[%d]", i), "unknown category %q (see docs/providers.md for the list)", c)
			case slices.Index(p.Categories, c) != i:
				fe.add(sprintf("categories[%d]", i), "duplicate category %q", c)
			}
		}
	}
	fields := validateConfigFields(p.Config, fe, p.Supports(MethodServiceAccount))
	t := &templates{fe: fe, fields: fields, custom: custom}

	// The catalog's own "custom" and "mcp" entries only advertise the
	// auth methods: everything else comes from each integration's config
	// (and, for mcp, from discovery).
	if (p.Name == Custom || p.Name == MCP) && !custom {
		validateMethods(p, fe, false)
		if p.BaseURL != "" || p.APIKey != nil || p.Verify != nil || p.OAuth2 != nil ||
			p.ServiceAccount != nil || p.Basic != nil || p.OAuth1 != nil || p.Exchange != nil || len(p.Config) > 0 {
			fe.add("", "the %s provider takes base_url, config and auth sections from each integration's config, not from its catalog entry", p.Name)
		}
		if p.Name == MCP && !slices.Equal(p.AuthMethods, []string{MethodOAuth2}) {
			fe.add("auth_methods", "the mcp provider's only auth method is oauth2")
		}
		return
	}
	validateMethods(p, fe, true)

	if p.BaseURL == "" {
		fe.add("base_url", "is required")
	} else {
		t.url("base_url", p.BaseURL, baseURL)
	}
	if p.APIKey != nil {
		validateAPIKey(p.APIKey, t)
	}
	if p.Verify != nil {
		validateVerify("verify", p.Verify, t)
	} else if needsVerify(p) && !custom {
		fe.add("verify", "is required for a provider that takes API keys or Basic credentials (unless an exchange checks them)")
	}
	if p.OAuth2 != nil {
		validateOAuth2(p.OAuth2, t, slices.Equal(p.AuthMethods, []string{MethodOAuth2}))
	}
	if p.ServiceAccount != nil {
		validateServiceAccount(p.ServiceAccount, t)
	}
	if p.Basic != nil {
		validateBasic(p.Basic, t)
	}
	if p.OAuth1 != nil {
		validateOAuth1(p.OAuth1, t)
	}
	if p.Exchange != nil {
		validateExchange(p.Exchange, p, t)
	}
}

// declarableFields are shared config keys that a provider taking service
// accounts may declare as config fields, to give them a label, help, a
// pattern or make them required (Google Workspace's delegated subject).
var declarableFields = []string{"issuer", "subject"}

// validateConfigFields checks the declared config fields. serviceAccount
// is set for a provider that takes service accounts: it may declare the
// declarableFields.
func validateConfigFields(config []ConfigField, fe *fieldErrors, serviceAccount bool) map[string]ConfigField {
	fields := map[string]ConfigField{}
	for i, f := range config {
		at := sprintf("config[%d].", i)
		switch {
		case f.Name == "":
			fe.add(at+"name", "is required")
		case len(f.Name) > 63 || !fieldNameRe.MatchString(f.Name):
			fe.add(at+"name", "must match %s", fieldNameRe)
		case slices.Contains(declarableFields, f.Name) && !serviceAccount:
			fe.add(at+"name", "%q is reserved (only a provider that takes service accounts may declare it)", f.Name)
		case slices.Contains(reservedFields, f.Name) && !slices.Contains(declarableFields, f.Name):
			fe.add(at+"name", "%q is reserved", f.Name)
		default:
			if _, dup := fields[f.Name]; dup {
				fe.add(at+"name", "duplicate config field %q", f.Name)
			}
		}
		if strings.TrimSpace(f.Label) == "" {
			fe.add(at+"label", "is required")
		}
		var re *regexp.Regexp
		if f.Pattern != "" {
			var err error
			if re, err = regexp.Compile(anchor(f.Pattern)); err != nil {
				fe.add(at+"pattern", "does not compile: %s", err)
			}
		}
		if f.Default != "" {
			if msg := checkValue(f.Default); msg != "" {
				fe.add(at+"default", "%s", msg)
			} else if re != nil && !re.MatchString(f.Default) {
				fe.add(at+"default", "does not match the field's pattern")
			}
		}
		fields[f.Name] = f
	}
	return fields
}

// validateMethods checks auth_methods and, when sections is set, that each
// method has its section and each section its method.
func validateMethods(p *Provider, fe *fieldErrors, sections bool) {
	if len(p.AuthMethods) == 0 {
		fe.add("auth_methods", "at least one of %s is required", strings.Join(knownMethods, ", "))
	}
	for i, m := range p.AuthMethods {
		switch {
		case !slices.Contains(knownMethods, m):
			fe.add(sprintf("auth_methods[%d]", i), "unknown auth method %q (want one of %s)", m, strings.Join(knownMethods, ", "))
		case slices.Index(p.AuthMethods, m) != i:
			fe.add(sprintf("auth_methods[%d]", i), "duplicate auth method %q", m)
		}
	}
	if !sections {
		return
	}
	for _, s := range []struct {
		method string
		set    bool
	}{
		{MethodAPIKey, p.APIKey != nil},
		{MethodOAuth2, p.OAuth2 != nil},
		{MethodServiceAccount, p.ServiceAccount != nil},
		{MethodOAuth1, p.OAuth1 != nil},
		{MethodBasic, p.Basic != nil},
	} {
		listed := slices.Contains(p.AuthMethods, s.method)
		switch {
		// HTTP Basic needs no settings, and an exchange block stands
		// in for the API key's placement (the key only goes to the
		// exchange endpoint).
		case listed && !s.set && (s.method == MethodBasic || p.ExchangeFor(s.method) != nil):
		case listed && !s.set:
			fe.add(s.method, "is required by auth method %s", s.method)
		case s.set && !listed:
			fe.add(s.method, "is set but %s is not in auth_methods", s.method)
		}
	}
}

func validateAPIKey(k *APIKey, t *templates) {
	fe := t.fe
	switch k.In {
	case InHeader, InQuery:
		switch {
		case k.Name == "":
			fe.add("api_key.name", "is required with in=%s", k.In)
		case k.In == InHeader && !headerNameRe.MatchString(k.Name):
			fe.add("api_key.name", "is not a valid header name")
		case k.In == InHeader && isForbiddenHeader(k.Name):
			fe.add("api_key.name", "header %s cannot be set", k.Name)
		case k.In == InQuery && !queryNameRe.MatchString(k.Name):
			fe.add("api_key.name", "is not a valid query parameter name")
		}
		if k.Username != "" || k.Password != "" {
			fe.add("api_key", "username and password are only used with in=basic")
		}
	case InBasic:
		if k.Name != "" || k.Prefix != "" {
			fe.add("api_key", "name and prefix are not used with in=basic")
		}
		if k.Password == "" && !mentionsKey(k.Username) {
			k.Password = "{" + KeyVar + "}"
		}
		if !mentionsKey(k.Username) && !mentionsKey(k.Password) {
			fe.add("api_key", "basic auth needs {key} in username or password")
		}
	case "":
		fe.add("api_key.in", "is required (header, query or basic)")
	default:
		fe.add("api_key.in", "must be header, query or basic, not %q", k.In)
	}
	t.text("api_key.prefix", k.Prefix, true)
	t.text("api_key.username", k.Username, true)
	t.text("api_key.password", k.Password, true)
	for _, name := range sortedKeys(k.Headers) {
		at := "api_key.headers." + name
		switch {
		case !headerNameRe.MatchString(name):
			fe.add(at, "is not a valid header name")
		case isForbiddenHeader(name):
			fe.add(at, "header %s cannot be set", name)
		case k.In == InHeader && strings.EqualFold(name, k.Name):
			fe.add(at, "repeats the API key header")
		}
		t.text(at, k.Headers[name], true)
	}
	for _, name := range sortedKeys(k.Query) {
		at := "api_key.query." + name
		switch {
		case !queryNameRe.MatchString(name):
			fe.add(at, "is not a valid query parameter name")
		case k.In == InQuery && name == k.Name:
			fe.add(at, "repeats the API key parameter")
		}
		t.text(at, k.Query[name], true)
	}
}

func validateVerify(at string, v *Verify, t *templates) {
	fe := t.fe
	switch v.Method {
	case "GET", "HEAD", "POST":
	case "":
		fe.add(at+".method", "is required (GET, HEAD or POST)")
	default:
		fe.add(at+".method", "must be GET, HEAD or POST, not %q", v.Method)
	}
	switch {
	case v.Path == "":
		fe.add(at+".path", "is required")
	case !strings.HasPrefix(v.Path, "/") || strings.HasPrefix(v.Path, "//"):
		fe.add(at+".path", "must start with a single /")
	default:
		t.url(at+".path", v.Path, pathURL)
	}
	if v.Body != "" {
		if v.Method != "POST" {
			fe.add(at+".body", "is only sent with method POST")
		}
		if !json.Valid([]byte(v.Body)) {
			fe.add(at+".body", "must be JSON")
		}
	}
	for i, s := range v.Expect {
		if s < 100 || s > 599 {
			fe.add(sprintf("%s.expect[%d]", at, i), "%d is not an HTTP status", s)
		}
	}
}

// Parameters the OAuth client sets itself: extra parameters may add to a
// request, never replace one of these (a provider entry or a custom config
// that could set redirect_uri or state could steer codes elsewhere).
var (
	protectedAuthorizeParams = []string{"client_id", "redirect_uri", "state", "code_challenge",
		"code_challenge_method", "response_type", "scope"}
	protectedTokenParams = []string{"client_id", "client_secret", "code", "code_verifier", "grant_type",
		"redirect_uri", "refresh_token", "scope", "client_assertion", "client_assertion_type"}
)

// clientIDVar may stand for the integration's OAuth client id in the
// oauth2.headers of a provider whose only auth method is oauth2.
const clientIDVar = "client_id"

// validateOAuth2 checks o and fills the token header defaults. oauthOnly
// is set for a catalog provider whose only auth method is oauth2: its
// integrations always carry a client_id, so headers may use {client_id}.
func validateOAuth2(o *OAuth2, t *templates, oauthOnly bool) {
	fe := t.fe
	if o.ProtectedResource {
		validateProtectedResource(o, t)
		return
	}
	if o.TokenURL == "" && o.Issuer == "" {
		fe.add("oauth2.token_url", "token_url or issuer is required")
	}
	if o.AuthorizeURL == "" && o.Issuer == "" {
		fe.add("oauth2.authorize_url", "authorize_url or issuer is required")
	}
	for _, u := range []struct {
		field, value string
		kind         urlKind
	}{
		{"oauth2.authorize_url", o.AuthorizeURL, absURL},
		{"oauth2.token_url", o.TokenURL, absURL},
		{"oauth2.refresh_url", o.RefreshURL, absURL},
		{"oauth2.revoke_url", o.RevokeURL, absURL},
		// RFC 8414 §2: an issuer has no query or fragment.
		{"oauth2.issuer", o.Issuer, baseURL},
	} {
		if u.value != "" {
			t.url(u.field, u.value, u.kind)
		}
	}
	if o.DocsURL != "" {
		if err := checkDocsURL(o.DocsURL); err != nil {
			fe.add("oauth2.docs_url", "%s", err)
		}
	}
	switch o.AuthStyle {
	case "basic", "post":
	case "":
		fe.add("oauth2.auth_style", "is required (basic or post)")
	default:
		fe.add("oauth2.auth_style", "must be basic or post, not %q", o.AuthStyle)
	}
	switch o.TokenBodyFormat {
	case "", "form", "json":
	default:
		fe.add("oauth2.token_body_format", "must be form or json, not %q", o.TokenBodyFormat)
	}

	if o.ScopeSeparator != "" && !isScopeSeparator(o.ScopeSeparator) {
		fe.add("oauth2.scope_separator", "must be one to three spaces or punctuation characters, such as \" \", \",\" or \"+\"")
	}
	checkScopes("oauth2.scopes", o.Scopes, fe)
	sep := cmp.Or(o.ScopeSeparator, " ")
	for i, s := range o.Scopes {
		switch {
		case sep != " " && strings.Contains(s, sep):
			fe.add(sprintf("oauth2.scopes[%d]", i), "contains the scope separator %q", sep)
		case slices.Index(o.Scopes, s) != i:
			fe.add(sprintf("oauth2.scopes[%d]", i), "duplicate scope %q", s)
		}
	}

	for _, d := range []struct {
		field string
		value Duration
	}{
		{"oauth2.default_ttl", o.DefaultTTL},
		{"oauth2.refresh_margin", o.RefreshMargin},
		{"oauth2.refresh_token_ttl", o.RefreshTokenTTL},
	} {
		if d.value < 0 {
			fe.add(d.field, "must not be negative")
		}
	}
	if o.NoExpiry && o.DefaultTTL > 0 {
		fe.add("oauth2.no_expiry", "excludes default_ttl: a token without expires_in either lasts until revoked or for default_ttl")
	}
	if o.DefaultTTL > 0 && o.RefreshMargin >= o.DefaultTTL {
		fe.add("oauth2.refresh_margin", "must be shorter than default_ttl")
	}

	checkParams("oauth2.extra_authorize_params", o.ExtraAuthorizeParams, protectedAuthorizeParams, fe)
	checkParams("oauth2.extra_token_params", o.ExtraTokenParams, protectedTokenParams, fe)

	switch {
	case o.TokenHeader == "":
		o.TokenHeader = "Authorization"
		if o.TokenPrefix == "" {
			o.TokenPrefix = "Bearer "
		}
	case !headerNameRe.MatchString(o.TokenHeader):
		fe.add("oauth2.token_header", "is not a valid header name")
	case isForbiddenHeader(o.TokenHeader):
		fe.add("oauth2.token_header", "header %s cannot be set", o.TokenHeader)
	}
	if hasControl(o.TokenPrefix) || strings.ContainsAny(o.TokenPrefix, "{}") {
		fe.add("oauth2.token_prefix", "must be plain text without control characters or braces")
	}
	for _, name := range sortedKeys(o.Headers) {
		at := "oauth2.headers." + name
		switch {
		case !headerNameRe.MatchString(name):
			fe.add(at, "is not a valid header name")
		case isForbiddenHeader(name):
			fe.add(at, "header %s cannot be set", name)
		case strings.EqualFold(name, o.TokenHeader):
			fe.add(at, "repeats the token header")
		}
		tmpl := o.Headers[name]
		if mentions(tmpl, clientIDVar) {
			if !oauthOnly || t.custom {
				fe.add(at, "{%s} is only allowed for a catalog provider whose only auth method is oauth2", clientIDVar)
			}
			tmpl = strings.ReplaceAll(tmpl, "{"+clientIDVar+"}", "")
		}
		t.text(at, tmpl, false)
	}
}

// checkParams checks extra authorize or token parameters: names a query
// can carry, non-empty values without control characters, and none of
// the parameters the OAuth client owns.
func checkParams(field string, params map[string]string, protected []string, fe *fieldErrors) {
	for _, k := range sortedKeys(params) {
		at := field + "." + k
		v := params[k]
		switch {
		case k == "":
			fe.add(field, "parameter names must not be empty")
		case !queryNameRe.MatchString(k):
			fe.add(at, "is not a valid parameter name")
		case slices.ContainsFunc(protected, func(p string) bool { return strings.EqualFold(p, k) }):
			fe.add(at, "is set by the OAuth client and cannot be overridden")
		case v == "":
			fe.add(at, "must not be empty")
		case len(v) > 1024:
			fe.add(at, "is too long")
		case hasControl(v):
			fe.add(at, "must not contain control characters")
		}
	}
}

// isScopeSeparator accepts one to three spaces or ASCII punctuation
// characters: a letter or digit would split scope names themselves.
func isScopeSeparator(s string) bool {
	if len(s) == 0 || len(s) > 3 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		isPunct := c > ' ' && c < 0x7f && !(c >= '0' && c <= '9') && !(c >= 'a' && c <= 'z') && !(c >= 'A' && c <= 'Z')
		if c != ' ' && !isPunct {
			return false
		}
	}
	return true
}

// Token parameters and assertion claims the service-account minter sets
// itself: extra parameters and claims may add to a request or assertion,
// never replace one of these.
var (
	protectedSATokenParams = []string{"grant_type", "assertion", "client_id", "client_secret",
		"client_assertion", "client_assertion_type", "scope", "audience"}
	protectedClaims = []string{"aud", "exp", "iat", "nbf", "jti", "scope"}
	// saSharedKeys are the shared config keys service_account.requires
	// may name besides declared fields.
	saSharedKeys = []string{"client_id", "client_secret", "issuer", "subject", "app_id", "installation_id"}

	grantTypeRe = regexp.MustCompile(`^[A-Za-z0-9_.:-]{1,128}$`)
	claimNameRe = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_.:-]{0,63}$`)
)

// Client authentication at a service account's token endpoint.
var saClientAuths = []string{"basic", "post", "private_key_jwt"}

func validateServiceAccount(s *ServiceAccount, t *templates) {
	fe := t.fe
	const at = "service_account."
	kind := s.Kind
	known := slices.Contains(ServiceAccountKinds, kind)
	if !known {
		fe.add(at+"kind", "must be one of %s", strings.Join(ServiceAccountKinds, ", "))
	}
	// only reports a setting the kind has no use for: a definition that
	// says more than is applied would mislead whoever reads it.
	only := func(field string, set bool, kinds ...string) bool {
		if set && known && !slices.Contains(kinds, kind) {
			fe.add(at+field, "is not used with kind %s", kind)
			return false
		}
		return set
	}
	const google, jwt, cc = "google", "jwt_bearer", "client_credentials"

	tokenURLUsed := only("token_url", s.TokenURL != "", google, jwt, cc)
	switch {
	case s.TokenURL != "" && !tokenURLUsed: // reported by only
	case s.SelfSigned && s.TokenURL != "":
		fe.add(at+"token_url", "must be empty with self_signed: the signed JWT goes to the API as it is")
	case s.TokenURL != "":
		t.url(at+"token_url", s.TokenURL, absURL)
	case (kind == jwt && !s.SelfSigned) || kind == cc:
		fe.add(at+"token_url", "is required for kind %s", kind)
	}
	if only("audience", s.Audience != "", jwt, cc) {
		t.text(at+"audience", s.Audience, false)
	}
	only("scopes", len(s.Scopes) > 0, google, jwt, cc)
	checkScopes(at+"scopes", s.Scopes, fe)
	for i, sc := range s.Scopes {
		if slices.Index(s.Scopes, sc) != i {
			fe.add(sprintf("%sscopes[%d]", at, i), "duplicate scope %q", sc)
		}
	}

	if only("client_auth", s.ClientAuth != "", jwt, cc) && !slices.Contains(saClientAuths, s.ClientAuth) {
		fe.add(at+"client_auth", "must be basic, post or private_key_jwt, not %q", s.ClientAuth)
	}
	if kind == cc && s.ClientAuth == "" {
		fe.add(at+"client_auth", "is required for kind client_credentials (basic, post or private_key_jwt)")
	}
	if only("grant_type", s.GrantType != "", cc) && !grantTypeRe.MatchString(s.GrantType) {
		fe.add(at+"grant_type", "must match %s", grantTypeRe)
	}
	if only("extra_token_params", len(s.ExtraTokenParams) > 0, jwt, cc) {
		checkParams(at+"extra_token_params", s.ExtraTokenParams, protectedSATokenParams, fe)
		for _, k := range sortedKeys(s.ExtraTokenParams) {
			t.text(at+"extra_token_params."+k, s.ExtraTokenParams[k], false)
		}
	}
	only("scope_claim", s.ScopeClaim, jwt)
	if only("self_signed", s.SelfSigned, jwt) && (s.ClientAuth != "" || len(s.ExtraTokenParams) > 0) {
		fe.add(at+"self_signed", "a self-signed JWT has no token request: client_auth and extra_token_params do not apply")
	}
	if only("claims", len(s.Claims) > 0, jwt) {
		for _, name := range sortedKeys(s.Claims) {
			cat := at + "claims." + name
			v := s.Claims[name]
			switch {
			case !claimNameRe.MatchString(name):
				fe.add(cat, "is not a valid claim name")
			case slices.Contains(protectedClaims, name):
				fe.add(cat, "is set by the minter and cannot be overridden")
			case v == "":
				fe.add(cat, "must not be empty")
			case len(v) > 1024:
				fe.add(cat, "is too long")
			}
			t.text(cat, strings.ReplaceAll(v, "{"+PublicKeyFPVar+"}", ""), false)
		}
	}
	if only("token_ttl", s.TokenTTL != 0, google, jwt, cc) && s.TokenTTL < 0 {
		fe.add(at+"token_ttl", "must not be negative")
	}

	for _, name := range sortedKeys(s.Headers) {
		hat := at + "headers." + name
		switch {
		case !headerNameRe.MatchString(name):
			fe.add(hat, "is not a valid header name")
		case isForbiddenHeader(name), strings.EqualFold(name, "Authorization"):
			fe.add(hat, "header %s cannot be set", name)
		case kind == "aws_sigv4" && len(name) >= 6 && strings.EqualFold(name[:6], "X-Amz-"):
			fe.add(hat, "X-Amz- headers belong to the SigV4 signer")
		}
		t.text(hat, s.Headers[name], false)
	}

	only("region", s.Region != "", "aws_sigv4")
	only("service", s.Service != "", "aws_sigv4")
	if kind == "github_app" && s.Verify == nil && !t.custom {
		// The provider's verify request is usually about a user (/user),
		// which an installation token cannot answer.
		fe.add(at+"verify", "is required for kind github_app (an installation token has no user: try GET /installation/repositories)")
	}
	if kind == "aws_sigv4" {
		switch {
		case strings.ContainsAny(s.Region, "{}"):
			t.pattern(at+"region", s.Region, regionRe)
		case !regionRe.MatchString(s.Region):
			fe.add(at+"region", "is required for aws_sigv4 and must match %s", regionRe)
		}
		if !serviceRe.MatchString(s.Service) {
			fe.add(at+"service", "is required for aws_sigv4 and must match %s", serviceRe)
		}
	}

	if s.DocsURL != "" {
		if err := checkDocsURL(s.DocsURL); err != nil {
			fe.add(at+"docs_url", "%s", err)
		}
	}
	if s.Verify != nil {
		validateVerify(at+"verify", s.Verify, t)
	}
	for i, k := range s.Requires {
		_, declared := t.fields[k]
		switch {
		case !declared && !slices.Contains(saSharedKeys, k):
			fe.add(sprintf("%srequires[%d]", at, i), "%q is neither a declared config field nor one of %s", k, strings.Join(saSharedKeys, ", "))
		case slices.Index(s.Requires, k) != i:
			fe.add(sprintf("%srequires[%d]", at, i), "duplicate %q", k)
		}
	}
}

func checkScopes(field string, scopes []string, fe *fieldErrors) {
	for i, s := range scopes {
		if s == "" || strings.ContainsFunc(s, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
			fe.add(sprintf("%s[%d]", field, i), "must be non-empty and without spaces")
		}
	}
}

// templates checks the placeholders of one provider's templates.
type templates struct {
	fe     *fieldErrors
	fields map[string]ConfigField
	custom bool
}

// refs checks that every placeholder names a config field (or {key} where
// allowed) and returns the fields used.
func (t *templates) refs(field, tmpl string, allowKey bool) ([]ConfigField, bool) {
	names, err := placeholders(tmpl)
	if err != nil {
		t.fe.add(field, "%s", err)
		return nil, false
	}
	ok := true
	var used []ConfigField
	for _, n := range names {
		if n == KeyVar {
			if !allowKey {
				t.fe.add(field, "{key} is only allowed in the api_key section")
				ok = false
			}
			continue
		}
		f, declared := t.fields[n]
		if !declared {
			t.fe.add(field, "placeholder {%s} is not a declared config field", n)
			ok = false
			continue
		}
		used = append(used, f)
	}
	return used, ok
}

// text checks a header, credential or audience template.
func (t *templates) text(field, tmpl string, allowKey bool) {
	if hasControl(tmpl) {
		t.fe.add(field, "must not contain control characters")
	}
	t.refs(field, tmpl, allowKey)
}

// pattern checks a template that is not a URL but whose expansion must
// match re (an AWS region): like a URL's, its fields need a pattern and a
// value whenever it is built, and a sample expansion must match.
func (t *templates) pattern(field, tmpl string, re *regexp.Regexp) {
	used, ok := t.refs(field, tmpl, false)
	for _, f := range used {
		switch {
		case f.Pattern == "":
			t.fe.add(field, "config field %q is used here and needs a pattern", f.Name)
			ok = false
		case !f.Required && f.Default == "":
			t.fe.add(field, "config field %q is used here and must be required or have a default", f.Name)
			ok = false
		}
	}
	if !ok {
		return
	}
	sample := map[string]string{}
	for name, f := range t.fields {
		sample[name] = cmp.Or(f.Default, "example")
	}
	if s, err := expand(tmpl, sample, ""); err != nil {
		t.fe.add(field, "%s", err)
	} else if !re.MatchString(s) {
		t.fe.add(field, "expands to %q, which does not match %s", s, re)
	}
}

// urlKind says what a URL template must expand to.
type urlKind int

const (
	baseURL urlKind = iota // an absolute URL without query: the API's base
	absURL                 // an absolute URL, query allowed (OAuth endpoints)
	pathURL                // a path and optional query under the base URL
)

// checkExpanded checks an expanded URL template of the given kind.
func checkExpanded(s string, kind urlKind, allowHTTP bool) error {
	if kind == pathURL {
		return checkPath(s)
	}
	return checkURL(s, kind == baseURL, allowHTTP)
}

// url checks a URL or path template. Fields used in one must have a
// pattern that keeps the value inside its URL part, and a value whenever
// the URL is built.
func (t *templates) url(field, tmpl string, kind urlKind) {
	used, ok := t.refs(field, tmpl, false)
	for _, f := range used {
		switch {
		case f.Pattern == "":
			t.fe.add(field, "config field %q is used in a URL and needs a pattern", f.Name)
			ok = false
		case !f.Required && f.Default == "":
			t.fe.add(field, "config field %q is used in a URL and must be required or have a default", f.Name)
			ok = false
		default:
			if re, err := regexp.Compile(anchor(f.Pattern)); err == nil {
				for _, probe := range urlProbes {
					if re.MatchString(probe) {
						t.fe.add(field, "the pattern of config field %q accepts %q, which could change the URL's host or path", f.Name, probe)
						ok = false
						break
					}
				}
			}
		}
	}
	if !ok {
		return
	}
	// Build the URL with sample values to check its shape now rather than
	// when a user first connects.
	sample := map[string]string{}
	for name, f := range t.fields {
		sample[name] = cmp.Or(f.Default, "example")
	}
	s, err := expandURL(tmpl, sample, kind != pathURL)
	if err == nil {
		err = checkExpanded(s, kind, t.custom)
	}
	if err != nil {
		t.fe.add(field, "%s", err)
	}
}

// placeholderError is a value that does not fit where it is substituted.
type placeholderError struct{ name, msg string }

func (e *placeholderError) Error() string { return "{" + e.name + "}: " + e.msg }

// expandURL expands a URL (full) or path template, checking each value
// against the part of the URL it lands in: host characters in the
// authority, one unreserved segment in the path or query.
func expandURL(tmpl string, vars map[string]string, full bool) (string, error) {
	toks, err := parseTemplate(tmpl)
	if err != nil {
		return "", err
	}
	const (
		inScheme = iota
		inAuthority
		inRest
	)
	state := inRest
	if full {
		state = inScheme
	}
	var b strings.Builder
	for _, tk := range toks {
		if tk.name == "" {
			for i := 0; i < len(tk.text); i++ {
				c := tk.text[i]
				b.WriteByte(c)
				switch {
				case state == inScheme && strings.HasSuffix(b.String(), "://"):
					state = inAuthority
				case state == inAuthority && (c == '/' || c == '?' || c == '#'):
					state = inRest
				}
			}
			continue
		}
		v, ok := vars[tk.name]
		if !ok {
			return "", &placeholderError{tk.name, ErrUnknownPlaceholder.Error()}
		}
		switch state {
		case inScheme:
			return "", &placeholderError{tk.name, "placeholders cannot set the URL scheme"}
		case inAuthority:
			if !hostValueRe.MatchString(v) {
				return "", &placeholderError{tk.name, "is not a valid host name part"}
			}
		default:
			if !segmentValueRe.MatchString(v) || v == "." || v == ".." {
				return "", &placeholderError{tk.name, "must be a single URL path segment of letters, digits and . _ ~ -"}
			}
		}
		b.WriteString(v)
	}
	return b.String(), nil
}

// checkURL checks an absolute URL: https (or http where allowed), a host,
// no credentials or fragment; a base URL also takes no query.
func checkURL(raw string, base, allowHTTP bool) error {
	u, err := url.Parse(raw)
	if err != nil {
		return errorf("is not a valid URL: %w", err)
	}
	switch {
	case u.Scheme == "http" && allowHTTP, u.Scheme == "https":
	case allowHTTP:
		return errorf("must be an http or https URL")
	default:
		return errorf("must be an https URL")
	}
	switch {
	case u.Opaque != "" || u.Hostname() == "":
		return errorf("needs a host")
	case u.User != nil:
		return errorf("must not contain user info")
	case u.Fragment != "" || strings.Contains(raw, "#"):
		return errorf("must not have a fragment")
	case base && (u.RawQuery != "" || u.ForceQuery):
		return errorf("must not have a query")
	}
	if base {
		// The proxy joins every request path onto a base URL and refuses
		// a base whose path could resolve elsewhere; refuse it here, when
		// it is set, rather than on every request later.
		if _, err := proxy.JoinPath(u, "", ""); err != nil {
			return errorf("must have a plain path: no '.' or '..' segments (also percent-encoded), empty segments ('//'), encoded slashes or backslashes")
		}
	}
	return nil
}

// checkDocsURL checks a documentation link: https with a host; unlike an
// API URL it may point at a section (#authentication).
func checkDocsURL(raw string) error {
	u, err := url.Parse(raw)
	switch {
	case err != nil:
		return errorf("is not a valid URL: %w", err)
	case u.Scheme != "https":
		return errorf("must be an https URL")
	case u.Hostname() == "" || u.User != nil:
		return errorf("needs a host and no user info")
	}
	return nil
}

// checkPath checks a request path (with optional query) relative to a
// base URL.
func checkPath(raw string) error {
	if !strings.HasPrefix(raw, "/") || strings.HasPrefix(raw, "//") {
		return errorf("must start with a single /")
	}
	u, err := url.Parse(raw)
	if err != nil {
		return errorf("is not a valid path: %w", err)
	}
	if u.Scheme != "" || u.Host != "" || u.Fragment != "" {
		return errorf("must be a path and optional query")
	}
	// Verification joins the path onto the base URL with the proxy's
	// rules (package methods); hold it to them now rather than failing
	// every verification later (a raw space, a dot segment).
	p, q, _ := strings.Cut(raw, "?")
	if _, err := proxy.JoinPath(pathCheckBase, strings.TrimPrefix(p, "/"), q); err != nil {
		return err
	}
	return nil
}

// pathCheckBase is a neutral base URL to check request paths against.
var pathCheckBase = &url.URL{Scheme: "https", Host: "base.invalid"}

// checkValue applies to every config value: no control characters (they
// could split headers) and no braces (a value must never read as a
// placeholder once substituted into a template that is expanded again).
func checkValue(v string) string {
	switch {
	case len(v) > 1024:
		return "is too long"
	case hasControl(v):
		return "must not contain control characters"
	case strings.ContainsAny(v, "{}"):
		return "must not contain { or }"
	}
	return ""
}

func hasControl(s string) bool {
	return strings.ContainsFunc(s, func(r rune) bool { return r < ' ' || r == 0x7f })
}

func mentionsKey(tmpl string) bool { return mentions(tmpl, KeyVar) }

func mentions(tmpl, name string) bool { return strings.Contains(tmpl, "{"+name+"}") }

func isForbiddenHeader(name string) bool {
	return slices.ContainsFunc(forbiddenHeaders, func(h string) bool { return strings.EqualFold(h, name) })
}
