package catalog

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// fuzzSecret stands for an integration's client or consumer secret in
// the config resolved against a fuzzed provider definition.
const fuzzSecret = "FUZZ-client-secret-9f8e7d6c"

// FuzzLoadProvider loads an arbitrary provider definition file as an
// operator's directory would supply it. A refusal is a *LoadError whose
// problems name the file and a line inside it. A definition that loads
// validates again unchanged, survives a YAML round trip, and resolving an
// integration against it (each declared field set to a fuzzed value, the
// client and consumer secrets set) never puts a secret in an error.
// Seeds, small definitions of each auth method, are in
// testdata/fuzz/FuzzLoadProvider/.
func FuzzLoadProvider(f *testing.F) {
	f.Add([]byte("name: p\ndisplay_name: P\ndocs_url: https://p.example.com/docs\nbase_url: https://{host}/v1\nauth_methods: [api_key]\n"+
		"config:\n  - name: host\n    label: Host\n    default: api.example.com\n    pattern: '^[a-z.]+$'\n"+
		"api_key:\n  in: header\n  name: Authorization\n  prefix: 'Bearer '\nverify:\n  method: GET\n  path: /me\n"), "api.example.com")
	f.Add([]byte("name: x\n"), "")
	f.Add([]byte("name: a\nname: b\n"), "v")
	f.Add([]byte("---\nname: a\n---\nname: b\n"), "v")
	f.Fuzz(func(t *testing.T, data []byte, value string) {
		c, err := build(nil, []source{{file: "fuzz.yaml", data: data}})
		if err != nil {
			var le *LoadError
			if !errors.As(err, &le) || len(le.Problems) == 0 {
				t.Fatalf("refusal %v is not a *LoadError with problems", err)
			}
			lines := strings.Count(string(data), "\n") + 1
			for _, p := range le.Problems {
				if p.File != "fuzz.yaml" || p.Message == "" || p.Line < 0 || p.Line > lines+1 {
					t.Fatalf("problem %+v (file has %d lines)", p, lines)
				}
			}
			return
		}
		ps := c.List()
		if len(ps) != 1 {
			t.Fatalf("one file gave %d providers", len(ps))
		}
		p := ps[0]
		again := p.clone()
		fe := &fieldErrors{}
		validateProvider(&again, fe, false)
		if len(fe.list) > 0 || !reflect.DeepEqual(again, p) {
			t.Fatalf("a loaded provider does not validate again unchanged: %+v", fe.list)
		}
		out, err := yaml.Marshal(p)
		if err != nil {
			t.Fatalf("marshal: %v", err)
		}
		c2, err := build(nil, []source{{file: "again.yaml", data: out}})
		if err != nil {
			t.Fatalf("the loaded provider, written out, does not load:\n%s\n%v", out, err)
		}
		if p2 := c2.List()[0]; !reflect.DeepEqual(p2, p) {
			t.Fatalf("YAML round trip changed the provider:\n%+v\n%+v", p, p2)
		}

		cfg := map[string]any{"client_id": "fuzz-client", "client_secret": fuzzSecret,
			"consumer_key": "fuzz-consumer", "consumer_secret": fuzzSecret}
		for _, fld := range p.Config {
			cfg[fld.Name] = value
		}
		for _, m := range append([]string{""}, p.AuthMethods...) {
			var err error
			if m == "" {
				_, err = c.Resolve(p.Name, cfg)
			} else {
				_, err = c.ResolveMethod(p.Name, m, cfg)
			}
			if err == nil {
				continue
			}
			j, _ := json.Marshal(err)
			if strings.Contains(err.Error(), fuzzSecret) || strings.Contains(string(j), fuzzSecret) {
				t.Fatalf("resolve error holds the secret: %v", err)
			}
		}
	})
}

// TestLoadProviderSeeds keeps the seed corpus honest: valid_* seeds load,
// invalid_* do not.
func TestLoadProviderSeeds(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join("testdata", "fuzz", "FuzzLoadProvider", "*"))
	var valid, invalid int
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(string(b), "\n")
		data, err := strconv.Unquote(strings.TrimSuffix(strings.TrimPrefix(lines[1], "[]byte("), ")"))
		if lines[0] != "go test fuzz v1" || err != nil {
			t.Fatalf("%s: not a corpus file (%v)", name, err)
		}
		_, err = build(nil, []source{{file: "seed.yaml", data: []byte(data)}})
		switch base := filepath.Base(name); {
		case strings.HasPrefix(base, "valid_"):
			valid++
			if err != nil {
				t.Errorf("%s refused: %v", name, err)
			}
		case strings.HasPrefix(base, "invalid_"):
			invalid++
			if err == nil {
				t.Errorf("%s loaded", name)
			}
		}
	}
	if valid == 0 || invalid == 0 {
		t.Fatalf("%d valid and %d invalid seeds", valid, invalid)
	}
}
