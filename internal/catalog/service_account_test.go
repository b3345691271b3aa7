package catalog

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"testing/fstest"
	"time"
)

// TestServiceAccountProviders pins what a service-account integration of
// each catalog provider resolves to: the facts a minter acts on.
func TestServiceAccountProviders(t *testing.T) {
	c := mustLoad(t)
	tests := []struct {
		provider string
		config   map[string]any
		want     ServiceAccount // Kind and every non-zero field are compared
		base     string
		verify   string // the verify path a service account uses
	}{
		{"google", map[string]any{"subject": "ops@acme.example"}, ServiceAccount{Kind: "google",
			TokenURL: "https://oauth2.googleapis.com/token", Scopes: []string{"https://www.googleapis.com/auth/userinfo.email"}},
			"https://www.googleapis.com", "/oauth2/v3/userinfo"},
		{"google-cloud", nil, ServiceAccount{Kind: "google", TokenURL: "https://oauth2.googleapis.com/token",
			Scopes: []string{"https://www.googleapis.com/auth/cloud-platform"}},
			"https://cloudresourcemanager.googleapis.com", "/v1/projects?pageSize=1"},
		{"google-workspace", map[string]any{"subject": "admin@acme.example"}, ServiceAccount{Kind: "google",
			Scopes: []string{"https://www.googleapis.com/auth/admin.directory.user.readonly"}},
			"https://admin.googleapis.com", "/admin/directory/v1/users?customer=my_customer&maxResults=1"},
		{"firebase", map[string]any{"project_id": "acme-prod"}, ServiceAccount{Kind: "google",
			Scopes: []string{"https://www.googleapis.com/auth/cloud-platform", "https://www.googleapis.com/auth/firebase"}},
			"https://firebase.googleapis.com", "/v1beta1/projects/acme-prod"},
		{"bigquery", nil, ServiceAccount{Kind: "google", Scopes: []string{"https://www.googleapis.com/auth/bigquery"}},
			"https://bigquery.googleapis.com/bigquery/v2", "/projects?maxResults=1"},
		{"salesforce", map[string]any{"my_domain": "acme", "issuer": "3MVG9abc", "subject": "svc@acme.example"}, ServiceAccount{
			Kind: "jwt_bearer", TokenURL: "https://acme.my.salesforce.com/services/oauth2/token", Audience: "https://login.salesforce.com",
			TokenTTL: Duration(time.Hour), Requires: []string{"issuer", "subject"}},
			"https://acme.my.salesforce.com", "/services/data/v62.0/"},
		{"salesforce", map[string]any{"my_domain": "acme--uat.sandbox", "login_host": "test.salesforce.com", "issuer": "3MVG9abc",
			"subject": "svc@acme.example.uat"}, ServiceAccount{Kind: "jwt_bearer",
			TokenURL: "https://acme--uat.sandbox.my.salesforce.com/services/oauth2/token", Audience: "https://test.salesforce.com"},
			"https://acme--uat.sandbox.my.salesforce.com", "/services/data/v62.0/"},
		{"box", map[string]any{"client_id": "abc", "client_secret": "s", "subject": "123456"}, ServiceAccount{Kind: "jwt_bearer",
			TokenURL: "https://api.box.com/oauth2/token", Audience: "https://api.box.com/oauth2/token", ClientAuth: "post",
			Claims: map[string]string{"box_sub_type": "enterprise"}},
			"https://api.box.com/2.0", "/users/me"},
		{"docusign", map[string]any{"auth_host": "account-d.docusign.com", "issuer": "ik", "subject": "user-guid"}, ServiceAccount{
			Kind: "jwt_bearer", TokenURL: "https://account-d.docusign.com/oauth/token", Audience: "account-d.docusign.com",
			Scopes: []string{"signature", "impersonation"}, ScopeClaim: true},
			"https://www.docusign.net/restapi", ""},
		{"docusign", map[string]any{"issuer": "ik", "subject": "user-guid"}, ServiceAccount{Kind: "jwt_bearer",
			TokenURL: "https://account.docusign.com/oauth/token", Audience: "account.docusign.com"},
			"https://www.docusign.net/restapi", ""},
		{"snowflake", map[string]any{"account": "MYORG-MYACCOUNT", "user": "STORM_SVC"}, ServiceAccount{Kind: "jwt_bearer",
			SelfSigned: true, TokenTTL: Duration(time.Hour),
			Claims:  map[string]string{"iss": "MYORG-MYACCOUNT.STORM_SVC.{public_key_fp}", "sub": "MYORG-MYACCOUNT.STORM_SVC"},
			Headers: map[string]string{"X-Snowflake-Authorization-Token-Type": "KEYPAIR_JWT"}},
			"https://MYORG-MYACCOUNT.snowflakecomputing.com", "/api/v2/statements"},
		{"microsoft", map[string]any{"tenant": "contoso.onmicrosoft.com"}, ServiceAccount{Kind: "client_credentials",
			TokenURL: "https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/token", ClientAuth: "post",
			Scopes: []string{"https://graph.microsoft.com/.default"}},
			"https://graph.microsoft.com/v1.0", "/organization?$select=id"},
		{"okta", map[string]any{"domain": "acme.okta.com"}, ServiceAccount{Kind: "client_credentials",
			TokenURL: "https://acme.okta.com/oauth2/v1/token", ClientAuth: "private_key_jwt", Scopes: []string{"okta.users.read"}},
			"https://acme.okta.com", "/api/v1/users?limit=1"},
		{"zoom", map[string]any{"account_id": "AbC_12-x"}, ServiceAccount{Kind: "client_credentials",
			TokenURL: "https://zoom.us/oauth/token", ClientAuth: "basic", GrantType: "account_credentials",
			ExtraTokenParams: map[string]string{"account_id": "AbC_12-x"}, Requires: []string{"account_id"}},
			"https://api.zoom.us/v2", "/users/me"},
		{"aws-s3", map[string]any{"region": "eu-west-1"}, ServiceAccount{Kind: "aws_sigv4", Region: "eu-west-1", Service: "s3"},
			"https://s3.eu-west-1.amazonaws.com", "/"},
		{"aws-s3", nil, ServiceAccount{Kind: "aws_sigv4", Region: "us-east-1", Service: "s3"},
			"https://s3.us-east-1.amazonaws.com", "/"},
		{"aws-sts", map[string]any{"region": "us-gov-west-1"}, ServiceAccount{Kind: "aws_sigv4", Region: "us-gov-west-1", Service: "sts"},
			"https://sts.us-gov-west-1.amazonaws.com", "/?Action=GetCallerIdentity&Version=2011-06-15"},
		{"aws-ses", map[string]any{"region": "ap-southeast-2"}, ServiceAccount{Kind: "aws_sigv4", Region: "ap-southeast-2", Service: "ses"},
			"https://email.ap-southeast-2.amazonaws.com", "/v2/email/account"},
		{"aws-lambda", nil, ServiceAccount{Kind: "aws_sigv4", Region: "us-east-1", Service: "lambda"},
			"https://lambda.us-east-1.amazonaws.com", "/2015-03-31/functions/?MaxItems=1"},
		{"swish", map[string]any{"host": "mss.cpc.getswish.net"}, ServiceAccount{Kind: "mtls"},
			"https://mss.cpc.getswish.net/swish-cpcapi/api", ""},
	}
	for _, tc := range tests {
		t.Run(tc.provider, func(t *testing.T) {
			r, err := c.ResolveMethod(tc.provider, MethodServiceAccount, tc.config)
			if err != nil {
				t.Fatal(err)
			}
			got, w := r.Provider.ServiceAccount, tc.want
			if got.Kind != w.Kind {
				t.Errorf("kind %q, want %q", got.Kind, w.Kind)
			}
			for _, f := range []struct{ name, got, want string }{
				{"token_url", got.TokenURL, w.TokenURL}, {"audience", got.Audience, w.Audience},
				{"client_auth", got.ClientAuth, w.ClientAuth}, {"grant_type", got.GrantType, w.GrantType},
				{"region", got.Region, w.Region}, {"service", got.Service, w.Service},
			} {
				if f.want != "" && f.got != f.want {
					t.Errorf("%s %q, want %q", f.name, f.got, f.want)
				}
			}
			if w.Scopes != nil && !slices.Equal(got.Scopes, w.Scopes) {
				t.Errorf("scopes %v, want %v", got.Scopes, w.Scopes)
			}
			if w.Requires != nil && !slices.Equal(got.Requires, w.Requires) {
				t.Errorf("requires %v, want %v", got.Requires, w.Requires)
			}
			for name, m := range map[string][2]map[string]string{"extra_token_params": {got.ExtraTokenParams, w.ExtraTokenParams},
				"claims": {got.Claims, w.Claims}, "headers": {got.Headers, w.Headers}} {
				for k, v := range m[1] {
					if m[0][k] != v {
						t.Errorf("%s.%s %q, want %q", name, k, m[0][k], v)
					}
				}
			}
			if (w.ScopeClaim && !got.ScopeClaim) || (w.SelfSigned && !got.SelfSigned) || (w.TokenTTL != 0 && got.TokenTTL != w.TokenTTL) {
				t.Errorf("scope_claim %v self_signed %v token_ttl %v", got.ScopeClaim, got.SelfSigned, got.TokenTTL)
			}
			if r.BaseURL.String() != tc.base {
				t.Errorf("base URL %s, want %s", r.BaseURL, tc.base)
			}
			v := r.Provider.Verify
			if got.Verify != nil {
				v = got.Verify
			}
			switch {
			case tc.verify == "" && v != nil:
				t.Errorf("verify %+v, want none", v)
			case tc.verify != "" && (v == nil || v.Path != tc.verify):
				t.Errorf("verify %+v, want path %s", v, tc.verify)
			}
		})
	}

	// Resolving expands copies, never the catalog's own entries.
	if p, _ := c.Get("zoom"); p.ServiceAccount.ExtraTokenParams["account_id"] != "{account_id}" {
		t.Errorf("catalog extra_token_params expanded in place: %v", p.ServiceAccount.ExtraTokenParams)
	}
	if p, _ := c.Get("snowflake"); p.ServiceAccount.Claims["sub"] != "{account}.{user}" {
		t.Errorf("catalog claims expanded in place: %v", p.ServiceAccount.Claims)
	}
	if p, _ := c.Get("aws-s3"); p.ServiceAccount.Region != "{region}" {
		t.Errorf("catalog region expanded in place: %q", p.ServiceAccount.Region)
	}
	// Get hands out copies of the new maps, slices and verify too.
	p, _ := c.Get("zoom")
	p.ServiceAccount.ExtraTokenParams["account_id"] = "changed"
	p.ServiceAccount.Requires[0] = "changed"
	q, _ := c.Get("okta")
	q.ServiceAccount.Verify.Path = "/changed"
	q.ServiceAccount.Scopes[0] = "changed"
	if p, _ := c.Get("zoom"); p.ServiceAccount.ExtraTokenParams["account_id"] == "changed" || p.ServiceAccount.Requires[0] == "changed" {
		t.Error("Get exposed the catalog's service_account maps")
	}
	if q, _ := c.Get("okta"); q.ServiceAccount.Verify.Path == "/changed" || q.ServiceAccount.Scopes[0] == "changed" {
		t.Error("Get exposed the catalog's service_account verify or scopes")
	}
}

func TestResolveServiceAccount(t *testing.T) {
	c := mustLoad(t)

	// The integration's scopes replace the defaults, as for OAuth 2.0.
	r, err := c.ResolveMethod("google", MethodServiceAccount, map[string]any{
		"scopes": []any{"https://www.googleapis.com/auth/drive.readonly"}, "subject": "ops@acme.example"})
	if err != nil || !slices.Equal(r.Provider.ServiceAccount.Scopes, []string{"https://www.googleapis.com/auth/drive.readonly"}) {
		t.Errorf("scopes override: %v, %v", r.Provider.ServiceAccount, err)
	}
	r, err = c.Resolve("microsoft", map[string]any{"scopes": []any{}})
	if err != nil || r.Provider.ServiceAccount.Scopes == nil || len(r.Provider.ServiceAccount.Scopes) != 0 ||
		r.Provider.OAuth2.Scopes == nil || len(r.Provider.OAuth2.Scopes) != 0 {
		t.Errorf("empty scopes override: %+v, %v", r.Provider.ServiceAccount, err)
	}
	// Resolve alone does not demand what only service accounts need:
	// Zoom's OAuth integrations have no account ID.
	if _, err := c.Resolve("zoom", nil); err != nil {
		t.Errorf("zoom without account_id: %v", err)
	}
	if _, err := c.ResolveMethod("zoom", MethodOAuth2, nil); err != nil {
		t.Errorf("zoom oauth2 without account_id: %v", err)
	}

	bad := []struct {
		name, provider string
		config         map[string]any
		want           []string
	}{
		{"zoom without account id", "zoom", nil, []string{"account_id"}},
		{"zoom empty account id", "zoom", map[string]any{"account_id": ""}, []string{"account_id"}},
		{"zoom account id injection", "zoom", map[string]any{"account_id": "a&grant_type=password"}, []string{"account_id"}},
		{"salesforce without subject or issuer", "salesforce", map[string]any{"my_domain": "acme"}, []string{"issuer", "subject"}},
		{"salesforce login host", "salesforce", map[string]any{"my_domain": "acme", "login_host": "login.evil.example",
			"issuer": "i", "subject": "s"}, []string{"login_host"}},
		{"box subject not a string", "box", map[string]any{"client_id": "a", "client_secret": "b", "subject": 12.5}, []string{"subject"}},
		{"box without secret", "box", map[string]any{"client_id": "a", "subject": "1"}, []string{"client_secret"}},
		{"workspace without subject", "google-workspace", nil, []string{"subject"}},
		{"workspace subject not an address", "google-workspace", map[string]any{"subject": "admin"}, []string{"subject"}},
		{"snowflake lower case account", "snowflake", map[string]any{"account": "myorg-myaccount", "user": "U"}, []string{"account"}},
		{"snowflake host injection", "snowflake", map[string]any{"account": "EVIL.COM/X", "user": "U"}, []string{"account"}},
		{"firebase project path injection", "firebase", map[string]any{"project_id": "../x"}, []string{"project_id"}},
		{"aws region injection", "aws-s3", map[string]any{"region": "evil.com/x"}, []string{"region"}},
		{"aws china region", "aws-sts", map[string]any{"region": "cn-north-1"}, []string{"region"}},
		{"aws unknown setting", "aws-ses", map[string]any{"service": "iam"}, []string{"service"}},
		{"sa scopes with a space", "google-cloud", map[string]any{"scopes": []any{"a b"}}, []string{"scopes[0]"}},
		{"swish host", "swish", map[string]any{"host": "cpc.getswish.net.evil.example"}, []string{"host"}},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			_, err := c.ResolveMethod(tc.provider, MethodServiceAccount, tc.config)
			if err == nil {
				t.Fatal("ResolveMethod accepted bad config")
			}
			got := fieldErrs(t, err)
			slices.Sort(got)
			if want := slices.Sorted(slices.Values(tc.want)); !slices.Equal(got, want) {
				t.Errorf("fields %v, want %v (%v)", got, want, err)
			}
		})
	}

	if _, err := c.ResolveMethod("openai", MethodServiceAccount, nil); !errors.Is(err, ErrUnsupportedMethod) {
		t.Errorf("unsupported method: %v", err)
	}
	if _, err := c.ResolveMethod("nosuch", MethodServiceAccount, nil); !errors.Is(err, ErrUnknownProvider) {
		t.Errorf("unknown provider: %v", err)
	}
}

// validSA is a minimal valid service-account provider that the cases
// below break; saWith appends lines under service_account.
const validSA = `
name: acme
display_name: Acme
docs_url: https://acme.example/docs
base_url: https://{subdomain}.acme.example
auth_methods: [service_account]
config:
  - name: subdomain
    label: Subdomain
    required: true
    pattern: '^[a-z0-9-]+$'
  - name: region
    label: Region
    default: eu-west-1
    pattern: '^[a-z]{2}-[a-z]+-[0-9]$'
service_account:
  kind: client_credentials
  token_url: https://{subdomain}.acme.example/oauth/token
  client_auth: basic
  scopes: [read]
`

func saWith(lines ...string) string {
	return validSA + "  " + strings.Join(lines, "\n  ") + "\n"
}

// saKind replaces the kind (and drops the client_credentials settings
// that other kinds reject) before appending lines.
func saKind(kind string, lines ...string) string {
	f := strings.Replace(validSA, "kind: client_credentials", "kind: "+kind, 1)
	f = strings.Replace(f, "  token_url: https://{subdomain}.acme.example/oauth/token\n  client_auth: basic\n  scopes: [read]\n", "", 1)
	if len(lines) == 0 {
		return f
	}
	return f + "  " + strings.Join(lines, "\n  ") + "\n"
}

func TestLoadFSServiceAccount(t *testing.T) {
	tests := []struct {
		name string
		file string
		want []string // nil: the file is valid
	}{
		{"client credentials", validSA, nil},
		{"everything for client credentials", saWith("docs_url: https://acme.example/docs/sa", "audience: 'https://{subdomain}.acme.example/api'",
			"grant_type: account_credentials", "extra_token_params:", "  account_id: '{subdomain}'", "token_ttl: 1h",
			"headers:", "  X-Acme-Site: '{subdomain}'", "requires: [subdomain, client_id, issuer]",
			"verify:", "  method: GET", "  path: /v1/me", "  expect: [200, 403]"), nil},
		{"jwt bearer", saKind("jwt_bearer", "token_url: https://{subdomain}.acme.example/token", "audience: https://acme.example",
			"scopes: [a, b]", "scope_claim: true", "client_auth: post", "claims:", "  acme_sub_type: enterprise", "  iss: '{subdomain}.{public_key_fp}'",
			"requires: [subject]"), nil},
		{"self-signed jwt", saKind("jwt_bearer", "self_signed: true", "token_ttl: 1h", "claims:", "  iss: '{subdomain}.{public_key_fp}'",
			"headers:", "  X-Token-Type: KEYPAIR_JWT"), nil},
		{"google without token_url", saKind("google", "scopes: [https://www.googleapis.com/auth/cloud-platform]"), nil},
		{"mtls", saKind("mtls"), nil},
		{"aws literal region", saKind("aws_sigv4", "region: us-east-1", "service: execute-api"), nil},
		{"aws templated region", saKind("aws_sigv4", "region: '{region}'", "service: s3"), nil},
		{"declared subject", strings.Replace(validSA, "config:\n", "config:\n  - name: subject\n    label: User\n    required: true\n", 1), nil},

		{"unknown kind", strings.Replace(validSA, "kind: client_credentials", "kind: kerberos", 1),
			[]string{"service_account.kind: must be one of"}},
		{"missing token_url", strings.Replace(validSA, "  token_url: https://{subdomain}.acme.example/oauth/token\n", "", 1),
			[]string{"service_account.token_url: is required for kind client_credentials"}},
		{"jwt bearer without token_url", saKind("jwt_bearer"), []string{"service_account.token_url: is required for kind jwt_bearer"}},
		{"http token_url", strings.Replace(validSA, "token_url: https://", "token_url: http://", 1),
			[]string{"service_account.token_url: must be an https URL"}},
		{"token_url placeholder undeclared", strings.Replace(validSA, "{subdomain}.acme.example/oauth", "{tenant}.acme.example/oauth", 1),
			[]string{"service_account.token_url: placeholder {tenant} is not a declared config field"}},
		{"missing client_auth", strings.Replace(validSA, "  client_auth: basic\n", "", 1),
			[]string{"service_account.client_auth: is required for kind client_credentials"}},
		{"bad client_auth", strings.Replace(validSA, "client_auth: basic", "client_auth: secret", 1),
			[]string{"service_account.client_auth: must be basic, post or private_key_jwt"}},
		{"bad grant type", saWith("grant_type: 'a b'"), []string{"service_account.grant_type: must match"}},
		{"protected token param", saWith("extra_token_params:", "  grant_type: password"),
			[]string{"service_account.extra_token_params.grant_type: is set by"}},
		{"protected assertion param", saWith("extra_token_params:", "  Client_Assertion: x"),
			[]string{"service_account.extra_token_params.Client_Assertion: is set by"}},
		{"empty token param", saWith("extra_token_params:", "  account_id: ''"),
			[]string{"service_account.extra_token_params.account_id: must not be empty"}},
		{"token param placeholder", saWith("extra_token_params:", "  account_id: '{account}'"),
			[]string{"service_account.extra_token_params.account_id: placeholder {account} is not a declared config field"}},
		{"token param key", saWith("extra_token_params:", "  k: '{key}'"),
			[]string{"service_account.extra_token_params.k: {key} is only allowed in the api_key section"}},
		{"duplicate scope", strings.Replace(validSA, "scopes: [read]", "scopes: [read, read]", 1),
			[]string{"service_account.scopes[1]: duplicate scope"}},
		{"scope with space", strings.Replace(validSA, "scopes: [read]", "scopes: ['read all']", 1),
			[]string{"service_account.scopes[0]: must be non-empty and without spaces"}},
		{"protected claim", saKind("jwt_bearer", "token_url: https://acme.example/t", "claims:", "  exp: '9999999999'"),
			[]string{"service_account.claims.exp: is set by the minter"}},
		{"bad claim name", saKind("jwt_bearer", "token_url: https://acme.example/t", "claims:", "  'a b': x"),
			[]string{"service_account.claims.a b: is not a valid claim name"}},
		{"claim placeholder", saKind("jwt_bearer", "token_url: https://acme.example/t", "claims:", "  iss: '{tenant}'"),
			[]string{"service_account.claims.iss: placeholder {tenant} is not a declared config field"}},
		{"claims for client credentials", saWith("claims:", "  x: y"),
			[]string{"service_account.claims: is not used with kind client_credentials"}},
		{"self-signed with token_url", saKind("jwt_bearer", "self_signed: true", "token_url: https://acme.example/t"),
			[]string{"service_account.token_url: must be empty with self_signed"}},
		{"self-signed with client auth", saKind("jwt_bearer", "self_signed: true", "client_auth: post"),
			[]string{"service_account.self_signed: a self-signed JWT has no token request"}},
		{"self-signed client credentials", saWith("self_signed: true"),
			[]string{"service_account.self_signed: is not used with kind client_credentials"}},
		{"scope claim for client credentials", saWith("scope_claim: true"),
			[]string{"service_account.scope_claim: is not used with kind client_credentials"}},
		{"grant type for jwt", saKind("jwt_bearer", "token_url: https://acme.example/t", "grant_type: x"),
			[]string{"service_account.grant_type: is not used with kind jwt_bearer"}},
		{"negative ttl", saWith("token_ttl: -1m"), []string{"service_account.token_ttl: must not be negative"}},
		{"authorization header", saWith("headers:", "  authorization: x"),
			[]string{"service_account.headers.authorization: header authorization cannot be set"}},
		{"forbidden header", saWith("headers:", "  Host: x"), []string{"service_account.headers.Host: header Host cannot be set"}},
		{"header injection", saWith("headers:", "  X-A: \"a\\r\\nB: c\""),
			[]string{"service_account.headers.X-A: must not contain control characters"}},
		{"amz header", saKind("aws_sigv4", "region: us-east-1", "service: s3", "headers:", "  X-Amz-Date: x"),
			[]string{"service_account.headers.X-Amz-Date: X-Amz- headers belong to the SigV4 signer"}},
		{"aws without region", saKind("aws_sigv4", "service: s3"), []string{"service_account.region: is required for aws_sigv4"}},
		{"aws without service", saKind("aws_sigv4", "region: us-east-1"), []string{"service_account.service: is required for aws_sigv4"}},
		{"aws bad region", saKind("aws_sigv4", "region: US_EAST", "service: s3"), []string{"service_account.region: is required for aws_sigv4 and must match"}},
		{"aws bad service", saKind("aws_sigv4", "region: us-east-1", "service: 'S 3'"), []string{"service_account.service: is required for aws_sigv4 and must match"}},
		{"aws region undeclared", saKind("aws_sigv4", "region: '{zone}'", "service: s3"),
			[]string{"service_account.region: placeholder {zone} is not a declared config field"}},
		{"aws region field without pattern", strings.Replace(saKind("aws_sigv4", "region: '{region}'", "service: s3"),
			"    pattern: '^[a-z]{2}-[a-z]+-[0-9]$'\n", "", 1),
			[]string{"service_account.region: config field \"region\" is used here and needs a pattern"}},
		{"aws region default not a region", strings.Replace(saKind("aws_sigv4", "region: '{region}.x'", "service: s3"), "", "", 1),
			[]string{"service_account.region: expands to \"eu-west-1.x\""}},
		{"aws with token_url", saKind("aws_sigv4", "region: us-east-1", "service: s3", "token_url: https://acme.example/t"),
			[]string{"service_account.token_url: is not used with kind aws_sigv4"}},
		{"aws with scopes", saKind("aws_sigv4", "region: us-east-1", "service: s3", "scopes: [a]"),
			[]string{"service_account.scopes: is not used with kind aws_sigv4"}},
		{"region for client credentials", saWith("region: us-east-1"),
			[]string{"service_account.region: is not used with kind client_credentials"}},
		{"mtls with audience", saKind("mtls", "audience: x"), []string{"service_account.audience: is not used with kind mtls"}},
		{"http docs", saWith("docs_url: http://acme.example/sa"), []string{"service_account.docs_url: must be an https URL"}},
		{"verify path", saWith("verify:", "  method: GET", "  path: me"), []string{"service_account.verify.path: must start with a single /"}},
		{"verify method", saWith("verify:", "  method: PUT", "  path: /me"), []string{"service_account.verify.method: must be GET, HEAD or POST"}},
		{"verify expect", saWith("verify:", "  method: GET", "  path: /me", "  expect: [99]"),
			[]string{"service_account.verify.expect[0]: 99 is not an HTTP status"}},
		{"requires unknown key", saWith("requires: [tenant]"),
			[]string{"service_account.requires[0]: \"tenant\" is neither a declared config field nor one of"}},
		{"requires duplicate", saWith("requires: [subject, subject]"), []string{"service_account.requires[1]: duplicate \"subject\""}},
		{"subject declared without service accounts", strings.Replace(valid, "config:\n", "config:\n  - name: subject\n    label: User\n", 1),
			[]string{"config[0].name: \"subject\" is reserved (only a provider that takes service accounts"}},
		{"client_id still reserved", strings.Replace(validSA, "config:\n", "config:\n  - name: client_id\n    label: Client\n", 1),
			[]string{"config[0].name: \"client_id\" is reserved"}},
		{"unknown field", saWith("token_uri: https://acme.example/t"), []string{"field token_uri not found"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := LoadFS(fstest.MapFS{"acme.yaml": &fstest.MapFile{Data: []byte(tc.file)}})
			if tc.want == nil {
				if err != nil {
					t.Fatalf("LoadFS rejected a valid file: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("LoadFS accepted a bad catalog")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestResolveCustomServiceAccount(t *testing.T) {
	c := mustLoad(t)
	ok := []struct {
		name, config string
		check        func(t *testing.T, s *ServiceAccount)
	}{
		{"http token url for tests", `{"base_url":"http://127.0.0.1:41234","service_account":{"kind":"client_credentials",
			"token_url":"http://127.0.0.1:41234/token","scopes":["a"],"client_id":"c","client_secret":"s"}}`, func(t *testing.T, s *ServiceAccount) {
			if s.TokenURL != "http://127.0.0.1:41234/token" || s.ClientAuth != "basic" {
				t.Errorf("token_url %q client_auth %q (want the basic default)", s.TokenURL, s.ClientAuth)
			}
		}},
		{"client credentials quirks", `{"base_url":"https://api.example.com","service_account":{"kind":"client_credentials",
			"token_url":"https://id.example.com/token","client_auth":"private_key_jwt","grant_type":"account_credentials",
			"extra_token_params":{"account_id":"42"},"audience":"https://api.example.com","token_ttl":"30m","headers":{"X-V":"2"}}}`,
			func(t *testing.T, s *ServiceAccount) {
				if s.ClientAuth != "private_key_jwt" || s.GrantType != "account_credentials" || s.ExtraTokenParams["account_id"] != "42" ||
					s.TokenTTL != Duration(30*time.Minute) || s.Headers["X-V"] != "2" || s.Audience != "https://api.example.com" {
					t.Errorf("service_account %+v", s)
				}
			}},
		{"self-signed jwt", `{"base_url":"https://acct.example.com","service_account":{"kind":"jwt_bearer","self_signed":true,
			"claims":{"iss":"ACCT.USER.{public_key_fp}","sub":"ACCT.USER"},"headers":{"X-Token-Type":"KEYPAIR_JWT"}}}`,
			func(t *testing.T, s *ServiceAccount) {
				if !s.SelfSigned || s.Claims["iss"] != "ACCT.USER.{public_key_fp}" {
					t.Errorf("service_account %+v", s)
				}
			}},
		{"jwt bearer scope claim", `{"base_url":"https://api.example.com","service_account":{"kind":"jwt_bearer",
			"token_url":"https://id.example.com/token","scope_claim":true,"scopes":["a"],"issuer":"me","subject":"svc"}}`,
			func(t *testing.T, s *ServiceAccount) {
				if !s.ScopeClaim || s.ClientAuth != "" {
					t.Errorf("service_account %+v", s)
				}
			}},
	}
	for _, tc := range ok {
		t.Run(tc.name, func(t *testing.T) {
			r, err := c.ResolveMethod(Custom, MethodServiceAccount, decode(t, tc.config))
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, r.Provider.ServiceAccount)
		})
	}

	bad := []struct {
		name, config string
		want         []string
	}{
		{"ftp token url", `{"base_url":"https://api.example.com","service_account":{"kind":"jwt_bearer","token_url":"ftp://id.example.com/t"}}`,
			[]string{"service_account.token_url"}},
		{"token url placeholder", `{"base_url":"https://api.example.com","service_account":{"kind":"jwt_bearer","token_url":"https://{t}.example.com/t"}}`,
			[]string{"service_account.token_url"}},
		{"aws region", `{"base_url":"https://api.example.com","service_account":{"kind":"aws_sigv4","region":"evil.com/x","service":"s3"}}`,
			[]string{"service_account.region"}},
		{"aws region placeholder", `{"base_url":"https://api.example.com","service_account":{"kind":"aws_sigv4","region":"{r}","service":"s3"}}`,
			[]string{"service_account.region"}},
		{"aws missing service", `{"base_url":"https://api.example.com","service_account":{"kind":"aws_sigv4","region":"us-east-1"}}`,
			[]string{"service_account.service"}},
		{"mtls with token url", `{"base_url":"https://api.example.com","service_account":{"kind":"mtls","token_url":"https://id.example.com/t"}}`,
			[]string{"service_account.token_url"}},
		{"protected claim", `{"base_url":"https://api.example.com","service_account":{"kind":"jwt_bearer","token_url":"https://id.example.com/t",
			"claims":{"aud":"x"}}}`, []string{"service_account.claims.aud"}},
		{"self-signed with token url", `{"base_url":"https://api.example.com","service_account":{"kind":"jwt_bearer","self_signed":true,
			"token_url":"https://id.example.com/t"}}`, []string{"service_account.token_url"}},
		{"protected token param", `{"base_url":"https://api.example.com","service_account":{"kind":"client_credentials",
			"token_url":"https://id.example.com/t","extra_token_params":{"scope":"admin"}}}`, []string{"service_account.extra_token_params.scope"}},
		{"bad client auth", `{"base_url":"https://api.example.com","service_account":{"kind":"client_credentials",
			"token_url":"https://id.example.com/t","client_auth":"none"}}`, []string{"service_account.client_auth"}},
		{"header injection", `{"base_url":"https://api.example.com","service_account":{"kind":"mtls","headers":{"X-A":"a\r\nB: c"}}}`,
			[]string{"service_account.headers.X-A"}},
		{"bad ttl", `{"base_url":"https://api.example.com","service_account":{"kind":"client_credentials",
			"token_url":"https://id.example.com/t","token_ttl":"soon"}}`, []string{"service_account.token_ttl"}},
		{"unknown setting", `{"base_url":"https://api.example.com","service_account":{"kind":"mtls","verify":{"path":"/x"}}}`,
			[]string{"service_account.verify"}},
		{"claims not strings", `{"base_url":"https://api.example.com","service_account":{"kind":"jwt_bearer","token_url":"https://id.example.com/t",
			"claims":{"n":1}}}`, []string{"service_account.claims.n"}},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			_, err := c.ResolveMethod(Custom, MethodServiceAccount, decode(t, tc.config))
			if err == nil {
				t.Fatal("Resolve accepted bad config")
			}
			got := fieldErrs(t, err)
			slices.Sort(got)
			if want := slices.Sorted(slices.Values(tc.want)); !slices.Equal(got, want) {
				t.Errorf("fields %v, want %v (%v)", got, want, err)
			}
		})
	}
	// A custom integration without a service_account section does not
	// support the method, and the error names the missing section.
	_, err := c.ResolveMethod(Custom, MethodServiceAccount, decode(t, `{"base_url":"https://api.example.com",
		"api_key":{"in":"header","name":"X-Key"}}`))
	var verr *ValidationError
	if !errors.As(err, &verr) || len(verr.Errors) != 1 || verr.Errors[0].Field != "service_account" {
		t.Errorf("custom without service_account: %v", err)
	}
}
