package main

import (
	"strings"
	"testing"
)

func TestWebhookCommands(t *testing.T) {
	f := newFakeAPI(t)
	const hook = `{"id":"wh_1","workspace":"ws_1","url":"https://hooks.example/x","events":[],"cursor":7,"failures":3,"next_attempt_at":"2026-01-02T03:04:05Z","disabled":false,"created_at":"2026-01-01T00:00:00Z"}`
	f.set("GET /v1/webhooks", jsonReply(200, `{"webhooks":[`+hook+`]}`))
	f.set("DELETE /v1/webhooks/wh_1", reply{204, "", ""})
	f.set("POST /v1/webhooks/wh_1/enable", jsonReply(200, hook))
	f.set("GET /v1/webhooks/wh_1/deliveries", jsonReply(200, `{"deliveries":[{"id":"dlv_2","webhook":"wh_1","event":"evt_9","event_type":"credential.saved","attempt":2,"ok":false,"status_code":0,"error":"no answer within 10s","duration_ms":10000,"at":"2026-01-02T03:04:05Z"},{"id":"dlv_1","webhook":"wh_1","event":"evt_9","event_type":"credential.saved","attempt":1,"ok":false,"status_code":500,"error":"HTTP 500","duration_ms":12,"at":"2026-01-02T03:04:00Z"}]}`))

	for _, tc := range []struct {
		args       []string
		method     string
		uri        string
		wantStdout []string
	}{
		{[]string{"webhooks"}, "GET", "/v1/webhooks?limit=1000", []string{"wh_1", "https://hooks.example/x", "all", "retrying", "2026-01-02T03:04:05Z"}},
		{[]string{"webhooks", "list", "--workspace", "acme"}, "GET", "/v1/webhooks?limit=1000&workspace=acme", []string{"wh_1"}},
		{[]string{"webhooks", "delete", "wh_1"}, "DELETE", "/v1/webhooks/wh_1", []string{"deleted webhook wh_1"}},
		{[]string{"webhooks", "enable", "wh_1"}, "POST", "/v1/webhooks/wh_1/enable", []string{"wh_1", "retrying"}},
		{[]string{"webhooks", "deliveries", "wh_1", "--limit", "2"}, "GET", "/v1/webhooks/wh_1/deliveries?limit=2", []string{"evt_9", "no answer within 10s", "HTTP 500", "500"}},
		{[]string{"webhooks", "deliveries", "wh_1", "--json"}, "GET", "/v1/webhooks/wh_1/deliveries", []string{`"deliveries": [`, `"status_code": 500`}},
		{[]string{"webhooks", "create", "--url", "https://hooks.example/all"}, "POST", "/v1/webhooks", []string{"whsec_ONE_TIME"}},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			r, err := storm(t, f, "", tc.args...)
			if err != nil {
				t.Fatal(err)
			}
			if req := f.find(t, tc.method, tc.uri); req.RequestURI != tc.uri {
				t.Errorf("sent %s, want %s", req.RequestURI, tc.uri)
			}
			for _, want := range tc.wantStdout {
				if !strings.Contains(r.stdout.String(), want) {
					t.Errorf("stdout lacks %q:\n%s", want, r.stdout.String())
				}
			}
		})
	}
	// Without --event the webhook gets every type.
	if got := string(f.find(t, "POST", "/v1/webhooks").Body); got != `{"url":"https://hooks.example/all"}` {
		t.Errorf("webhook body %s", got)
	}
	for _, args := range [][]string{{"webhooks", "delete"}, {"webhooks", "deliveries"}, {"webhooks", "create"}, {"webhooks", "deliveries", "wh_1", "--limit", "-1"}} {
		if _, err := storm(t, f, "", args...); err == nil {
			t.Errorf("%v: no usage error", args)
		}
	}
}
