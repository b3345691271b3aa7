package catalog

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// Limits on an operator's provider directory.
const (
	MaxProviderFiles    = 1000
	MaxProviderFileSize = 256 << 10
)

// Problem is one thing wrong with a provider definition file.
type Problem struct {
	File  string `json:"file"`
	Line  int    `json:"line,omitempty"` // 0 when not known
	Field string `json:"field,omitempty"`
	// Message never quotes a secret: definition files hold none.
	Message string `json:"message"`
}

func (p Problem) String() string {
	var b strings.Builder
	b.WriteString(p.File)
	if p.Line > 0 {
		b.WriteString(":" + strconv.Itoa(p.Line))
	}
	b.WriteString(": ")
	if p.Field != "" {
		b.WriteString(p.Field + ": ")
	}
	b.WriteString(p.Message)
	return b.String()
}

// LoadError lists every problem found in a set of provider files, each
// as file:line: field: message, so an operator fixes them in one pass.
type LoadError struct {
	Problems []Problem
}

func (e *LoadError) Error() string {
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		lines[i] = p.String()
	}
	return "catalog: " + strings.Join(lines, "\n")
}

func (e *LoadError) add(file string, line int, field, msg string) {
	e.Problems = append(e.Problems, Problem{File: file, Line: line, Field: field, Message: msg})
}

// parsed is a provider and the YAML tree it came from, for line numbers.
type parsed struct {
	Provider
	root *yaml.Node
}

// line returns the line of a field path such as "oauth2.scopes[1]" or
// "api_key.headers.X-Api-Version", or of its closest existing parent.
func (p parsed) line(field string) int { return nodeLine(p.root, field) }

// parseSource decodes and validates one definition file, reporting its
// problems to le; ok is false when there were any.
func parseSource(src source, le *LoadError) (parsed, bool) {
	n := len(le.Problems)
	var root yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(src.data))
	if err := dec.Decode(&root); err != nil {
		if errors.Is(err, io.EOF) {
			le.add(src.file, 0, "", "empty file")
		} else {
			addYAMLError(le, src.file, err)
		}
		return parsed{}, false
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		le.add(src.file, extra.Line, "", "want one YAML document per file (one provider)")
		return parsed{}, false
	}
	// Decode again with unknown fields refused: a typo such as "verfy:"
	// must not silently drop a section.
	var p Provider
	strict := yaml.NewDecoder(bytes.NewReader(src.data))
	strict.KnownFields(true)
	if err := strict.Decode(&p); err != nil {
		addYAMLError(le, src.file, err)
		return parsed{}, false
	}
	out := parsed{Provider: p, root: &root}
	fe := &fieldErrors{}
	validateProvider(&out.Provider, fe, false)
	for _, e := range fe.list {
		le.add(src.file, out.line(e.Field), e.Field, e.Message)
	}
	return out, len(le.Problems) == n
}

var yamlLine = regexp.MustCompile(`^line ([0-9]+): (.*)$`)

// addYAMLError turns a yaml.v3 error into problems with line numbers.
func addYAMLError(le *LoadError, file string, err error) {
	var msgs []string
	var te *yaml.TypeError
	if errors.As(err, &te) {
		msgs = te.Errors
	} else {
		msgs = []string{strings.TrimPrefix(err.Error(), "yaml: ")}
	}
	for _, m := range msgs {
		if g := yamlLine.FindStringSubmatch(m); g != nil {
			line, _ := strconv.Atoi(g[1])
			le.add(file, line, "", g[2])
			continue
		}
		le.add(file, 0, "", m)
	}
}

// nodeLine finds the line of a field path in a YAML tree: keys are
// matched longest first (a header name may hold dots), [i] indexes a
// sequence. A path that does not exist in the file (a required field
// left out) gets the line of its closest parent.
func nodeLine(n *yaml.Node, field string) int {
	if n == nil {
		return 0
	}
	if n.Kind == yaml.DocumentNode && len(n.Content) > 0 {
		n = n.Content[0]
	}
	last := n.Line // the line of the deepest part of the path found so far
	rest := field
	for rest != "" {
		switch {
		case n.Kind == yaml.SequenceNode && strings.HasPrefix(rest, "["):
			end := strings.IndexByte(rest, ']')
			i, err := strconv.Atoi(rest[1:max(end, 1)])
			if end < 0 || err != nil || i < 0 || i >= len(n.Content) {
				return last
			}
			n, rest = n.Content[i], strings.TrimPrefix(rest[end+1:], ".")
			last = n.Line
		case n.Kind == yaml.MappingNode:
			var key, value *yaml.Node
			for i := 0; i+1 < len(n.Content); i += 2 {
				k := n.Content[i].Value
				if (rest == k || strings.HasPrefix(rest, k+".") || strings.HasPrefix(rest, k+"[")) &&
					(key == nil || len(k) > len(key.Value)) {
					key, value = n.Content[i], n.Content[i+1]
				}
			}
			if key == nil {
				return last
			}
			rest = strings.TrimPrefix(strings.TrimPrefix(rest, key.Value), ".")
			n, last = value, key.Line
		default:
			return last
		}
	}
	return last
}

// LoadDir loads the embedded catalog and then the operator's provider
// definitions in dir (every *.yaml file at its root; "" for none): each
// adds a provider or replaces the embedded one of the same name. A
// problem in any file fails the whole load, naming file and line.
func LoadDir(dir string) (*Catalog, error) {
	base, err := embeddedSources()
	if err != nil {
		return nil, err
	}
	var overlay []source
	if dir != "" {
		if overlay, err = dirSources(dir); err != nil {
			return nil, err
		}
	}
	return build(base, overlay)
}

// dirSources reads the *.yaml files of an operator's directory, within
// the limits.
func dirSources(dir string) ([]source, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil {
		return nil, fmt.Errorf("catalog: providers dir %s: %w", dir, err)
	}
	if fi, err := os.Stat(dir); err != nil {
		return nil, fmt.Errorf("catalog: providers dir: %w", err)
	} else if !fi.IsDir() {
		return nil, fmt.Errorf("catalog: providers dir %s is not a directory", dir)
	}
	if len(files) > MaxProviderFiles {
		return nil, fmt.Errorf("catalog: providers dir %s holds %d files, more than %d", dir, len(files), MaxProviderFiles)
	}
	out := make([]source, 0, len(files))
	for _, f := range files {
		b, err := readLimited(f)
		if err != nil {
			return nil, err
		}
		out = append(out, source{file: f, data: b})
	}
	return out, nil
}

func readLimited(file string) ([]byte, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, fmt.Errorf("catalog: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, MaxProviderFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("catalog: %s: %w", file, err)
	}
	if len(b) > MaxProviderFileSize {
		return nil, fmt.Errorf("catalog: %s: larger than %d KiB", file, MaxProviderFileSize>>10)
	}
	return b, nil
}

// ValidateFile checks one provider definition file as LoadDir would load
// it from an operator's directory (on top of the embedded catalog). It
// returns a *LoadError listing every problem by line, or another error
// when the file cannot be read.
func ValidateFile(file string) error {
	b, err := readLimited(file)
	if err != nil {
		return err
	}
	base, err := embeddedSources()
	if err != nil {
		return err
	}
	_, err = build(base, []source{{file: file, data: b}})
	return err
}
