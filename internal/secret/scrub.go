package secret

import (
	"encoding/base64"
	"encoding/hex"
	"net/url"
	"strings"
	"unicode"
	"unicode/utf8"
)

// minRun is the shortest piece of a secret that Scrub removes: any run of
// this many characters taken from a secret (or from one of its encodings)
// is treated as the secret. Shorter secrets are removed only whole.
const minRun = 8

// minSecret is the shortest secret Scrub looks for at all: anything
// shorter would match ordinary words and is no secret worth the name.
const minSecret = 4

// Scrub returns text with every trace of the given secrets replaced by
// "[redacted]". A trace is any run of at least 8 characters of a secret,
// compared without regard to ASCII case, found in the secret itself or in
// one of its encodings: URL (query and path) escaping, hex, base64 in the
// standard and URL alphabets with or without padding (also when the
// secret is encoded together with other bytes, as in an HTTP Basic
// header), and any of these split by whitespace. Secrets shorter than 8
// characters are removed only where they appear whole. It is safe for
// concurrent use.
//
// Scrub is for text that came from outside (a provider's error message):
// Storm's own texts never hold a secret in the first place.
func Scrub(text string, secrets ...string) string {
	m := newMatcher(secrets)
	if m.empty() || text == "" {
		return text
	}
	marks := m.mark(text)
	if marks == nil {
		return text
	}
	return replaceMarked(text, marks)
}

// Excerpt returns a bounded, printable excerpt of provider text: control
// characters become spaces, runs of whitespace one space, the secrets are
// scrubbed (before cutting, so a secret cannot survive as a cut-off
// prefix), and at most max runes are kept, ending in "…" when cut.
func Excerpt(text string, max int, secrets ...string) string {
	text = strings.Join(strings.FieldsFunc(strings.ToValidUTF8(text, " "), func(r rune) bool {
		return unicode.IsSpace(r) || unicode.IsControl(r)
	}), " ")
	text = Scrub(text, secrets...)
	if utf8.RuneCountInString(text) <= max {
		return text
	}
	n := 0
	for i := range text {
		if n == max {
			return strings.TrimRight(text[:i], " ") + "…"
		}
		n++
	}
	return text
}

// matcher finds the traces of a set of secrets.
type matcher struct {
	grams map[string]struct{} // folded minRun-grams of every form of every long secret
	whole []string            // folded forms of short secrets, matched whole
}

func newMatcher(secrets []string) *matcher {
	m := &matcher{}
	for _, s := range secrets {
		n := len(stripSpace(s))
		if n < minSecret {
			continue
		}
		// Forms are matched without whitespace, as the text is.
		forms := encodings(s)
		if n < minRun {
			for _, f := range forms {
				m.whole = append(m.whole, fold(stripSpace(f)))
			}
			continue
		}
		if m.grams == nil {
			m.grams = map[string]struct{}{}
		}
		for _, f := range forms {
			f = fold(stripSpace(f))
			for i := 0; i+minRun <= len(f); i++ {
				m.grams[f[i:i+minRun]] = struct{}{}
			}
		}
	}
	return m
}

func (m *matcher) empty() bool { return len(m.grams) == 0 && len(m.whole) == 0 }

// mark reports which bytes of text belong to a trace (nil: none). It
// matches on text with its whitespace removed, so a secret split by
// spaces or line breaks is found, and marks the whitespace inside a
// trace too.
func (m *matcher) mark(text string) []bool {
	compact := make([]byte, 0, len(text))
	at := make([]int, 0, len(text)) // compact index → text index
	for i := 0; i < len(text); i++ {
		if isSpace(text[i]) {
			continue
		}
		compact = append(compact, lower(text[i]))
		at = append(at, i)
	}
	var marks []bool
	hit := func(from, to int) { // compact[from:to]
		if marks == nil {
			marks = make([]bool, len(text))
		}
		for i := at[from]; i <= at[to-1]; i++ {
			marks[i] = true
		}
	}
	if len(m.grams) > 0 {
		for i := 0; i+minRun <= len(compact); i++ {
			if _, ok := m.grams[string(compact[i:i+minRun])]; ok {
				hit(i, i+minRun)
			}
		}
	}
	c := string(compact)
	for _, w := range m.whole {
		for off := 0; ; {
			j := strings.Index(c[off:], w)
			if j < 0 {
				break
			}
			hit(off+j, off+j+len(w))
			off += j + 1
		}
	}
	return marks
}

// replaceMarked replaces each run of marked bytes (widened to whole
// UTF-8 characters) with the redaction marker.
func replaceMarked(text string, marks []bool) string {
	for i := range marks {
		if !marks[i] {
			continue
		}
		for j := i; j > 0 && !utf8.RuneStart(text[j]); j-- {
			marks[j-1] = true
		}
		for j := i + 1; j < len(text) && !utf8.RuneStart(text[j]); j++ {
			marks[j] = true
		}
	}
	var b strings.Builder
	for i := 0; i < len(text); {
		if !marks[i] {
			b.WriteByte(text[i])
			i++
			continue
		}
		b.WriteString(redacted)
		for i < len(text) && marks[i] {
			i++
		}
	}
	return b.String()
}

// encodings lists the forms in which a provider may repeat s.
func encodings(s string) []string {
	forms := []string{s, url.QueryEscape(s), url.PathEscape(s), hex.EncodeToString([]byte(s))}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.URLEncoding} {
		forms = append(forms, enc.EncodeToString([]byte(s)))
		forms = append(forms, base64Cores(enc, []byte(s))...)
	}
	return forms
}

// base64Cores returns, for each of the three alignments s can have inside
// a longer encoded input ("user:" + s, say), the characters of the
// encoding that depend on s alone: the groups shared with the unknown
// bytes before and after are left out.
func base64Cores(enc *base64.Encoding, s []byte) []string {
	var out []string
	for pad := range 3 {
		buf := make([]byte, pad+len(s))
		copy(buf[pad:], s)
		e := enc.WithPadding(base64.NoPadding).EncodeToString(buf)
		start := 0
		if pad > 0 {
			start = 4 // the group holding the unknown leading bytes
		}
		end := 4 * (len(buf) / 3) // full groups only
		if end-start >= minRun {
			out = append(out, e[start:end])
		}
	}
	return out
}

func stripSpace(s string) string {
	if strings.IndexFunc(s, func(r rune) bool { return r < utf8.RuneSelf && isSpace(byte(r)) }) < 0 {
		return s
	}
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		if !isSpace(s[i]) {
			b = append(b, s[i])
		}
	}
	return string(b)
}

func fold(s string) string {
	b := []byte(s)
	for i := range b {
		b[i] = lower(b[i])
	}
	return string(b)
}

func lower(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

func isSpace(c byte) bool {
	switch c {
	case ' ', '\t', '\n', '\r', '\v', '\f':
		return true
	}
	return false
}
