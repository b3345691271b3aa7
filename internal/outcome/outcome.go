package outcome

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"net/http"

	"github.com/stormcreds/storm/internal/proxy"
)

// Reason is why a credential was not found working. The zero value means
// it was: no failure.
type Reason string

// The reasons of shared/API.md "Verification outcome".
const (
	// Rejected: the provider answered 401/403 (or refused the grant or
	// key at its token endpoint): the credential is wrong.
	Rejected Reason = "rejected"
	// Unreachable: DNS, connect, TLS or timeout; the credential was not
	// judged.
	Unreachable Reason = "unreachable"
	// Blocked: the egress guard refused the address.
	Blocked Reason = "blocked"
	// Unexpected: any other answer (or failure).
	Unexpected Reason = "unexpected"
	// NotChecked: there is no verification request to send.
	NotChecked Reason = "not_checked"
)

// Text is the fixed, user-readable text for r ("" for the zero Reason).
// It never varies with the error, so it cannot carry what the resolver,
// the network or the provider said.
func (r Reason) Text() string {
	switch r {
	case "":
		return ""
	case Rejected:
		return "the provider rejected the credential"
	case Unreachable:
		return "the provider could not be reached (DNS, connection, TLS or timeout); the credential was not judged"
	case Blocked:
		return "the egress guard refused the provider's address (private, loopback or reserved); " +
			"set STORM_ALLOW_PRIVATE_UPSTREAMS=true to allow private upstreams"
	case NotChecked:
		return "this integration has no verification request; the credential was not checked"
	}
	return "the provider gave an unexpected answer"
}

// Cause is the kind of transport failure behind an error, finer than a
// Reason, for texts about other servers (webhook receivers) that are
// just as fixed.
type Cause int

const (
	// CauseOther is any failure not listed below.
	CauseOther Cause = iota
	// CauseGuard: the egress guard refused the address.
	CauseGuard
	// CauseTimeout: a deadline passed or the call was cancelled.
	CauseTimeout
	// CauseDNS: the name did not resolve.
	CauseDNS
	// CauseTLS: the TLS handshake or certificate check failed.
	CauseTLS
	// CauseConnect: connecting failed, or the connection broke before an
	// answer.
	CauseConnect
)

// CauseOf classifies a transport error by its types.
func CauseOf(err error) Cause {
	var (
		dnsErr  *net.DNSError
		opErr   *net.OpError
		netErr  net.Error
		recErr  tls.RecordHeaderError
		alert   tls.AlertError
		verify  *tls.CertificateVerificationError
		unknown x509.UnknownAuthorityError
		host    x509.HostnameError
		invalid x509.CertificateInvalidError
	)
	switch {
	case err == nil:
		return CauseOther
	case errors.Is(err, proxy.ErrForbiddenDestination):
		return CauseGuard
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled),
		errors.As(err, &netErr) && netErr.Timeout():
		return CauseTimeout
	case errors.As(err, &dnsErr):
		return CauseDNS
	case errors.As(err, &recErr), errors.As(err, &alert), errors.As(err, &verify),
		errors.As(err, &unknown), errors.As(err, &host), errors.As(err, &invalid):
		return CauseTLS
	case errors.As(err, &opErr), errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return CauseConnect
	}
	return CauseOther
}

// A classified error knows its own reason: an *oauth.Error, whose HTTP
// status and RFC 6749 code decide.
type classified interface{ Outcome() Reason }

// Of is the reason behind err: the error's own (an *oauth.Error), else
// blocked for the egress guard, unreachable for DNS, connect, TLS and
// timeouts, unexpected for anything else. A nil err has no reason.
func Of(err error) Reason {
	if err == nil {
		return ""
	}
	var c classified
	if errors.As(err, &c) {
		return c.Outcome()
	}
	switch CauseOf(err) {
	case CauseGuard:
		return Blocked
	case CauseTimeout, CauseDNS, CauseTLS, CauseConnect:
		return Unreachable
	}
	return Unexpected
}

// OfStatus is the reason for an HTTP answer that was not the one
// expected: rejected for 401 and 403, unexpected otherwise.
func OfStatus(status int) Reason {
	if status == http.StatusUnauthorized || status == http.StatusForbidden {
		return Rejected
	}
	return Unexpected
}

// SafeText is Of(err).Text(): the fixed text for err, to store or show
// instead of err.Error().
func SafeText(err error) string { return Of(err).Text() }

// Text is a fixed text for c about "the server" (an authorization server,
// a webhook receiver): finer than a Reason's, just as free of what the
// network said.
func (c Cause) Text() string {
	switch c {
	case CauseGuard:
		return "the egress guard refused the server's address (private, loopback or reserved); " +
			"set STORM_ALLOW_PRIVATE_UPSTREAMS=true to allow private upstreams"
	case CauseTimeout:
		return "the server did not answer in time"
	case CauseDNS:
		return "the server's host name could not be resolved"
	case CauseTLS:
		return "the TLS handshake with the server failed (certificate or protocol)"
	case CauseConnect:
		return "the server could not be reached (connection failed or closed)"
	}
	return "the request failed before the server answered"
}
