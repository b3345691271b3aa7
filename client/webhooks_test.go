package client

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestWebhookCalls(t *testing.T) {
	ctx := context.Background()
	c, f := newFake(t, 200, "application/json", `{"webhooks":[{"id":"wh_1","url":"https://h.example/x","events":[],"workspace":"ws_1","cursor":7,"failures":2,"next_attempt_at":"2025-01-02T03:04:05Z","disabled":true,"disabled_reason":"r","created_at":"2025-01-01T00:00:00Z"}]}`)
	list, err := c.ListWebhooks(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	if got := f.last(t); got.Method != "GET" || got.RequestURI != "/v1/webhooks?limit=1000&workspace=acme" {
		t.Errorf("request %s %s", got.Method, got.RequestURI)
	}
	if len(list) != 1 || list[0].ID != "wh_1" || list[0].Cursor != 7 || list[0].Failures != 2 || !list[0].Disabled ||
		!list[0].NextAttemptAt.Equal(time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)) || list[0].Secret != "" {
		t.Errorf("list %+v", list)
	}

	c, f = newFake(t, 200, "application/json", `{"deliveries":[{"id":"dlv_1","webhook":"wh_1","event":"evt_1","event_type":"credential.saved","attempt":2,"ok":false,"status_code":500,"error":"HTTP 500","duration_ms":12,"at":"2025-01-02T03:04:05Z"}]}`)
	ds, err := c.Deliveries(ctx, "wh_1", 5)
	if err != nil {
		t.Fatal(err)
	}
	if got := f.last(t); got.RequestURI != "/v1/webhooks/wh_1/deliveries?limit=5" {
		t.Errorf("request %s", got.RequestURI)
	}
	if len(ds) != 1 || ds[0].Attempt != 2 || ds[0].StatusCode != 500 || ds[0].Error != "HTTP 500" || ds[0].Event != "evt_1" || ds[0].OK {
		t.Errorf("deliveries %+v", ds)
	}

	c, f = newFake(t, 200, "application/json", `{"id":"wh_1","disabled":false}`)
	if w, err := c.EnableWebhook(ctx, "wh_1"); err != nil || w.ID != "wh_1" {
		t.Fatalf("EnableWebhook = %+v, %v", w, err)
	}
	if got := f.last(t); got.Method != "POST" || got.RequestURI != "/v1/webhooks/wh_1/enable" {
		t.Errorf("request %s %s", got.Method, got.RequestURI)
	}
	if _, err := c.Webhook(ctx, "wh_1"); err != nil || f.last(t).RequestURI != "/v1/webhooks/wh_1" {
		t.Errorf("Webhook: %v %s", err, f.last(t).RequestURI)
	}

	c, f = newFake(t, http.StatusNoContent, "", "")
	if err := c.DeleteWebhook(ctx, "wh_1"); err != nil {
		t.Fatal(err)
	}
	if got := f.last(t); got.Method != "DELETE" || got.RequestURI != "/v1/webhooks/wh_1" {
		t.Errorf("request %s %s", got.Method, got.RequestURI)
	}
	n := f.count()
	for _, bad := range []string{"", "..", "a/b"} {
		if err := c.DeleteWebhook(ctx, bad); err == nil || !strings.Contains(err.Error(), "webhook id") {
			t.Errorf("DeleteWebhook(%q) = %v", bad, err)
		}
	}
	if f.count() != n {
		t.Error("a bad id reached the server")
	}
}
