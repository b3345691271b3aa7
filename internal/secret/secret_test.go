package secret

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

func TestStringRedactsEverywhere(t *testing.T) {
	const canary = "sk_live_canary_1234"
	s := String(canary)
	var logs bytes.Buffer
	slog.New(slog.NewJSONHandler(&logs, nil)).Info("msg", "key", s)
	js, err := json.Marshal(struct{ K String }{s})
	if err != nil {
		t.Fatal(err)
	}
	outputs := []string{
		fmt.Sprint(s), fmt.Sprintf("%v %+v %#v %s %q %x %d", s, s, s, s, s, s, s),
		fmt.Sprintf("%v", struct{ K String }{s}), fmt.Sprintf("%+v", &struct{ K String }{s}),
		string(js), logs.String(), fmt.Errorf("wrapped: %v", s).Error(),
	}
	for _, out := range outputs {
		if strings.Contains(out, canary) || strings.Contains(out, "canary") {
			t.Errorf("secret leaked: %s", out)
		}
		if !strings.Contains(out, "redacted") {
			t.Errorf("no redaction marker in %q", out)
		}
	}
	if s.Reveal() != canary {
		t.Fatalf("Reveal = %q", s.Reveal())
	}
}
