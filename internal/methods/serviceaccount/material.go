package serviceaccount

import (
	"encoding/json"
	"time"
)

// Kinds of service-account credentials (shared/API.md).
const (
	KindGoogle            = "google"
	KindJWTBearer         = "jwt_bearer"
	KindClientCredentials = "client_credentials"
	KindMTLS              = "mtls"
	KindAWS               = "aws_sigv4"
	KindGitHubApp         = "github_app"
)

// MaxFileSize bounds an uploaded credentials file.
const MaxFileSize = 64 << 10

// Material is a service account's secret material as a credential
// version stores it (sealed by the vault). Only the members of its Kind
// are set. It redacts itself when printed.
type Material struct {
	Kind string `json:"kind"`
	// Google is the service-account JSON key file as uploaded.
	Google json.RawMessage `json:"google,omitempty"`
	// KeyPEM is a PKCS#8, PKCS#1 or SEC 1 private key (jwt_bearer, mtls,
	// client_credentials with private_key_jwt; github_app: RSA only).
	KeyPEM string `json:"key_pem,omitempty"`
	KeyID  string `json:"key_id,omitempty"`
	// CertPEM is the client certificate chain, leaf first (mtls).
	CertPEM         string `json:"cert_pem,omitempty"`
	ClientID        string `json:"client_id,omitempty"`
	ClientSecret    string `json:"client_secret,omitempty"`
	AccessKeyID     string `json:"access_key_id,omitempty"`
	SecretAccessKey string `json:"secret_access_key,omitempty"`
	SessionToken    string `json:"session_token,omitempty"`
}

// String redacts.
func (m Material) String() string { return "serviceaccount.Material(" + m.Kind + ", [redacted])" }

// GoString redacts.
func (m Material) GoString() string { return m.String() }

// Info is what may be shown about material: identifiers, dates and key
// sizes, never a secret.
type Info struct {
	// Hint masks the identifying value (client email, key id, access key
	// id, certificate subject) to at most 4 characters of a secret.
	Hint string
	// Identity is a non-secret name of the account: the Google client
	// email, the certificate subject, the OAuth client id, the AWS access
	// key id (an identifier, not a secret, so shown in full).
	Identity string
	// KeyID names the key where the file has one.
	KeyID string
	// Algorithm and Bits describe the private key (RSA 2048, EC P-256…).
	Algorithm string
	Bits      int
	// NotBefore and NotAfter bound a certificate's validity; zero when
	// there is no certificate.
	NotBefore time.Time
	NotAfter  time.Time
	// FingerprintInput is what the vault fingerprints (the public part or
	// key id, never needed for display).
	FingerprintInput []byte
}
