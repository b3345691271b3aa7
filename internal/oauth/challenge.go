package oauth

import (
	"errors"
	"net/http"
	"strings"
)

// Challenge is one challenge of a WWW-Authenticate header (RFC 9110
// §11.6.1): an auth scheme with either a token68 or parameters. Scheme
// and parameter names are lower-cased (they are case-insensitive);
// quoted values are unquoted.
type Challenge struct {
	Scheme  string
	Token68 string
	Params  map[string]string
}

// Limits on a WWW-Authenticate header that is parsed.
const (
	maxChallengeHeader = 8 << 10
	maxChallengeParams = 64
)

// ErrMalformedChallenge is wrapped by ParseChallenges' errors.
var ErrMalformedChallenge = errors.New("oauth: malformed WWW-Authenticate header")

// ParseChallenges parses the values of WWW-Authenticate headers into
// challenges, in order. Values longer than 8 KiB in all, more than 64
// parameters, a parameter repeated within a challenge and text that is
// not RFC 9110 syntax are errors wrapping ErrMalformedChallenge.
func ParseChallenges(values []string) ([]Challenge, error) {
	total := 0
	var out []Challenge
	for _, v := range values {
		total += len(v)
		if total > maxChallengeHeader {
			return nil, errors.Join(ErrMalformedChallenge, errors.New("the header is too long"))
		}
		cs, err := parseChallengeList(v)
		if err != nil {
			return nil, err
		}
		out = append(out, cs...)
	}
	return out, nil
}

func malformed(why string) error { return errors.Join(ErrMalformedChallenge, errors.New(why)) }

type challengeLexer struct {
	s string
	i int
}

func (l *challengeLexer) skip(chars string) {
	for l.i < len(l.s) && strings.IndexByte(chars, l.s[l.i]) >= 0 {
		l.i++
	}
}

func (l *challengeLexer) peek() byte {
	if l.i < len(l.s) {
		return l.s[l.i]
	}
	return 0
}

// token reads 1*tchar.
func (l *challengeLexer) token() string {
	start := l.i
	for l.i < len(l.s) && isTchar(l.s[l.i]) {
		l.i++
	}
	return l.s[start:l.i]
}

func isTchar(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}

func isToken68(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("-._~+/", c) >= 0
}

// quoted reads a quoted-string starting at '"'.
func (l *challengeLexer) quoted() (string, error) {
	l.i++ // opening quote
	var b strings.Builder
	for l.i < len(l.s) {
		c := l.s[l.i]
		switch {
		case c == '"':
			l.i++
			return b.String(), nil
		case c == '\\':
			// quoted-pair = "\" ( HTAB / SP / VCHAR / obs-text )
			if l.i+1 >= len(l.s) || !qdtextOK(l.s[l.i+1]) {
				return "", malformed("malformed quoted-pair")
			}
			b.WriteByte(l.s[l.i+1])
			l.i += 2
		case qdtextOK(c):
			b.WriteByte(c)
			l.i++
		default:
			return "", malformed("control character in a quoted string")
		}
	}
	return "", malformed("unterminated quoted string")
}

// qdtextOK: HTAB, SP, visible characters and obs-text.
func qdtextOK(c byte) bool { return c == '\t' || (c >= 0x20 && c != 0x7f) }

// parseChallengeList parses one header value: #challenge, where a comma
// separates both challenges and the parameters of one challenge; a
// token followed by "=" continues the parameters, any other token starts
// a new challenge.
func parseChallengeList(s string) ([]Challenge, error) {
	l := &challengeLexer{s: s}
	var out []Challenge
	params := 0
	for {
		l.skip(" \t,")
		if l.i >= len(l.s) {
			return out, nil
		}
		scheme := l.token()
		if scheme == "" {
			return nil, malformed("expected an auth scheme")
		}
		c := Challenge{Scheme: strings.ToLower(scheme)}
		afterScheme := l.i
		l.skip(" ")
		if l.i == afterScheme || l.i >= len(l.s) || l.peek() == ',' {
			// No parameters (a bare scheme, possibly followed by another challenge).
			out = append(out, c)
			continue
		}
		// token68 or the first auth-param.
		if !paramAhead(l.s, l.i) {
			start := l.i
			for l.i < len(l.s) && isToken68(l.s[l.i]) {
				l.i++
			}
			for l.i < len(l.s) && l.s[l.i] == '=' {
				l.i++
			}
			if l.i == start {
				return nil, malformed("expected parameters or a token68 after the scheme")
			}
			c.Token68 = l.s[start:l.i]
			l.skip(" \t")
			if l.i < len(l.s) && l.peek() != ',' {
				return nil, malformed("unexpected text after a token68")
			}
			out = append(out, c)
			continue
		}
		c.Params = map[string]string{}
		for {
			l.skip(" \t")
			save := l.i
			name := l.token()
			l.skip(" \t")
			if name == "" || l.peek() != '=' {
				// Not a parameter: the start of the next challenge.
				l.i = save
				break
			}
			l.i++ // '='
			l.skip(" \t")
			var value string
			if l.peek() == '"' {
				v, err := l.quoted()
				if err != nil {
					return nil, err
				}
				value = v
			} else {
				value = l.token()
				if value == "" {
					return nil, malformed("a parameter has no value")
				}
			}
			key := strings.ToLower(name)
			if _, dup := c.Params[key]; dup {
				return nil, malformed("a parameter is repeated in one challenge")
			}
			if params++; params > maxChallengeParams {
				return nil, malformed("too many parameters")
			}
			c.Params[key] = value
			l.skip(" \t")
			if l.i >= len(l.s) {
				break
			}
			if l.peek() != ',' {
				return nil, malformed("parameters must be separated by commas")
			}
			l.i++
		}
		out = append(out, c)
	}
}

// paramAhead reports whether s at i is an auth-param (token BWS "="
// BWS value) rather than a token68, whose only "=" are trailing padding.
func paramAhead(s string, i int) bool {
	j := i
	for j < len(s) && isTchar(s[j]) {
		j++
	}
	if j == i {
		return false
	}
	for j < len(s) && (s[j] == ' ' || s[j] == '\t') {
		j++
	}
	if j >= len(s) || s[j] != '=' {
		return false
	}
	j++
	for j < len(s) && (s[j] == ' ' || s[j] == '\t') {
		j++
	}
	return j < len(s) && (s[j] == '"' || isTchar(s[j]))
}

// BearerResourceMetadata reads the RFC 9728 §5.1 resource_metadata URL
// (and the scope, when given) of the Bearer challenge in a 401's
// headers. ok is false when there is none or the header is malformed.
func BearerResourceMetadata(h http.Header) (metadataURL, scope string, ok bool) {
	cs, err := ParseChallenges(h.Values("WWW-Authenticate"))
	if err != nil {
		return "", "", false
	}
	for _, c := range cs {
		if c.Scheme == "bearer" && c.Params["resource_metadata"] != "" {
			return c.Params["resource_metadata"], c.Params["scope"], true
		}
	}
	return "", "", false
}
