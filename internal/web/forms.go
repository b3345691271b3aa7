package web

import (
	"encoding/json"
	"net/url"
	"regexp"
	"slices"
	"strings"

	"github.com/stormcreds/storm/internal/catalog"
	"github.com/stormcreds/storm/internal/methods/serviceaccount"
	"github.com/stormcreds/storm/internal/problem"
)

// field is one input of a generated form.
type field struct {
	ID          string
	Name        string
	Label       string
	Help        string
	Type        string // text | password | url | select | checkbox | textarea | file
	Required    bool
	Value       string
	Placeholder string
	Accept      string // file inputs
	Checked     bool
	Options     []option
	Error       string
}

// Describe is the field's aria-describedby: its help and error.
func (f field) Describe() string {
	var ids []string
	if f.Help != "" {
		ids = append(ids, f.ID+"-help")
	}
	if f.Error != "" {
		ids = append(ids, f.ID+"-error")
	}
	return strings.Join(ids, " ")
}

// fieldset is a group of fields with a legend.
type fieldset struct {
	Legend string
	Help   string
	Fields []field
}

var idUnsafe = regexp.MustCompile(`[^a-zA-Z0-9_-]+`)

func fieldID(name string) string { return "f-" + idUnsafe.ReplaceAllString(name, "-") }

func newField(name, label, typ, help string) field {
	return field{ID: fieldID(name), Name: name, Label: label, Type: typ, Help: help}
}

// sharedLabels names the OAuth 2.0 and service-account settings every
// provider that offers those methods accepts.
var sharedLabels = map[string][2]string{
	"client_id":     {"Client ID", "The client id of your app at the provider."},
	"client_secret": {"Client secret", "Stored encrypted and never shown again."},
	"scopes":        {"Scopes", "Separated by spaces. Leave empty for the defaults."},
	"issuer":        {"Issuer", "The iss of the signed assertion (often the client id)."},
	"subject":       {"Subject", "The user or account the service account acts as."},
	"ca_pem":        {"CA certificates (PEM)", "Extra roots that verify the server's certificate, if it uses a private CA."},
	// Added with issue 10.
	"consumer_key":    {"Consumer key", "The OAuth 1.0a client key of your app (NetSuite: the integration record's consumer key)."},
	"consumer_secret": {"Consumer secret", "Stored encrypted and never shown again. For RSA-SHA1, set the PEM private key through the API or CLI."},
	"app_id":          {"App ID", "The GitHub App's numeric id (or its client id), from the app's settings."},
	"installation_id": {"Installation ID", "The installation's numeric id: the number at the end of the installation's settings URL."},
}

func sharedField(key string, required bool) field {
	l := sharedLabels[key]
	typ := "text"
	switch key {
	case "client_secret":
		typ = "password"
	case "ca_pem":
		typ = "textarea"
	}
	if key == "consumer_secret" {
		typ = "password"
	}
	f := newField("config."+key, l[0], typ, l[1])
	f.Required = required
	return f
}

// saKeys are the shared settings each service-account kind uses.
var saKeys = map[string][]string{
	serviceaccount.KindGoogle:            {"subject", "scopes"},
	serviceaccount.KindJWTBearer:         {"issuer", "subject", "client_id", "client_secret", "scopes"},
	serviceaccount.KindClientCredentials: {"scopes"},
	serviceaccount.KindMTLS:              {"ca_pem"},
	serviceaccount.KindAWS:               nil,
	serviceaccount.KindGitHubApp:         {"app_id", "installation_id"},
}

// configForm is the form that creates an integration of provider p with
// method: the provider's own settings, then what the method needs.
func (u *UI) configForm(p catalog.Provider, method string) []fieldset {
	switch p.Name {
	case catalog.Custom:
		return customForm(method)
	case catalog.MCP:
		return mcpForm()
	}
	var sets []fieldset
	var own []field
	declared := map[string]bool{}
	for _, cf := range p.Config {
		declared[cf.Name] = true
		f := newField("config."+cf.Name, cf.Label, "text", cf.Help)
		f.Required = cf.Required
		f.Value = cf.Default
		own = append(own, f)
	}
	if len(own) > 0 {
		sets = append(sets, fieldset{Legend: p.DisplayName + " settings", Fields: own})
	}
	switch method {
	case catalog.MethodOAuth2:
		if p.OAuth2 != nil && p.OAuth2.ProtectedResource {
			sets = append(sets, resourceClientSet(p.DisplayName))
			break
		}
		fs := fieldset{Legend: "OAuth 2.0 app", Help: "Register Storm's redirect URI with your app at " + p.DisplayName + ", then enter the app's credentials.",
			Fields: []field{sharedField("client_id", true), sharedField("client_secret", false), sharedField("scopes", false)}}
		if p.OAuth2 != nil && len(p.OAuth2.Scopes) > 0 {
			fs.Fields[2].Placeholder = strings.Join(p.OAuth2.Scopes, " ")
		}
		sets = append(sets, fs)
	case catalog.MethodServiceAccount:
		if p.ServiceAccount == nil {
			break
		}
		sa := p.ServiceAccount
		var fields []field
		keys := slices.Clone(sa.Requires)
		for _, k := range saKeys[sa.Kind] {
			if !slices.Contains(keys, k) {
				keys = append(keys, k)
			}
		}
		for _, k := range keys {
			if declared[k] || sharedLabels[k][0] == "" {
				continue
			}
			f := sharedField(k, slices.Contains(sa.Requires, k))
			if k == "scopes" && len(sa.Scopes) > 0 {
				f.Placeholder = strings.Join(sa.Scopes, " ")
			}
			fields = append(fields, f)
		}
		if len(fields) > 0 {
			sets = append(sets, fieldset{Legend: "Service account", Fields: fields})
		}
	case catalog.MethodOAuth1:
		help := "Register Storm's callback URL with your app at " + p.DisplayName + ", then enter the app's consumer key and secret."
		if !p.OAuth1.ThreeLegged() {
			help = "Enter the consumer key and secret of your integration record; you paste the token id and secret on the next page."
		}
		sets = append(sets, fieldset{Legend: "OAuth 1.0a client", Help: help,
			Fields: []field{sharedField("consumer_key", true), sharedField("consumer_secret", p.OAuth1.SignatureMethod != "RSA-SHA1")}})
	}
	return sets
}

// resourceClientSet is the optional client of an OAuth-protected
// resource: without one, Storm registers itself (RFC 7591).
func resourceClientSet(name string) fieldset {
	return fieldset{Legend: "OAuth client (optional)",
		Help:   "Leave empty: Storm finds " + name + "'s authorization server and registers itself there. Enter a client only if the server does not allow that.",
		Fields: []field{sharedField("client_id", false), sharedField("client_secret", false), sharedField("scopes", false)}}
}

// mcpForm is the form of a remote MCP server: its URL, and optionally a
// client registered by hand.
func mcpForm() []fieldset {
	base := newField("config.base_url", "Server URL", "url", "The MCP server's URL as its provider publishes it, e.g. https://mcp.example.com/mcp. Storm discovers everything else.")
	base.Required = true
	base.Placeholder = "https://mcp.example.com/mcp"
	return []fieldset{{Legend: "MCP server", Fields: []field{base}}, resourceClientSet("the server")}
}

// customForm is the custom provider's form: every setting of the API
// contract's custom config that the method uses.
func customForm(method string) []fieldset {
	base := newField("config.base_url", "Base URL", "url", "Where the API lives, e.g. https://api.example.com. Requests are only ever sent to this origin.")
	base.Required = true
	base.Placeholder = "https://api.example.com"
	sets := []fieldset{{Legend: "API", Fields: []field{base}}}
	verifyPath := newField("config.verify.path", "Verify request path", "text", "A cheap request that only succeeds with a working credential, e.g. /me.")
	verifyPath.Placeholder = "/me"
	verifyMethod := newField("config.verify.method", "Verify request method", "select", "")
	verifyMethod.Options = []option{{Value: "GET", Label: "GET", Selected: true}, {Value: "POST", Label: "POST"}, {Value: "HEAD", Label: "HEAD"}}
	switch method {
	case catalog.MethodAPIKey:
		in := newField("config.api_key.in", "Send the key in", "select", "")
		in.Options = []option{{Value: "header", Label: "A header", Selected: true}, {Value: "query", Label: "A query parameter"}, {Value: "basic", Label: "HTTP Basic auth"}}
		name := newField("config.api_key.name", "Header or parameter name", "text", "For a header or a query parameter.")
		name.Value = "Authorization"
		prefix := newField("config.api_key.prefix", "Prefix", "text", "Put before the key, e.g. \"Bearer \" (with its space).")
		prefix.Value = "Bearer "
		user := newField("config.api_key.username", "Basic auth user name", "text", "For HTTP Basic: the user name; {key} stands for the key. Empty: the key is the password.")
		sets = append(sets, fieldset{Legend: "How the key is applied", Fields: []field{in, name, prefix, user}})
		verifyPath.Required = true
		sets = append(sets, fieldset{Legend: "Verify request", Help: "Storm sends it with every new key before the key becomes active.", Fields: []field{verifyMethod, verifyPath}})
		sets = append(sets, exchangeSet("{{api_key}}"))
	case catalog.MethodBasic:
		sets = append(sets, fieldset{Legend: "Verify request", Help: "Storm sends it with every new user name and password before they become active.", Fields: []field{verifyMethod, verifyPath}})
		sets = append(sets, exchangeSet("{{username}} and {{password}}"))
	case catalog.MethodOAuth1:
		f := func(k, label, typ, help string) field { return newField("config.oauth1."+k, label, typ, help) }
		sig := f("signature_method", "Signature method", "select", "")
		for i, m := range catalog.OAuth1SignatureMethods {
			sig.Options = append(sig.Options, option{Value: m, Label: m, Selected: i == 0})
		}
		key := f("consumer_key", "Consumer key", "text", "")
		key.Required = true
		sets = append(sets, fieldset{Legend: "OAuth 1.0a", Help: "Give all three endpoints for the three-legged flow, or none when the provider issues tokens out of band (NetSuite token-based authentication).",
			Fields: []field{
				f("request_token_url", "Request token endpoint", "url", ""),
				f("authorize_url", "Authorization endpoint", "url", ""),
				f("access_token_url", "Access token endpoint", "url", ""),
				sig,
				f("realm", "Realm", "text", "Optional; NetSuite wants the account id (1234567_SB1)."),
				key,
				f("consumer_secret", "Consumer secret", "password", "Stored encrypted and never shown again. For RSA-SHA1, set the PEM private key through the API or CLI."),
			}})
		sets = append(sets, fieldset{Legend: "Verify request", Help: "Optional: a signed request that only succeeds with working tokens.", Fields: []field{verifyMethod, verifyPath}})
	case catalog.MethodOAuth2:
		f := func(k, label, typ, help string) field { return newField("config.oauth2."+k, label, typ, help) }
		cid := f("client_id", "Client ID", "text", "The client id of your app at the authorization server.")
		cid.Required = true
		pkce := f("pkce", "Use PKCE (S256)", "checkbox", "")
		pkce.Checked = true
		sets = append(sets, fieldset{Legend: "OAuth 2.0 endpoints", Help: "The issuer alone is enough when the server publishes discovery metadata (RFC 8414 or OpenID Connect).",
			Fields: []field{
				f("issuer", "Issuer", "url", ""),
				f("authorize_url", "Authorization endpoint", "url", ""),
				f("token_url", "Token endpoint", "url", ""),
				f("revoke_url", "Revocation endpoint", "url", "Optional (RFC 7009): Storm revokes tokens there when a version is revoked."),
				cid,
				f("client_secret", "Client secret", "password", "Stored encrypted and never shown again."),
				f("scopes", "Scopes", "text", "Separated by spaces."),
				pkce,
			}})
		sets = append(sets, fieldset{Legend: "Verify request", Help: "Optional: checks that a token works.", Fields: []field{verifyMethod, verifyPath}})
	case catalog.MethodServiceAccount:
		f := func(k, label, typ, help string) field { return newField("config.service_account."+k, label, typ, help) }
		kind := f("kind", "Kind", "select", "")
		kind.Required = true
		kind.Options = []option{
			{Value: serviceaccount.KindGoogle, Label: "Google service-account key (JSON)", Selected: true},
			{Value: serviceaccount.KindJWTBearer, Label: "JWT bearer (RFC 7523): a private key signs assertions"},
			{Value: serviceaccount.KindClientCredentials, Label: "Client credentials (RFC 6749 §4.4)"},
			{Value: serviceaccount.KindMTLS, Label: "Client certificate (mutual TLS)"},
			{Value: serviceaccount.KindAWS, Label: "AWS access key (SigV4)"},
			{Value: serviceaccount.KindGitHubApp, Label: "GitHub App (installation tokens)"},
		}
		sets = append(sets, fieldset{Legend: "Service account", Help: "Each setting applies to the kinds named in its description; leave the others empty.",
			Fields: []field{
				kind,
				f("token_url", "Token endpoint", "url", "JWT bearer, client credentials (Google keys carry their own)."),
				f("audience", "Audience", "text", "JWT bearer: the assertion's aud (default: the token endpoint)."),
				f("scopes", "Scopes", "text", "Separated by spaces."),
				f("issuer", "Issuer", "text", "JWT bearer: the assertion's iss."),
				f("subject", "Subject", "text", "JWT bearer and Google: the user to act as."),
				f("client_id", "Client ID", "text", "JWT bearer, where the token endpoint authenticates the client."),
				f("client_secret", "Client secret", "password", "Stored encrypted and never shown again."),
				f("region", "AWS region", "text", "AWS: e.g. eu-west-1."),
				f("service", "AWS service", "text", "AWS: e.g. execute-api, s3."),
				f("app_id", "GitHub App ID", "text", "GitHub App: the app's id; the base URL is https://api.github.com or https://HOST/api/v3."),
				f("installation_id", "GitHub installation ID", "text", "GitHub App: the installation whose tokens Storm mints."),
			}})
		sets = append(sets, fieldset{Legend: "Verify request", Help: "Optional for token-minting kinds (minting is a check); recommended otherwise.", Fields: []field{verifyMethod, verifyPath}})
	}
	return sets
}

// fillForm puts the submitted values back into sets (never a secret) and
// attaches field errors; errors that match no field are returned.
func fillForm(sets []fieldset, form url.Values, errs []problem.FieldError) []problem.FieldError {
	byName := map[string]*field{}
	for i := range sets {
		for j := range sets[i].Fields {
			f := &sets[i].Fields[j]
			byName[f.Name] = f
			if form == nil {
				continue
			}
			v := form.Get(f.Name)
			switch f.Type {
			case "password", "file":
			case "checkbox":
				f.Checked = v != ""
			case "select":
				for k := range f.Options {
					f.Options[k].Selected = f.Options[k].Value == v
				}
			default:
				f.Value = v
			}
		}
	}
	var rest []problem.FieldError
	for _, e := range errs {
		if f := byName[e.Field]; f != nil && f.Error == "" {
			f.Error = e.Message
			continue
		}
		rest = append(rest, e)
	}
	return rest
}

// configFromForm builds an integration's config from the form's
// "config.…" fields: dotted names nest, empty values are left out,
// scopes become a list, checkboxes booleans.
func configFromForm(form url.Values, sets []fieldset) map[string]any {
	cfg := map[string]any{}
	for _, fs := range sets {
		for _, f := range fs.Fields {
			key, ok := strings.CutPrefix(f.Name, "config.")
			if !ok {
				continue
			}
			raw := form.Get(f.Name)
			var v any
			switch {
			case f.Type == "checkbox":
				v = raw != ""
			case strings.HasSuffix(key, "prefix") || strings.HasSuffix(key, "username"):
				// A prefix keeps its spaces ("Bearer ").
				if raw == "" {
					continue
				}
				v = raw
			case key == "exchange":
				raw = strings.TrimSpace(raw)
				if raw == "" {
					continue
				}
				var block map[string]any
				if err := json.Unmarshal([]byte(raw), &block); err != nil {
					v = raw // refused by the server, naming config.exchange
				} else {
					v = block
				}
			case strings.HasSuffix(key, "scopes"):
				words := strings.Fields(strings.ReplaceAll(raw, ",", " "))
				if len(words) == 0 {
					continue
				}
				list := make([]any, len(words))
				for i, w := range words {
					list[i] = w
				}
				v = list
			default:
				raw = strings.TrimSpace(raw)
				if raw == "" {
					continue
				}
				v = raw
			}
			setPath(cfg, strings.Split(key, "."), v)
		}
	}
	// A verify request without a path is no verify request.
	if vr, ok := cfg["verify"].(map[string]any); ok && vr["path"] == nil {
		delete(cfg, "verify")
	}
	// HTTP Basic takes no header name or prefix; a header or query
	// parameter no user name.
	if k, ok := cfg["api_key"].(map[string]any); ok {
		if k["in"] == catalog.InBasic {
			delete(k, "name")
			delete(k, "prefix")
		} else {
			delete(k, "username")
		}
	}
	return cfg
}

func setPath(m map[string]any, path []string, v any) {
	for _, p := range path[:len(path)-1] {
		next, ok := m[p].(map[string]any)
		if !ok {
			next = map[string]any{}
			m[p] = next
		}
		m = next
	}
	m[path[len(path)-1]] = v
}

// uploadFields are the setup dialog's inputs for a service-account kind:
// the credentials file and the form fields package serviceaccount takes
// with it.
func uploadFields(kind string) []field {
	file := newField("file", "Credentials file", "file", "")
	file.Required = true
	var extra []field
	switch kind {
	case serviceaccount.KindGoogle:
		file.Label, file.Accept = "Service-account key file (JSON)", ".json,application/json"
		file.Help = "The JSON key you downloaded from the Google Cloud console."
	case serviceaccount.KindJWTBearer:
		file.Label, file.Accept = "Private key (PEM)", ".pem,.key,.txt"
		extra = append(extra, newField("key_id", "Key ID", "text", "Optional: the kid the provider registered the key under."))
	case serviceaccount.KindClientCredentials:
		file.Label, file.Accept = "Client credentials file", ".json,.pem,.key,application/json"
		file.Help = "A JSON file with client_id and client_secret, or a PEM private key (private_key_jwt)."
		extra = append(extra, newField("client_id", "Client ID", "text", "Only if the file does not name it."),
			newField("key_id", "Key ID", "text", "Optional, for a PEM private key."))
	case serviceaccount.KindMTLS:
		file.Label, file.Accept = "Client certificate and key (PEM)", ".pem,.crt,.key"
		file.Help = "One PEM file: the certificate chain, leaf first, and its private key."
	case serviceaccount.KindGitHubApp:
		file.Label, file.Accept = "App private key (.pem)", ".pem,.key,.txt"
		file.Help = "The .pem file GitHub generated for the app (Settings → Developer settings → GitHub Apps → Private keys)."
	case serviceaccount.KindAWS:
		file.Label, file.Accept = "Access key file", ".csv,.ini,.txt"
		file.Help = "The access-key CSV from the AWS console, or a credentials file ([default] aws_access_key_id = …)."
		extra = append(extra, newField("session_token", "Session token", "password", "Only for temporary credentials."),
			newField("profile", "Profile", "text", "For a credentials file with several sections."))
	}
	return append([]field{file}, extra...)
}

// attachUploadErrors puts upload field errors on the dialog's fields
// ("file.client_secret" belongs to the file) and returns the others.
func attachUploadErrors(fields []field, errs []problem.FieldError) []problem.FieldError {
	var rest []problem.FieldError
next:
	for _, e := range errs {
		for i := range fields {
			f := &fields[i]
			if e.Field == f.Name || (f.Name == "file" && strings.HasPrefix(e.Field, "file.")) {
				msg := e.Message
				if e.Field != f.Name {
					msg = strings.TrimPrefix(e.Field, "file.") + ": " + msg
				}
				if f.Error != "" {
					f.Error += "; " + msg
				} else {
					f.Error = msg
				}
				continue next
			}
		}
		rest = append(rest, e)
	}
	return rest
}

// exchangeSet is a custom API-key or Basic integration's optional token
// exchange block, as JSON (shared/API.md "Token exchange").
func exchangeSet(templates string) fieldset {
	f := newField("config.exchange", "Exchange block (JSON)", "textarea",
		`Optional. When the API wants a short-lived session token: {"method":"POST","path":"/auth/session","body":{"key":"…"},"token_pointer":"/token","expires_in_pointer":"/expires_in","apply":{"in":"header","name":"Authorization","prefix":"Bearer "}}, with `+templates+` in values.`)
	return fieldset{Legend: "Token exchange", Fields: []field{f}}
}
