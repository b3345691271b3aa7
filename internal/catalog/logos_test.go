package catalog

import (
	"io/fs"
	"strings"
	"testing"
)

// TestLogos: every provider has a logo Storm may serve, the embedded
// brand marks belong to catalog providers (none left behind by a rename),
// and most providers have a brand mark.
func TestLogos(t *testing.T) {
	c := mustLoad(t)
	brands := 0
	for _, p := range c.List() {
		l, ok := c.Logo(p.Name)
		if !ok {
			t.Errorf("%s: no logo", p.Name)
			continue
		}
		if err := CheckLogoSVG(l.SVG); err != nil {
			t.Errorf("%s: %v", p.Name, err)
		}
		if len(l.Hash) != 16 {
			t.Errorf("%s: hash %q", p.Name, l.Hash)
		}
		if l.Brand {
			brands++
		}
	}
	files, _ := fs.Glob(logoFS, "logos/*.svg")
	for _, f := range files {
		name := strings.TrimSuffix(strings.TrimPrefix(f, "logos/"), ".svg")
		if _, ok := c.Get(name); !ok {
			t.Errorf("%s: a logo for no catalog provider (run gen-logos)", f)
		}
	}
	if brands != len(files) || brands < 150 {
		t.Errorf("%d brand marks (%d files), want at least 150", brands, len(files))
	}
	t.Logf("%d brand marks, %d monograms", brands, len(c.List())-brands)
}

func TestMonogram(t *testing.T) {
	for _, tc := range []struct{ display, initials string }{
		{"Acme Cloud", ">AC<"}, {"monday.com", ">MC<"}, {"xAI", ">X<"}, {"1Password Events API", ">1E<"},
		{"***", ">?<"}, {`<script>alert("x")</script> & Co`, ">SA<"},
	} {
		svg := Monogram(tc.display, "acme")
		if err := CheckLogoSVG(svg); err != nil {
			t.Errorf("%q: %v\n%s", tc.display, err, svg)
		}
		if !strings.Contains(string(svg), tc.initials) {
			t.Errorf("%q: want initials %s in %s", tc.display, tc.initials, svg)
		}
		if strings.Contains(string(svg), "<script") {
			t.Errorf("%q: unescaped markup in %s", tc.display, svg)
		}
	}
	if string(Monogram("Acme", "acme")) != string(Monogram("Acme", "acme")) {
		t.Error("monogram is not deterministic")
	}
}

// TestCheckLogoSVGRejectsActiveContent: nothing that can run, load or
// refer to anything passes, even though logos are served with a CSP of
// default-src 'none'.
func TestCheckLogoSVGRejectsActiveContent(t *testing.T) {
	const head = `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 24 24" role="img"><title>A</title>`
	ok := head + `<path fill="#000000" d="M0 0h24v24H0z"/></svg>`
	if err := CheckLogoSVG([]byte(ok)); err != nil {
		t.Fatalf("a plain logo was refused: %v", err)
	}
	for name, svg := range map[string]string{
		"script":          head + `<script>alert(1)</script></svg>`,
		"event handler":   head + `<path onload="alert(1)" d="M0 0"/></svg>`,
		"link":            head + `<a href="https://evil.example"><path d="M0 0"/></a></svg>`,
		"use href":        head + `<use href="https://evil.example/x.svg#a"/></svg>`,
		"xlink":           `<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" viewBox="0 0 24 24" role="img"><title>A</title></svg>`,
		"style":           head + `<style>*{background:url(https://evil.example)}</style></svg>`,
		"style attribute": head + `<path style="fill:url(https://evil.example)" d="M0 0"/></svg>`,
		"fill url":        head + `<path fill="url(https://evil.example)" d="M0 0"/></svg>`,
		"foreignObject":   head + `<foreignObject><div/></foreignObject></svg>`,
		"image":           head + `<image href="https://evil.example/x.png"/></svg>`,
		"doctype entity":  `<!DOCTYPE svg [<!ENTITY x "y">]>` + ok,
		"comment":         head + `<!-- x --><path d="M0 0"/></svg>`,
		"processing":      `<?xml-stylesheet href="https://evil.example/x.css"?>` + ok,
		"two roots":       ok + ok,
		"nested":          head + `<path d="M0 0"><title>x</title></path></svg>`,
		"no title":        `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 24 24" role="img"><path d="M0 0"/></svg>`,
		"other namespace": `<svg xmlns="http://www.w3.org/1999/xhtml" viewBox="0 0 24 24" role="img"><title>A</title></svg>`,
		"path letters":    head + `<path d="javascript:alert(1)"/></svg>`,
		"not xml":         `<svg`,
		"too large":       head + `<path d="M` + strings.Repeat("0 ", 20000) + `"/></svg>`,
	} {
		if err := CheckLogoSVG([]byte(svg)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
