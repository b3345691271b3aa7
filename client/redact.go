package client

import (
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"
)

// field is one name/value pair of a redacted rendering. Secret values are
// replaced by a marker; empty values are left out.
type field struct {
	name, value string
	secret      bool
}

func render(typ string, fields []field) string {
	var b strings.Builder
	b.WriteString("client.")
	b.WriteString(typ)
	b.WriteString("{")
	n := 0
	for _, f := range fields {
		if f.value == "" {
			continue
		}
		if n > 0 {
			b.WriteString(", ")
		}
		n++
		b.WriteString(f.name)
		b.WriteString(": ")
		if f.secret {
			b.WriteString(redacted)
		} else {
			b.WriteString(f.value)
		}
	}
	b.WriteString("}")
	return b.String()
}

func logValue(fields []field) slog.Value {
	attrs := make([]slog.Attr, 0, len(fields))
	for _, f := range fields {
		if f.value == "" {
			continue
		}
		v := f.value
		if f.secret {
			v = redacted
		}
		attrs = append(attrs, slog.String(f.name, v))
	}
	return slog.GroupValue(attrs...)
}

func timeString(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

func (a Access) fields() []field {
	return []field{
		{"type", a.Type, false},
		{"access_token", a.AccessToken, true},
		{"expires_at", timeString(a.ExpiresAt), false},
		{"api_key", a.APIKey, true},
		{"in", a.In, false},
		{"name", a.Name, false},
		{"prefix", a.Prefix, false},
		{"access_key_id", a.AccessKeyID, false},
		{"secret_access_key", a.SecretAccessKey, true},
		{"session_token", a.SessionToken, true},
		{"username", a.Username, false},
		{"password", a.Password, true},
		{"consumer_key", a.ConsumerKey, false},
		{"consumer_secret", a.ConsumerSecret, true},
		{"token", a.Token, true},
		{"token_secret", a.TokenSecret, true},
		{"signature_method", a.SignatureMethod, false},
		{"realm", a.Realm, false},
	}
}

// String describes a without its secrets.
func (a Access) String() string { return render("Access", a.fields()) }

// GoString is like String, so %#v cannot print the secrets either.
func (a Access) GoString() string { return a.String() }

// Format prints String for every verb, so not even %d or %x can print
// a secret field.
func (a Access) Format(f fmt.State, verb rune) { io.WriteString(f, a.String()) }

// LogValue makes log/slog log a without its secrets.
func (a Access) LogValue() slog.Value { return logValue(a.fields()) }

func (t Token) fields() []field {
	return []field{
		{"id", t.ID, false},
		{"token", t.Token, true},
		{"role", t.Role, false},
		{"workspace", t.Workspace, false},
	}
}

// String describes t without the token itself.
func (t Token) String() string { return render("Token", t.fields()) }

// GoString is like String, so %#v cannot print the token either.
func (t Token) GoString() string { return t.String() }

// Format prints String for every verb, so not even %d or %x can print
// a secret field.
func (t Token) Format(f fmt.State, verb rune) { io.WriteString(f, t.String()) }

// LogValue makes log/slog log t without the token itself.
func (t Token) LogValue() slog.Value { return logValue(t.fields()) }

func (w Webhook) fields() []field {
	return []field{
		{"id", w.ID, false},
		{"secret", w.Secret, true},
		{"url", w.URL, false},
		{"events", strings.Join(w.Events, ","), false},
	}
}

// String describes w without its signing secret.
func (w Webhook) String() string { return render("Webhook", w.fields()) }

// GoString is like String, so %#v cannot print the secret either.
func (w Webhook) GoString() string { return w.String() }

// Format prints String for every verb, so not even %d or %x can print
// a secret field.
func (w Webhook) Format(f fmt.State, verb rune) { io.WriteString(f, w.String()) }

// LogValue makes log/slog log w without its signing secret.
func (w Webhook) LogValue() slog.Value { return logValue(w.fields()) }

var (
	_ slog.LogValuer = Access{}
	_ slog.LogValuer = Token{}
	_ slog.LogValuer = Webhook{}
	_ fmt.Formatter  = Access{}
	_ fmt.Formatter  = Token{}
	_ fmt.Formatter  = Webhook{}
)
