package catalog

import (
	"strings"

	"github.com/stormcreds/storm/internal/suggest"
)

// Find returns a copy of the provider a person named: the exact name,
// else the one whose name matches ignoring case ("Stripe", "GITHUB").
func (c *Catalog) Find(name string) (Provider, bool) {
	if p, ok := c.Get(name); ok {
		return p, true
	}
	for _, n := range c.sorted {
		if strings.EqualFold(n, name) {
			return c.Get(n)
		}
	}
	return Provider{}, false
}

// Suggest returns the provider name nearest to an unknown one (a typo
// such as "strip" for "stripe"), or "" when none is near.
func (c *Catalog) Suggest(name string) string {
	return suggest.Closest(name, c.sorted)
}

// UnknownProvider is the message for a provider name the catalog does
// not hold, with the nearest name when there is one.
func (c *Catalog) UnknownProvider(name string) string {
	msg := "unknown provider " + quote(name)
	if s := c.Suggest(name); s != "" {
		msg += "; did you mean " + s + "?"
	}
	return msg
}

// quote shows a user-typed name, cut short so a pasted blob stays one
// line.
func quote(s string) string {
	if len(s) > 64 {
		s = s[:64] + "…"
	}
	return `"` + strings.Map(func(r rune) rune {
		if r < ' ' || r == 0x7f {
			return ' '
		}
		return r
	}, s) + `"`
}
