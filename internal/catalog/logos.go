package catalog

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"regexp"
	"strings"
	"unicode"
)

// logoFS holds the brand marks written by gen-logos (simple-icons,
// CC0-1.0; see logos/README.md), one logos/<provider>.svg per catalog
// provider that has one.
//
//go:embed logos
var logoFS embed.FS

// Logo is a provider's mark as Storm serves it.
type Logo struct {
	SVG []byte
	// Hash is a short hex SHA-256 of SVG: it versions the logo's URL so
	// the answer can be cached as immutable.
	Hash string
	// Brand is set for a brand mark, unset for a generated monogram.
	Brand bool
}

// Logo returns the logo served for a provider name: its brand mark when
// the catalog has one, else a monogram. A name not in the catalog gets
// the monogram an operator's provider of that name would get, so the
// public logo route tells no one which names an operator defined; ok is
// false only for a string that cannot be a provider name.
func (c *Catalog) Logo(name string) (Logo, bool) {
	if l, ok := c.logos[name]; ok {
		return l, true
	}
	if len(name) > 64 || !nameRe.MatchString(name) {
		return Logo{}, false
	}
	return newLogo(Monogram(name, name), false), true
}

// logoFor builds the logo of p. An operator's provider (origin set) with
// a name of its own gets a monogram of its name, never of its display
// name: see Logo.
func logoFor(p Provider, origin string) Logo {
	if b, err := logoFS.ReadFile("logos/" + p.Name + ".svg"); err == nil {
		return newLogo(b, true)
	}
	if origin != "" {
		return newLogo(Monogram(p.Name, p.Name), false)
	}
	return newLogo(Monogram(p.DisplayName, p.Name), false)
}

func newLogo(svg []byte, brand bool) Logo {
	sum := sha256.Sum256(svg)
	return Logo{SVG: svg, Hash: hex.EncodeToString(sum[:8]), Brand: brand}
}

// monogramColors are backgrounds white text reads well on (WCAG AA for
// large text, 3:1 or better).
var monogramColors = []string{"#1D4ED8", "#7C3AED", "#BE185D", "#B91C1C", "#C2410C", "#A16207",
	"#15803D", "#0F766E", "#0E7490", "#4338CA", "#6D28D9", "#374151"}

// Monogram draws the initials of a display name (up to two letters or
// digits) on a rounded square whose color depends on the provider name,
// for providers without a brand mark. The name and initials are escaped;
// the result passes CheckLogoSVG.
func Monogram(displayName, name string) []byte {
	var initials []rune
	for _, w := range strings.FieldsFunc(displayName, func(r rune) bool {
		return !unicode.IsLetter(r) && !unicode.IsDigit(r)
	}) {
		initials = append(initials, unicode.ToUpper([]rune(w)[0]))
		if len(initials) == 2 {
			break
		}
	}
	if len(initials) == 0 {
		initials = []rune{'?'}
	}
	h := fnv.New32a()
	io.WriteString(h, name)
	color := monogramColors[h.Sum32()%uint32(len(monogramColors))]
	size := "11"
	if len(initials) == 1 {
		size = "13"
	}
	var b bytes.Buffer
	b.WriteString(`<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 24 24" role="img"><title>`)
	xml.EscapeText(&b, []byte(displayName))
	fmt.Fprintf(&b, `</title><rect width="24" height="24" rx="5" fill="%s"/>`, color)
	fmt.Fprintf(&b, `<text x="12" y="16" text-anchor="middle" font-family="system-ui,sans-serif" font-size="%s" font-weight="600" fill="#FFFFFF">`, size)
	xml.EscapeText(&b, []byte(string(initials)))
	b.WriteString(`</text></svg>`)
	return b.Bytes()
}

// Logo SVGs may hold only these elements and attributes: enough for a
// simple-icons mark (one path) or a monogram, nothing that can run a
// script, load anything or refer to another document.
var (
	logoElements = map[string][]string{
		"svg":   {"xmlns", "viewBox", "role"},
		"title": {},
		"path":  {"d", "fill"},
		"rect":  {"width", "height", "rx", "fill"},
		"text":  {"x", "y", "text-anchor", "font-family", "font-size", "font-weight", "fill"},
	}
	logoAttrValue = map[string]*regexp.Regexp{
		"xmlns":       regexp.MustCompile(`^http://www\.w3\.org/2000/svg$`),
		"viewBox":     regexp.MustCompile(`^0 0 24 24$`),
		"role":        regexp.MustCompile(`^img$`),
		"d":           regexp.MustCompile(`^[MmLlHhVvCcSsQqTtAaZz0-9.,eE+\- \n]+$`),
		"fill":        regexp.MustCompile(`^#[0-9A-Fa-f]{6}$`),
		"width":       regexp.MustCompile(`^[0-9]{1,3}$`),
		"height":      regexp.MustCompile(`^[0-9]{1,3}$`),
		"rx":          regexp.MustCompile(`^[0-9]{1,3}$`),
		"x":           regexp.MustCompile(`^[0-9]{1,3}$`),
		"y":           regexp.MustCompile(`^[0-9]{1,3}$`),
		"text-anchor": regexp.MustCompile(`^middle$`),
		"font-family": regexp.MustCompile(`^[a-z,-]{1,64}$`),
		"font-size":   regexp.MustCompile(`^[0-9]{1,2}$`),
		"font-weight": regexp.MustCompile(`^[0-9]{3}$`),
	}
)

// maxLogoSize bounds a logo file.
const maxLogoSize = 32 << 10

// CheckLogoSVG reports whether svg is a logo Storm may serve: one <svg>
// root in the SVG namespace with a 24×24 view box and a title, made only
// of the elements and attributes above with well-formed values. No
// script, style, link, entity or processing instruction gets through,
// whatever the file's origin.
func CheckLogoSVG(svg []byte) error {
	if len(svg) > maxLogoSize {
		return fmt.Errorf("logo: larger than %d bytes", maxLogoSize)
	}
	dec := xml.NewDecoder(bytes.NewReader(svg))
	dec.Strict = true
	depth, roots, titles := 0, 0, 0
	var stack []string
	for {
		tok, err := dec.RawToken()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("logo: %w", err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			name := t.Name.Local
			allowed, ok := logoElements[name]
			switch {
			case !ok || t.Name.Space != "":
				return fmt.Errorf("logo: element <%s> is not allowed", name)
			case depth == 0 && name != "svg", depth > 0 && name == "svg":
				return errors.New("logo: want exactly one <svg> root")
			case depth > 1:
				return fmt.Errorf("logo: <%s> nested in <%s>", name, stack[len(stack)-1])
			}
			if name == "svg" {
				roots++
			}
			if name == "title" {
				titles++
			}
			for _, a := range t.Attr {
				re := logoAttrValue[a.Name.Local]
				switch {
				case a.Name.Space != "" || !containsString(allowed, a.Name.Local):
					return fmt.Errorf("logo: attribute %s on <%s> is not allowed", a.Name.Local, name)
				case re == nil || !re.MatchString(a.Value):
					return fmt.Errorf("logo: attribute %s=%q on <%s> is not allowed", a.Name.Local, a.Value, name)
				}
			}
			stack = append(stack, name)
			depth++
		case xml.EndElement:
			depth--
			stack = stack[:len(stack)-1]
		case xml.CharData:
			if depth == 0 && len(bytes.TrimSpace(t)) > 0 {
				return errors.New("logo: text outside <svg>")
			}
			if depth > 0 && len(bytes.TrimSpace(t)) > 0 && stack[len(stack)-1] != "title" && stack[len(stack)-1] != "text" {
				return fmt.Errorf("logo: text inside <%s>", stack[len(stack)-1])
			}
		case xml.ProcInst, xml.Directive, xml.Comment:
			return errors.New("logo: processing instructions, directives and comments are not allowed")
		}
	}
	switch {
	case roots != 1:
		return errors.New("logo: want exactly one <svg> root")
	case titles != 1:
		return errors.New("logo: want exactly one <title>")
	}
	return nil
}

func containsString(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
