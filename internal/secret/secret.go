package secret

import (
	"fmt"
	"io"
	"log/slog"
)

const redacted = "[redacted]"

// String is a secret string. Its zero value is the empty secret. Printing,
// logging or JSON-encoding it yields "[redacted]"; Reveal returns the value.
type String string

// Reveal returns the secret itself. Call it only where the value must
// leave Storm: on an upstream request or in an /access response.
func (s String) Reveal() string { return string(s) }

// String implements fmt.Stringer without revealing the value.
func (s String) String() string { return redacted }

// GoString implements fmt.GoStringer without revealing the value.
func (s String) GoString() string { return redacted }

// Format implements fmt.Formatter so that every verb redacts.
func (s String) Format(f fmt.State, _ rune) { io.WriteString(f, redacted) }

// LogValue implements slog.LogValuer.
func (s String) LogValue() slog.Value { return slog.StringValue(redacted) }

// MarshalJSON implements json.Marshaler.
func (s String) MarshalJSON() ([]byte, error) { return []byte(`"` + redacted + `"`), nil }

// MarshalText implements encoding.TextMarshaler.
func (s String) MarshalText() ([]byte, error) { return []byte(redacted), nil }

// Zero overwrites b with zeros; use it on plaintext buffers after use.
func Zero(b []byte) {
	clear(b)
}
