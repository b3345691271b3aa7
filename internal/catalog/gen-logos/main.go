// Command gen-logos writes the brand marks of catalog providers into
// internal/catalog/logos from a pinned release of the simple-icons npm
// package (CC0-1.0). Run it from the repository root when providers are
// added or the pinned version changes:
//
//	go run ./internal/catalog/gen-logos
//
// It fetches the package with `npm pack` (or reads -tarball), refuses it
// unless its SHA-512 matches the pinned integrity, picks each provider's
// icon (logos/mapping.yaml, else a title match), rewrites it as a minimal
// SVG in the brand color, checks it with catalog.CheckLogoSVG, removes
// marks of providers that no longer have one, and rewrites
// logos/README.md. Providers without a mark get a monogram at run time.
// The output is committed, so builds need neither npm nor the network.
package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha512"
	"encoding/base64"
	"encoding/json"
	"encoding/xml"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/stormcreds/storm/internal/catalog"
)

// The pinned release. Change both together, after reading the release's
// changelog for removed icons.
const (
	version   = "16.37.0"
	integrity = "sha512-8mCJIhpMYOL9g13GW59EiL3sVXJnTEKGCTZFaekl9UQ3Qo0SwVjnLaJ82QiaH8BKBdouEDzrHMXIWh8cBIy48A=="
)

func main() {
	out := flag.String("out", "internal/catalog/logos", "directory to write the SVGs and README.md to")
	tarball := flag.String("tarball", "", "a simple-icons-"+version+".tgz already downloaded (default: npm pack)")
	flag.Parse()
	if err := run(*out, *tarball); err != nil {
		fmt.Fprintln(os.Stderr, "gen-logos:", err)
		os.Exit(1)
	}
}

type icon struct {
	Title   string `json:"title"`
	Slug    string `json:"slug"`
	Hex     string `json:"hex"`
	Source  string `json:"source"`
	Aliases struct {
		Aka []string `json:"aka"`
	} `json:"aliases"`
}

type mapping struct {
	Slugs    map[string]string `yaml:"slugs"`
	Monogram []string          `yaml:"monogram"`
}

func run(out, tarball string) error {
	tgz, err := fetch(tarball)
	if err != nil {
		return err
	}
	files, err := untar(tgz)
	if err != nil {
		return err
	}
	var icons []icon
	if err := json.Unmarshal(files["package/data/simple-icons.json"], &icons); err != nil {
		return fmt.Errorf("data/simple-icons.json: %w", err)
	}
	var m mapping
	mb, err := os.ReadFile(filepath.Join(out, "mapping.yaml"))
	if err != nil {
		return err
	}
	dec := yaml.NewDecoder(bytes.NewReader(mb))
	dec.KnownFields(true)
	if err := dec.Decode(&m); err != nil {
		return fmt.Errorf("mapping.yaml: %w", err)
	}
	cat, err := catalog.Load()
	if err != nil {
		return err
	}
	bySlug, byTitle := map[string]icon{}, map[string]icon{}
	for _, ic := range icons {
		bySlug[ic.Slug] = ic
		for _, t := range append([]string{ic.Title}, ic.Aliases.Aka...) {
			if _, taken := byTitle[norm(t)]; !taken {
				byTitle[norm(t)] = ic
			}
		}
	}
	written := map[string]bool{}
	var brands, monograms []string
	for _, p := range cat.List() {
		if p.Name == catalog.Custom {
			continue
		}
		ic, ok := pick(p, m, bySlug, byTitle)
		if !ok {
			monograms = append(monograms, p.Name)
			continue
		}
		raw, ok := files["package/icons/"+ic.Slug+".svg"]
		if !ok {
			return fmt.Errorf("%s: icons/%s.svg is not in the package", p.Name, ic.Slug)
		}
		svg, err := rewrite(raw, ic)
		if err != nil {
			return fmt.Errorf("%s (%s): %w", p.Name, ic.Slug, err)
		}
		if err := catalog.CheckLogoSVG(svg); err != nil {
			return fmt.Errorf("%s (%s): %w", p.Name, ic.Slug, err)
		}
		if err := os.WriteFile(filepath.Join(out, p.Name+".svg"), svg, 0o644); err != nil {
			return err
		}
		written[p.Name+".svg"] = true
		brands = append(brands, fmt.Sprintf("%s (%s)", p.Name, ic.Slug))
	}
	old, _ := filepath.Glob(filepath.Join(out, "*.svg"))
	for _, f := range old {
		if !written[filepath.Base(f)] {
			if err := os.Remove(f); err != nil {
				return err
			}
		}
	}
	if err := writeReadme(out, brands, monograms); err != nil {
		return err
	}
	fmt.Printf("simple-icons %s: %d brand marks, %d monograms\n", version, len(brands), len(monograms))
	return nil
}

// pick chooses p's icon: mapping.yaml first, then a title match.
func pick(p catalog.Provider, m mapping, bySlug, byTitle map[string]icon) (icon, bool) {
	if slices.Contains(m.Monogram, p.Name) {
		return icon{}, false
	}
	if s, ok := m.Slugs[p.Name]; ok {
		ic, ok := bySlug[s]
		return ic, ok
	}
	for _, cand := range []string{p.DisplayName, parenthetical.ReplaceAllString(p.DisplayName, ""), p.Name} {
		if ic, ok := byTitle[norm(cand)]; ok {
			return ic, true
		}
	}
	return icon{}, false
}

var (
	parenthetical = regexp.MustCompile(`\(.*?\)`)
	nonAlnum      = regexp.MustCompile(`[^a-z0-9]`)
)

func norm(s string) string { return nonAlnum.ReplaceAllString(strings.ToLower(s), "") }

// fetch returns the package tarball, checked against the pinned integrity.
func fetch(tarball string) ([]byte, error) {
	if tarball == "" {
		dir, err := os.MkdirTemp("", "gen-logos")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(dir)
		cmd := exec.Command("npm", "pack", "simple-icons@"+version, "--pack-destination", dir, "--silent")
		cmd.Stderr = os.Stderr
		if err := cmd.Run(); err != nil {
			return nil, fmt.Errorf("npm pack simple-icons@%s: %w", version, err)
		}
		tarball = filepath.Join(dir, "simple-icons-"+version+".tgz")
	}
	b, err := os.ReadFile(tarball)
	if err != nil {
		return nil, err
	}
	sum := sha512.Sum512(b)
	if got := "sha512-" + base64.StdEncoding.EncodeToString(sum[:]); got != integrity {
		return nil, fmt.Errorf("%s: integrity %s, want the pinned %s", tarball, got, integrity)
	}
	return b, nil
}

// untar reads the data file, the licence and the icons from the package.
func untar(tgz []byte) (map[string][]byte, error) {
	zr, err := gzip.NewReader(bytes.NewReader(tgz))
	if err != nil {
		return nil, err
	}
	tr := tar.NewReader(zr)
	files := map[string][]byte{}
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
		if h.Typeflag != tar.TypeReg || !(strings.HasPrefix(h.Name, "package/icons/") ||
			h.Name == "package/data/simple-icons.json" || h.Name == "package/LICENSE.md") {
			continue
		}
		b, err := io.ReadAll(io.LimitReader(tr, 8<<20))
		if err != nil {
			return nil, err
		}
		files[h.Name] = b
	}
	if files["package/data/simple-icons.json"] == nil {
		return nil, errors.New("the package has no data/simple-icons.json")
	}
	return files, nil
}

// rewrite keeps only an icon's path and title and paints it in the
// brand color (a dark gray for colors too light to see on white).
func rewrite(raw []byte, ic icon) ([]byte, error) {
	var doc struct {
		ViewBox string `xml:"viewBox,attr"`
		Paths   []struct {
			D string `xml:"d,attr"`
		} `xml:"path"`
	}
	if err := xml.Unmarshal(raw, &doc); err != nil {
		return nil, err
	}
	if doc.ViewBox != "0 0 24 24" || len(doc.Paths) != 1 {
		return nil, fmt.Errorf("want one path in a 0 0 24 24 view box")
	}
	color := "#" + strings.ToUpper(ic.Hex)
	if luminance(ic.Hex) > 0.8 {
		color = "#1F2937"
	}
	var b bytes.Buffer
	b.WriteString(`<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 24 24" role="img"><title>`)
	xml.EscapeText(&b, []byte(ic.Title))
	fmt.Fprintf(&b, `</title><path fill="%s" d="`, color)
	xml.EscapeText(&b, []byte(doc.Paths[0].D))
	b.WriteString(`"/></svg>` + "\n")
	return b.Bytes(), nil
}

// luminance is the WCAG relative luminance of an RRGGBB color.
func luminance(hex string) float64 {
	v, err := strconv.ParseUint(hex, 16, 32)
	if err != nil || len(hex) != 6 {
		return 0
	}
	ch := func(c uint64) float64 {
		s := float64(c) / 255
		if s <= 0.03928 {
			return s / 12.92
		}
		return math.Pow((s+0.055)/1.055, 2.4)
	}
	return 0.2126*ch(v>>16&0xff) + 0.7152*ch(v>>8&0xff) + 0.0722*ch(v&0xff)
}

func writeReadme(out string, brands, monograms []string) error {
	var b strings.Builder
	fmt.Fprintf(&b, `# Provider logos

Generated by `+"`go run ./internal/catalog/gen-logos`"+` from the npm package
[simple-icons](https://simpleicons.org) version %s (integrity %s).
Do not edit these files by hand: change mapping.yaml and run the generator.

Licence: simple-icons is released under CC0-1.0 (public domain dedication);
see https://github.com/simple-icons/simple-icons/blob/develop/LICENSE.md. The
marks remain the trademarks of their owners and are shown only to identify
each service (simple-icons' DISCLAIMER.md).

Each file is the icon's single path in the brand's color (a dark gray where
that color is too light to see on white), checked by catalog.CheckLogoSVG.
Providers without a mark here get a monogram drawn at run time
(catalog.Monogram).

%d brand marks: %s.

%d monograms: %s.
`, version, integrity, len(brands), strings.Join(brands, ", "), len(monograms), strings.Join(monograms, ", "))
	return os.WriteFile(filepath.Join(out, "README.md"), []byte(b.String()), 0o644)
}
