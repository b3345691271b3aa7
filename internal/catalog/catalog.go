package catalog

import (
	"embed"
	"fmt"
	"io/fs"
	"maps"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
)

//go:embed providers/*.yaml
var embedded embed.FS

// Catalog is a validated, read-only set of providers. It is safe for
// concurrent use: nothing changes after Load, and Get and List hand out
// copies so a caller cannot edit the catalog through them.
type Catalog struct {
	byName   map[string]Provider
	sorted   []string
	patterns map[string]*regexp.Regexp // compiled ConfigField.Pattern, by source
	logos    map[string]Logo
	// origin names, for each provider an operator's file added or
	// replaced, that file; embedded providers have none.
	origin map[string]string
}

// Load parses and validates the embedded provider files.
func Load() (*Catalog, error) {
	return LoadDir("")
}

// LoadFS parses and validates every *.yaml file at the root of fsys, one
// provider per file. All problems in all files are reported together,
// each with its file name and line (see LoadError).
func LoadFS(fsys fs.FS) (*Catalog, error) {
	srcs, err := readSources(fsys, "")
	if err != nil {
		return nil, err
	}
	return build(srcs, nil)
}

func embeddedSources() ([]source, error) {
	sub, err := fs.Sub(embedded, "providers")
	if err != nil {
		return nil, fmt.Errorf("catalog: %w", err)
	}
	return readSources(sub, "")
}

// source is one provider definition file.
type source struct {
	file string // as reported in errors: a base name, or the operator's path
	data []byte
}

// readSources reads the *.yaml files at the root of fsys; dir prefixes
// the reported file names.
func readSources(fsys fs.FS, dir string) ([]source, error) {
	files, err := fs.Glob(fsys, "*.yaml")
	if err != nil {
		return nil, fmt.Errorf("catalog: %w", err)
	}
	out := make([]source, 0, len(files))
	for _, f := range files {
		b, err := fs.ReadFile(fsys, f)
		if err != nil {
			return nil, fmt.Errorf("catalog: %w", err)
		}
		name := f
		if dir != "" {
			name = filepath.Join(dir, f)
		}
		out = append(out, source{file: name, data: b})
	}
	return out, nil
}

// build validates base (the embedded catalog, or a test's files) and
// then overlay (an operator's files), which may add providers or replace
// base ones by name. Every problem is reported, by file and line.
func build(base, overlay []source) (*Catalog, error) {
	c := &Catalog{byName: map[string]Provider{}, patterns: map[string]*regexp.Regexp{},
		logos: map[string]Logo{}, origin: map[string]string{}}
	le := &LoadError{}
	for i, set := range [][]source{base, overlay} {
		fileOf := map[string]string{}
		for _, src := range set {
			p, ok := parseSource(src, le)
			if !ok {
				continue
			}
			switch prev, dup := fileOf[p.Name]; {
			case dup:
				le.add(src.file, p.line("name"), "name", fmt.Sprintf("duplicate provider name %q (also in %s)", p.Name, prev))
				continue
			case i == 1 && p.Name == Custom:
				le.add(src.file, p.line("name"), "name", "the custom provider cannot be redefined: it takes every setting from each integration")
				continue
			}
			fileOf[p.Name] = src.file
			if i == 1 {
				c.origin[p.Name] = src.file
			}
			c.byName[p.Name] = p.Provider
		}
	}
	if len(le.Problems) > 0 {
		slices.SortStableFunc(le.Problems, func(a, b Problem) int {
			if a.File != b.File {
				return strings.Compare(a.File, b.File)
			}
			return a.Line - b.Line
		})
		return nil, le
	}
	for name, p := range c.byName {
		for _, f := range p.Config {
			if f.Pattern != "" {
				// validateProvider compiled it already, so this cannot fail.
				c.patterns[f.Pattern] = regexp.MustCompile(anchor(f.Pattern))
			}
		}
		c.logos[name] = logoFor(p, c.origin[name])
	}
	c.sorted = slices.Sorted(maps.Keys(c.byName))
	return c, nil
}

// Origin names the operator's file that added or replaced a provider; ""
// for an embedded one.
func (c *Catalog) Origin(name string) string { return c.origin[name] }

// Get returns a copy of the named provider.
func (c *Catalog) Get(name string) (Provider, bool) {
	p, ok := c.byName[name]
	if !ok {
		return Provider{}, false
	}
	return p.clone(), true
}

// List returns copies of all providers, sorted by name.
func (c *Catalog) List() []Provider {
	out := make([]Provider, 0, len(c.sorted))
	for _, n := range c.sorted {
		out = append(out, c.byName[n].clone())
	}
	return out
}

// Supports reports whether the provider offers an auth method.
func (p Provider) Supports(method string) bool {
	return slices.Contains(p.AuthMethods, method)
}

// clone deep-copies p so callers can never edit the catalog's entry.
func (p Provider) clone() Provider {
	q := p
	q.AuthMethods = slices.Clone(p.AuthMethods)
	q.Categories = slices.Clone(p.Categories)
	q.Config = slices.Clone(p.Config)
	if p.APIKey != nil {
		k := *p.APIKey
		k.Headers = maps.Clone(p.APIKey.Headers)
		k.Query = maps.Clone(p.APIKey.Query)
		q.APIKey = &k
	}
	if p.Verify != nil {
		v := *p.Verify
		v.Expect = slices.Clone(p.Verify.Expect)
		q.Verify = &v
	}
	if p.OAuth2 != nil {
		o := *p.OAuth2
		o.Scopes = slices.Clone(p.OAuth2.Scopes)
		o.ExtraAuthorizeParams = maps.Clone(p.OAuth2.ExtraAuthorizeParams)
		o.ExtraTokenParams = maps.Clone(p.OAuth2.ExtraTokenParams)
		o.Headers = maps.Clone(p.OAuth2.Headers)
		q.OAuth2 = &o
	}
	if p.ServiceAccount != nil {
		s := *p.ServiceAccount
		s.Scopes = slices.Clone(p.ServiceAccount.Scopes)
		s.ExtraTokenParams = maps.Clone(p.ServiceAccount.ExtraTokenParams)
		s.Claims = maps.Clone(p.ServiceAccount.Claims)
		s.Headers = maps.Clone(p.ServiceAccount.Headers)
		s.Requires = slices.Clone(p.ServiceAccount.Requires)
		if v := p.ServiceAccount.Verify; v != nil {
			v2 := *v
			v2.Expect = slices.Clone(v.Expect)
			s.Verify = &v2
		}
		q.ServiceAccount = &s
	}
	if p.Basic != nil {
		b := *p.Basic
		b.Headers = maps.Clone(p.Basic.Headers)
		q.Basic = &b
	}
	if p.OAuth1 != nil {
		o := *p.OAuth1
		o.Headers = maps.Clone(p.OAuth1.Headers)
		q.OAuth1 = &o
	}
	q.Exchange = p.Exchange.clone()
	return q
}

// anchor makes a pattern match the whole value whatever anchors its author
// wrote: a pattern is a promise about the entire value.
func anchor(pattern string) string { return `^(?:` + pattern + `)$` }
