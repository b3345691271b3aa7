package catalog

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"path"
	"regexp"
	"slices"

	"gopkg.in/yaml.v3"
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
}

// Load parses and validates the embedded provider files.
func Load() (*Catalog, error) {
	sub, err := fs.Sub(embedded, "providers")
	if err != nil {
		return nil, fmt.Errorf("catalog: %w", err)
	}
	return LoadFS(sub)
}

// LoadFS parses and validates every *.yaml file at the root of fsys, one
// provider per file. All problems in all files are reported together,
// each prefixed with its file name.
func LoadFS(fsys fs.FS) (*Catalog, error) {
	files, err := fs.Glob(fsys, "*.yaml")
	if err != nil {
		return nil, fmt.Errorf("catalog: %w", err)
	}
	c := &Catalog{byName: map[string]Provider{}, patterns: map[string]*regexp.Regexp{}}
	fileOf := map[string]string{}
	var errs []error
	for _, file := range files {
		p, err := decodeFile(fsys, file)
		if err != nil {
			errs = append(errs, fmt.Errorf("catalog: %s: %w", file, err))
			continue
		}
		fe := &fieldErrors{}
		validateProvider(&p, fe, false)
		if prev, dup := fileOf[p.Name]; dup && p.Name != "" {
			fe.add("name", "duplicate provider name %q (also in %s)", p.Name, prev)
		}
		if err := fe.err(); err != nil {
			errs = append(errs, fmt.Errorf("catalog: %s: %w", file, err))
			continue
		}
		fileOf[p.Name] = file
		c.byName[p.Name] = p
		for _, f := range p.Config {
			if f.Pattern != "" {
				// validateProvider compiled it already, so this cannot fail.
				c.patterns[f.Pattern] = regexp.MustCompile(anchor(f.Pattern))
			}
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	c.sorted = slices.Sorted(maps.Keys(c.byName))
	return c, nil
}

// decodeFile reads exactly one provider document; unknown fields are
// errors so that a typo such as "verfy:" cannot silently drop a section.
func decodeFile(fsys fs.FS, file string) (Provider, error) {
	var p Provider
	b, err := fs.ReadFile(fsys, file)
	if err != nil {
		return p, err
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&p); err != nil {
		if errors.Is(err, io.EOF) {
			return p, errors.New("empty file")
		}
		return p, err
	}
	var extra any
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return p, fmt.Errorf("want one YAML document in %s", path.Base(file))
	}
	return p, nil
}

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
