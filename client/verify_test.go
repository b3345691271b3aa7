package client

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
)

// TestVerifyNotCheckedStaysNull: "ok": null decodes as a result that was
// not checked (never as a success) and encodes back as null.
func TestVerifyNotCheckedStaysNull(t *testing.T) {
	c, _ := newFake(t, 200, "application/json", `{"ok":null,"reason":"not_checked","status":0,"latency_ms":0,"error":"no verify request"}`)
	r, err := c.Verify(context.Background(), "int_1")
	if err != nil {
		t.Fatal(err)
	}
	if r.OK || r.Checked() || r.Reason != VerifyNotChecked {
		t.Fatalf("result = %+v", r)
	}
	b, _ := json.Marshal(r)
	var back map[string]any
	json.Unmarshal(b, &back)
	if v, ok := back["ok"]; !ok || v != nil || back["reason"] != "not_checked" {
		t.Fatalf("encoded = %s", b)
	}
	checked := VerifyResult{OK: false, Reason: VerifyRejected, Status: 401}
	if b, _ := json.Marshal(checked); string(b) != `{"ok":false,"reason":"rejected","status":401,"latency_ms":0}` {
		t.Fatalf("encoded = %s", b)
	}
}

// TestRefusedSaveCarriesReason: a 422 from Save exposes the reason and
// the verification result.
func TestRefusedSaveCarriesReason(t *testing.T) {
	c, _ := newFake(t, 422, "application/problem+json", `{"status":422,"title":"Unprocessable Entity","detail":"the new credential did not work","reason":"unreachable","verification":{"ok":false,"reason":"unreachable","status":0,"latency_ms":3,"error":"x"}}`)
	_, err := c.SaveCredential(context.Background(), "int_1", map[string]any{"api_key": "key-0123456789"}, true)
	var e *Error
	if !errors.As(err, &e) || e.Reason != VerifyUnreachable || e.Verification == nil || e.Verification.Reason != VerifyUnreachable {
		t.Fatalf("err = %#v", err)
	}
}
