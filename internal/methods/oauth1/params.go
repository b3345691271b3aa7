package oauth1

import (
	"errors"
	"fmt"
	"sort"
	"strings"
)

// Param is one request parameter, decoded: a name/value pair as RFC 5849
// §3.4.1.3 collects them. A name may repeat and a value may be empty.
type Param struct {
	Name, Value string
}

// MaxParams bounds the parameters of one request that is signed or parsed
// here; a request with more is refused rather than hashed at length.
const MaxParams = 1000

// ErrMalformedForm is wrapped by ParseForm's errors.
var ErrMalformedForm = errors.New("oauth1: malformed form encoding")

// Encode percent-encodes s as RFC 5849 §3.6 requires: every byte of its
// UTF-8 form except the unreserved characters ALPHA, DIGIT, "-", ".", "_"
// and "~" becomes %XX with upper-case hex digits. (Unlike form encoding,
// a space is %20, never "+".)
func Encode(s string) string {
	n := 0
	for i := 0; i < len(s); i++ {
		if !unreserved(s[i]) {
			n++
		}
	}
	if n == 0 {
		return s
	}
	const hex = "0123456789ABCDEF"
	b := make([]byte, 0, len(s)+2*n)
	for i := 0; i < len(s); i++ {
		c := s[i]
		if unreserved(c) {
			b = append(b, c)
			continue
		}
		b = append(b, '%', hex[c>>4], hex[c&15])
	}
	return string(b)
}

func unreserved(c byte) bool {
	return 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' ||
		c == '-' || c == '.' || c == '_' || c == '~'
}

// ParseForm decodes an application/x-www-form-urlencoded string (a URL's
// raw query or a form body) into its parameters in order, as RFC 5849
// §3.4.1.3.1 reads them: pairs separated by "&", name and value by the
// first "=", "+" decoded as a space and %XX as the byte XX. Repeated names
// and empty values are kept ("c2" and "c2=" are both c2 with an empty
// value); empty pairs ("a=1&&b=2") are skipped. A malformed escape is an
// error wrapping ErrMalformedForm, as is more than MaxParams pairs: such a
// request cannot be signed the way the server will read it.
func ParseForm(s string) ([]Param, error) {
	var params []Param
	for s != "" {
		var pair string
		pair, s, _ = strings.Cut(s, "&")
		if pair == "" {
			continue
		}
		if len(params) == MaxParams {
			return nil, fmt.Errorf("%w: more than %d parameters", ErrMalformedForm, MaxParams)
		}
		rawName, rawValue, _ := strings.Cut(pair, "=")
		name, err := formUnescape(rawName)
		if err != nil {
			return nil, err
		}
		value, err := formUnescape(rawValue)
		if err != nil {
			return nil, err
		}
		params = append(params, Param{name, value})
	}
	return params, nil
}

// formUnescape decodes one form-encoded name or value. The error does not
// quote the text (it may hold a secret).
func formUnescape(s string) (string, error) {
	if !strings.ContainsAny(s, "%+") {
		return s, nil
	}
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '+':
			b = append(b, ' ')
		case '%':
			if i+2 >= len(s) || !isHex(s[i+1]) || !isHex(s[i+2]) {
				return "", fmt.Errorf("%w: a %% is not followed by two hex digits", ErrMalformedForm)
			}
			b = append(b, unhex(s[i+1])<<4|unhex(s[i+2]))
			i += 2
		default:
			b = append(b, c)
		}
	}
	return string(b), nil
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c <= '9':
		return c - '0'
	case c <= 'F':
		return c - 'A' + 10
	}
	return c - 'a' + 10
}

// Normalize is RFC 5849 §3.4.1.3.2: each name and value is encoded
// (Encode), the pairs are sorted by encoded name and, for equal names, by
// encoded value (ascending byte order), joined as name=value (the "=" even
// when the value is empty) and the pairs joined with "&". Every value of a
// repeated name is included.
func Normalize(params []Param) string {
	enc := make([]Param, len(params))
	size := 0
	for i, p := range params {
		enc[i] = Param{Encode(p.Name), Encode(p.Value)}
		size += len(enc[i].Name) + len(enc[i].Value) + 2
	}
	sort.Slice(enc, func(i, j int) bool {
		if enc[i].Name != enc[j].Name {
			return enc[i].Name < enc[j].Name
		}
		return enc[i].Value < enc[j].Value
	})
	var b strings.Builder
	b.Grow(size)
	for i, p := range enc {
		if i > 0 {
			b.WriteByte('&')
		}
		b.WriteString(p.Name)
		b.WriteByte('=')
		b.WriteString(p.Value)
	}
	return b.String()
}
