package catalog

import (
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"
)

// KeyVar is the placeholder for the secret itself. It is only allowed in
// the api_key section and is left in place by Resolve: the key is applied
// per request and never stored in a resolved definition.
const KeyVar = "key"

var placeholderName = regexp.MustCompile(`^[a-z0-9_]+$`)

// token is one piece of a parsed template: literal text or a placeholder.
type token struct {
	text string
	name string // set for placeholders
	pos  int    // byte offset of the placeholder's "{" in the template
}

// parseTemplate splits a template into literals and {name} placeholders.
// Braces are never literal, so a typo such as "{subdomain" or "{Sub}" is
// an error rather than text silently sent to a provider.
func parseTemplate(t string) ([]token, error) {
	var out []token
	for i := 0; i < len(t); {
		open := strings.IndexAny(t[i:], "{}")
		if open < 0 {
			out = append(out, token{text: t[i:]})
			break
		}
		open += i
		if t[open] == '}' {
			return nil, fmt.Errorf("unmatched %q at offset %d", "}", open)
		}
		if open > i {
			out = append(out, token{text: t[i:open]})
		}
		end := strings.IndexByte(t[open:], '}')
		if end < 0 {
			return nil, fmt.Errorf("unclosed %q at offset %d", "{", open)
		}
		name := t[open+1 : open+end]
		if !placeholderName.MatchString(name) {
			return nil, fmt.Errorf("bad placeholder %q at offset %d: names are lowercase letters, digits and _", "{"+name+"}", open)
		}
		out = append(out, token{name: name, pos: open})
		i = open + end + 1
	}
	return out, nil
}

// placeholders returns the names used in a template, in order.
func placeholders(t string) ([]string, error) {
	toks, err := parseTemplate(t)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, tk := range toks {
		if tk.name != "" {
			names = append(names, tk.name)
		}
	}
	return names, nil
}

// ErrUnknownPlaceholder is returned by Expand for a {name} with no value.
var ErrUnknownPlaceholder = errors.New("unknown placeholder")

// Expand replaces each {name} in template with vars[name]. A placeholder
// without a value, or a stray brace, is an error: a half-expanded URL or
// header must never reach a provider. Values are inserted verbatim and not
// scanned again, so a value containing braces cannot inject placeholders.
func Expand(template string, vars map[string]string) (string, error) {
	return expand(template, vars, "")
}

// expand is Expand, leaving the placeholder named keep ({key}, or
// {public_key_fp} in assertion claims) in place for later; "" keeps none.
func expand(template string, vars map[string]string, keep string) (string, error) {
	toks, err := parseTemplate(template)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	for _, tk := range toks {
		if tk.name == "" {
			b.WriteString(tk.text)
			continue
		}
		if keep != "" && tk.name == keep {
			b.WriteString("{" + keep + "}")
			continue
		}
		v, ok := vars[tk.name]
		if !ok {
			return "", fmt.Errorf("%w {%s}", ErrUnknownPlaceholder, tk.name)
		}
		b.WriteString(v)
	}
	return b.String(), nil
}

func sprintf(format string, args ...any) string { return fmt.Sprintf(format, args...) }

func errorf(format string, args ...any) error { return fmt.Errorf(format, args...) }

func sortedKeys[V any](m map[string]V) []string { return slices.Sorted(maps.Keys(m)) }
