package secret

import (
	"encoding/base64"
	"encoding/hex"
	"net/url"
	"strings"
	"testing"
	"unicode/utf8"
)

const key = "sk_live_Q9x/7+Zr=aB3kP0w"

func TestScrubRemovesEchoedForms(t *testing.T) {
	spaced := func(s string, every int) string {
		var b strings.Builder
		for i, r := range s {
			if i > 0 && i%every == 0 {
				b.WriteByte(' ')
			}
			b.WriteRune(r)
		}
		return b.String()
	}
	cases := []struct{ name, form string }{
		{"verbatim", key},
		{"upper-cased", strings.ToUpper(key)},
		{"lower-cased", strings.ToLower(key)},
		{"truncated head", key[:8]},
		{"truncated tail", key[len(key)-9:]},
		{"middle", key[5:17]},
		{"query-escaped", url.QueryEscape(key)},
		{"path-escaped", url.PathEscape(key)},
		{"escaped, lower-case hex", strings.ToLower(url.QueryEscape(key))},
		{"hex", hex.EncodeToString([]byte(key))},
		{"HEX", strings.ToUpper(hex.EncodeToString([]byte(key)))},
		{"base64", base64.StdEncoding.EncodeToString([]byte(key))},
		{"base64 raw", base64.RawStdEncoding.EncodeToString([]byte(key))},
		{"base64url", base64.URLEncoding.EncodeToString([]byte(key))},
		{"base64url raw", base64.RawURLEncoding.EncodeToString([]byte(key))},
		{"basic auth header", "Basic " + base64.StdEncoding.EncodeToString([]byte("user:"+key))},
		{"base64 after 1 byte", base64.StdEncoding.EncodeToString([]byte("x" + key + "y"))},
		{"base64 after 2 bytes", base64.RawURLEncoding.EncodeToString([]byte("xy" + key + "tail"))},
		{"spaced every 4", spaced(key, 4)},
		{"spaced every char", spaced(key, 1)},
		{"split across lines", key[:10] + "\n  " + key[10:]},
		{"spaced and upper", spaced(strings.ToUpper(key), 3)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			text := `{"message":"Invalid API key: ` + c.form + `. Check your dashboard."}`
			got := Scrub(text, key)
			if !strings.Contains(got, "[redacted]") {
				t.Fatalf("nothing redacted in %q", got)
			}
			if !strings.HasPrefix(got, `{"message":"Invalid API key: `) || !strings.HasSuffix(got, `. Check your dashboard."}`) {
				t.Fatalf("surrounding text damaged: %q", got)
			}
			assertNoTrace(t, got, key)
		})
	}
}

func TestScrubLeavesOtherTextAlone(t *testing.T) {
	cases := []struct{ name, text string }{
		{"no secret", "invalid_grant: the refresh token expired"},
		{"seven characters of the key", "got sk_live and Q9x/7+Z"},
		{"empty", ""},
		{"unicode", "clé refusée — réessayez ✓"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := Scrub(c.text, key); got != c.text {
				t.Fatalf("Scrub changed %q to %q", c.text, got)
			}
		})
	}
	if got := Scrub("abc is short", "abc"); got != "abc is short" {
		t.Fatalf("a 3-character secret is matched: %q", got)
	}
}

func TestScrubShortSecretOnlyWhole(t *testing.T) {
	got := Scrub("pin 4821 and PIN 48 and %34821", "4821")
	if got != "pin [redacted] and PIN 48 and %3[redacted]" {
		t.Fatalf("got %q", got)
	}
	if got := Scrub("token AbCdEf", "abcdef"); got != "token [redacted]" {
		t.Fatalf("short secret, other case: %q", got)
	}
}

func TestScrubSeveralSecretsAndRuns(t *testing.T) {
	other := "refresh-token-0123456789"
	got := Scrub("a="+key+" b="+other+" c="+key[:9]+"x"+other[3:12], key, other, "", "ab")
	if strings.Count(got, "[redacted]") != 4 {
		t.Fatalf("got %q", got)
	}
	assertNoTrace(t, got, key)
	assertNoTrace(t, got, other)
}

func TestScrubKeepsUTF8Whole(t *testing.T) {
	s := "пароль-секрет-ключ"
	got := Scrub("x "+s[:10]+"ё", s)
	if !utf8.ValidString(got) {
		t.Fatalf("invalid UTF-8: %q", got)
	}
}

func TestExcerpt(t *testing.T) {
	long := strings.Repeat("word ", 100)
	cases := []struct {
		name, in, want string
		max            int
	}{
		{"short", "bad key", "bad key", 200},
		{"controls and spaces", "bad\x07\tkey\r\n  now", "bad key now", 200},
		{"cut", long, strings.TrimSpace(long[:20]) + "…", 20},
		{"secret scrubbed before the cut", "key " + key + " rest", "key [redacted]…", 14},
		{"secret cut in the middle does not survive", "the key " + key, "the key [redacted]", 200},
		{"invalid utf-8", "a\xffb", "a b", 200},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := Excerpt(c.in, c.max, key); got != c.want {
				t.Fatalf("Excerpt = %q, want %q", got, c.want)
			}
		})
	}
	if n := utf8.RuneCountInString(Excerpt(strings.Repeat("é", 500), 200)); n != 201 {
		t.Fatalf("excerpt of 500 runes has %d runes", n)
	}
}

// assertNoTrace fails when out still holds a run of minRun characters of
// any form of s (ignoring case and whitespace).
func assertNoTrace(t *testing.T, out, s string) {
	t.Helper()
	probe := fold(stripSpace(strings.ReplaceAll(out, redacted, "[]")))
	for _, f := range encodings(s) {
		f = fold(stripSpace(f))
		for i := 0; i+minRun <= len(f); i++ {
			if g := f[i : i+minRun]; !strings.ContainsAny(g, "[]") && strings.Contains(probe, g) {
				t.Fatalf("%q still holds %q (from %q)", out, g, f)
			}
		}
	}
}

func FuzzScrub(f *testing.F) {
	f.Add("Invalid key ", key, " given", 0)
	f.Add("Basic ", "user:password-123", "", 5)
	f.Add("", "short", "", 1)
	f.Add("x", "пароль-секрет-ключ", "y", 3)
	f.Fuzz(func(t *testing.T, before, s, after string, form int) {
		forms := encodings(s)
		echoed := forms[uint(form)%uint(len(forms))]
		out := Scrub(before+echoed+after, s)
		if utf8.ValidString(before+echoed+after) && !utf8.ValidString(out) {
			t.Fatalf("invalid UTF-8 out of valid input: %q", out)
		}
		if len(stripSpace(s)) < minRun || strings.ContainsAny(s, "[]") {
			return
		}
		assertNoTrace(t, out, s)
	})
}
