package exchange

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/stormcreds/storm/internal/problem"
)

// FuzzParseConfig feeds arbitrary exchange blocks to ParseConfig. A
// refusal must be a 400 naming fields under "exchange"; an accepted
// block must survive a JSON round trip unchanged, and its request must
// go to the configured path under the base URL with the credential only
// in a body, form or header value — never in the URL path.
func FuzzParseConfig(f *testing.F) {
	const key = "FUZZKEY0123456789"
	f.Fuzz(func(t *testing.T, doc []byte, basic bool) {
		kind := KindAPIKey
		if basic {
			kind = KindBasic
		}
		c, err := ParseConfig(doc, kind)
		if err != nil {
			p, ok := problem.As(err)
			if !ok || p.Status != 400 || len(p.Errors) == 0 {
				t.Fatalf("refusal is not a 400 problem with fields: %v", err)
			}
			for _, fe := range p.Errors {
				if !strings.HasPrefix(fe.Field, "exchange") || fe.Message == "" {
					t.Fatalf("field error %+v", fe)
				}
			}
			return
		}
		b, err := json.Marshal(c)
		if err != nil {
			t.Fatalf("accepted config does not marshal: %v", err)
		}
		back, err := ParseConfig(b, kind)
		if err != nil || !reflect.DeepEqual(normalize(back), normalize(c)) {
			t.Fatalf("round trip: %v\n%+v\n%+v", err, back, c)
		}
		e, err := New(c, kind, Credential{APIKey: key, Username: key, Password: key}, Options{BaseURL: "https://api.example.test/v1", HTTPClient: http.DefaultClient})
		if err != nil {
			t.Fatalf("New refused an accepted config: %v", err)
		}
		req, err := e.request(context.Background())
		if err != nil {
			t.Fatalf("request: %v", err)
		}
		if req.URL.Host != "api.example.test" || !strings.HasPrefix(req.URL.EscapedPath(), "/v1/") || strings.Contains(req.URL.EscapedPath(), key) {
			t.Fatalf("exchange goes to %s", req.URL)
		}
		inBody := false
		if req.Body != nil {
			body, _ := io.ReadAll(req.Body)
			inBody = strings.Contains(string(body), key)
		}
		inHeader := false
		for _, vs := range req.Header {
			for _, v := range vs {
				inHeader = inHeader || strings.Contains(v, key)
			}
		}
		if !inBody && !inHeader && !strings.Contains(req.URL.RawQuery, key) {
			t.Fatalf("accepted config never sends the credential")
		}
		if c.Method != http.MethodGet && strings.Contains(req.URL.RawQuery, key) {
			t.Fatalf("credential in the query of a %s", c.Method)
		}
	})
}

// normalize makes decoded JSON numbers comparable after a round trip.
func normalize(c Config) Config {
	b, _ := json.Marshal(c.Body)
	var body map[string]any
	_ = json.Unmarshal(b, &body)
	c.Body = body
	return c
}

// TestFuzzSeeds keeps the seed corpus honest: valid_* seeds are
// accepted, invalid_* refused.
func TestFuzzSeeds(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join("testdata", "fuzz", "FuzzParseConfig", "*"))
	var valid, invalid int
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(strings.TrimSpace(string(b)), "\n")
		if len(lines) != 3 || lines[0] != "go test fuzz v1" {
			t.Fatalf("%s: not a corpus file", name)
		}
		doc, err := strconv.Unquote(strings.TrimSuffix(strings.TrimPrefix(lines[1], "[]byte("), ")"))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		kind := KindAPIKey
		if lines[2] == "bool(true)" {
			kind = KindBasic
		}
		_, err = ParseConfig(json.RawMessage(doc), kind)
		switch base := filepath.Base(name); {
		case strings.HasPrefix(base, "valid_"):
			valid++
			if err != nil {
				t.Errorf("%s refused: %v", name, err)
			}
		case strings.HasPrefix(base, "invalid_"):
			invalid++
			if err == nil {
				t.Errorf("%s accepted", name)
			}
		}
	}
	if valid == 0 || invalid == 0 {
		t.Fatalf("%d valid and %d invalid seeds", valid, invalid)
	}
}
