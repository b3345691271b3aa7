package connect

import (
	"strings"
	"time"

	"github.com/stormcreds/storm/internal/catalog"
	"github.com/stormcreds/storm/internal/problem"
)

var timeZero time.Time

var methodNames = map[string]string{
	catalog.MethodAPIKey:         "API key",
	catalog.MethodOAuth2:         "OAuth 2.0",
	catalog.MethodServiceAccount: "service account",
	catalog.MethodBasic:          "user name and password",
	catalog.MethodOAuth1:         "OAuth 1.0a",
}

func methodName(m string) string {
	if n, ok := methodNames[m]; ok {
		return n
	}
	return m
}

// fieldsOf names the fields a problem is about, else its detail.
func fieldsOf(p *problem.Problem) string {
	if len(p.Errors) == 0 {
		return truncate(p.Detail, 200)
	}
	names := make([]string, 0, len(p.Errors))
	for _, e := range p.Errors {
		names = append(names, e.Field)
	}
	return strings.Join(names, ", ")
}

func joinWhy(why []string) string {
	if len(why) == 0 {
		return "it offers no auth method"
	}
	return strings.Join(why, "; ")
}

// truncate cuts s to n bytes, dropping control characters.
func truncate(s string, n int) string {
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return -1
		}
		return r
	}, s)
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}
