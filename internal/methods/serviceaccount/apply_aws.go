package serviceaccount

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// Payload hashes for AWS SigV4.
const (
	// EmptyPayloadHash is the hex SHA-256 of an empty body.
	EmptyPayloadHash = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
	// UnsignedPayload stands for the hash of a body that is not signed.
	UnsignedPayload = "UNSIGNED-PAYLOAD"
)

// amzContentSHA256 carries the payload hash (required by S3, and by every
// service when the payload is not signed).
const amzContentSHA256 = "X-Amz-Content-Sha256"

// presignParams are the query parameters of a presigned URL. They are
// removed from a request signed in the Authorization header, so a caller
// cannot make it carry a second, conflicting signature.
var presignParams = []string{
	"X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Date", "X-Amz-Expires",
	"X-Amz-Security-Token", "X-Amz-Signature", "X-Amz-SignedHeaders",
}

// SigV4 signs requests with AWS Signature Version 4 in the Authorization
// header. It implements proxy.Credential and proxy.BodySigner, and is safe
// for concurrent use.
type SigV4 struct {
	creds   aws.Credentials
	region  string
	service string
	now     func() time.Time
	signer  *v4.Signer
	// s3 services take the path as it is (no second escaping) and always
	// want X-Amz-Content-Sha256.
	s3 bool
}

// NewSigV4 returns a signer for m (Kind aws_sigv4) in region for service
// (such as "us-east-1" and "execute-api"). now, when nil, is time.Now.
// Errors name the problem, never a value of m.
func NewSigV4(m Material, region, service string, now func() time.Time) (*SigV4, error) {
	if m.Kind != KindAWS {
		return nil, fmt.Errorf("the material is not of kind %q", KindAWS)
	}
	if m.AccessKeyID == "" || m.SecretAccessKey == "" {
		return nil, errors.New("access_key_id and secret_access_key are required")
	}
	if !headerSafe(m.AccessKeyID) || strings.ContainsAny(m.AccessKeyID, "/, =") {
		return nil, errors.New("access_key_id contains characters an access key id cannot have")
	}
	if !headerSafe(m.SecretAccessKey) {
		return nil, errors.New("secret_access_key contains control characters")
	}
	if !headerSafe(m.SessionToken) {
		return nil, errors.New("session_token contains control characters")
	}
	if !scopeName(region) {
		return nil, errors.New("region must be lowercase letters, digits and dashes, such as us-east-1")
	}
	if !scopeName(service) {
		return nil, errors.New("service must be lowercase letters, digits and dashes, such as execute-api")
	}
	if now == nil {
		now = time.Now
	}
	s3 := service == "s3" || service == "s3-object-lambda" || service == "s3express"
	return &SigV4{
		creds: aws.Credentials{
			AccessKeyID:     m.AccessKeyID,
			SecretAccessKey: m.SecretAccessKey,
			SessionToken:    m.SessionToken,
			Source:          "storm",
		},
		region:  region,
		service: service,
		now:     now,
		signer: v4.NewSigner(func(o *v4.SignerOptions) {
			o.DisableURIPathEscaping = s3
		}),
		s3: s3,
	}, nil
}

// Apply signs r as it will be sent: it must be the final request, URL
// (query included) and headers complete; anything changed afterwards
// breaks the signature, except headers SigV4 ignores (User-Agent,
// Authorization, Expect, Transfer-Encoding, X-Amzn-Trace-Id). It sets
// X-Amz-Date, Authorization, X-Amz-Security-Token with a session token, and
// X-Amz-Content-Sha256 for S3 or an unsigned payload. The payload is the
// SHA-256 of the body read through r.GetBody when it is set (a buffered
// body), the empty string's when there is no body, and UNSIGNED-PAYLOAD for
// a streamed body (accepted by S3; most other services require a signed
// payload, which the proxy provides by buffering bodies up to its
// MaxRetryBody for a BodySigner). The query is rewritten in canonical
// form, without presigned-URL parameters.
func (s *SigV4) Apply(r *http.Request) error {
	if r.URL == nil {
		return errors.New("sigv4: request has no URL")
	}
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		// The signer would silently drop what it cannot parse.
		return errors.New("sigv4: the query cannot be signed (bad escape or semicolon)")
	}
	if r.URL.RawQuery != "" {
		for _, k := range presignParams {
			q.Del(k)
		}
		r.URL.RawQuery = q.Encode()
	}

	hash, err := payloadHash(r)
	if err != nil {
		return err
	}
	if r.Header == nil {
		r.Header = http.Header{}
	}
	// What the caller may have set for these belongs to no signature of ours.
	for _, k := range []string{"Authorization", "X-Amz-Date", "X-Amz-Security-Token", amzContentSHA256} {
		r.Header.Del(k)
	}
	if s.s3 || hash == UnsignedPayload {
		r.Header.Set(amzContentSHA256, hash)
	}
	if err := s.signer.SignHTTP(r.Context(), s.creds, r, hash, s.service, s.region, s.now().UTC()); err != nil {
		return errors.New("sigv4: signing failed")
	}
	return nil
}

// SignsBody reports true: the proxy should buffer bodies so Apply can hash
// them (proxy.BodySigner).
func (s *SigV4) SignsBody() bool { return true }

// Access returns the credential for a caller that signs its own requests:
// type "aws", access_key_id, secret_access_key, session_token (empty when
// there is none), region and service. It carries secrets.
func (s *SigV4) Access() map[string]any {
	return map[string]any{
		"type":              "aws",
		"access_key_id":     s.creds.AccessKeyID,
		"secret_access_key": s.creds.SecretAccessKey,
		"session_token":     s.creds.SessionToken,
		"region":            s.region,
		"service":           s.service,
	}
}

// String redacts.
func (s *SigV4) String() string {
	return "serviceaccount.SigV4(" + s.region + "/" + s.service + ", [redacted])"
}

// GoString redacts.
func (s *SigV4) GoString() string { return s.String() }

// payloadHash is the hex SHA-256 of r's body as Apply describes.
func payloadHash(r *http.Request) (string, error) {
	switch {
	case r.GetBody != nil:
		body, err := r.GetBody()
		if err != nil {
			return "", errors.New("sigv4: the request body cannot be read again")
		}
		defer body.Close()
		h := sha256.New()
		if _, err := io.Copy(h, body); err != nil {
			return "", errors.New("sigv4: reading the request body failed")
		}
		return hex.EncodeToString(h.Sum(nil)), nil
	case r.Body == nil || r.Body == http.NoBody:
		return EmptyPayloadHash, nil
	default:
		return UnsignedPayload, nil
	}
}

// scopeName reports whether s can be a region or service in a SigV4
// credential scope.
func scopeName(s string) bool {
	if s == "" || len(s) > 64 || s[0] == '-' {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// headerSafe reports whether s has no control characters (it will be sent
// in a header or used in one).
func headerSafe(s string) bool {
	for _, c := range s {
		if c < 0x20 || c == 0x7f {
			return false
		}
	}
	return true
}
