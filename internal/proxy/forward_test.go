package proxy

import (
	"bufio"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"testing/iotest"
	"time"
)

// TestTrailersPassOn: an upstream's trailers reach the caller, announced
// ones under their own names, unannounced ones too (RFC 9110 §6.5).
func TestTrailersPassOn(t *testing.T) {
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Trailer", "X-Checksum")
		io.WriteString(w, "body")
		w.Header().Set("X-Checksum", "abc")
		w.Header().Set(http.TrailerPrefix+"X-Late", "late")
	})
	p, _ := newTestProxy(t, Config{AllowPrivate: true})
	fs := front(t, p, func(*http.Request) Target { return Target{Base: up.base(t, ""), Active: bearer("k")} })
	req, _ := http.NewRequest(http.MethodGet, fs.URL+"/proxy/x", nil)
	res, body := do(t, nil, req)
	if res.StatusCode != http.StatusOK || string(body) != "body" {
		t.Fatalf("status %d body %q", res.StatusCode, body)
	}
	if got := res.Trailer.Get("X-Checksum"); got != "abc" {
		t.Errorf("trailer X-Checksum = %q, want abc", got)
	}
	if got := res.Trailer.Get("X-Late"); got != "late" {
		t.Errorf("trailer X-Late = %q, want late", got)
	}
}

// TestRequestHopHeaders: "Te: trailers" goes upstream (a gRPC-style
// upstream asks for it), other Te values do not; without a User-Agent
// from the caller, the upstream sees none, not Go's default.
func TestRequestHopHeaders(t *testing.T) {
	up := newUpstream(t, nil)
	p, _ := newTestProxy(t, Config{AllowPrivate: true})
	fs := front(t, p, func(*http.Request) Target { return Target{Base: up.base(t, ""), Active: bearer("k")} })
	for _, tc := range []struct{ te, want string }{
		{"trailers", "trailers"},
		{"gzip, Trailers", "trailers"},
		{"gzip", ""},
	} {
		req, _ := http.NewRequest(http.MethodGet, fs.URL+"/proxy/x", nil)
		req.Header.Set("Te", tc.te)
		req.Header["User-Agent"] = []string{""} // Go's client then sends none
		do(t, nil, req)
		got := up.last(t)
		if v := got.Header.Get("Te"); v != tc.want {
			t.Errorf("Te %q: upstream got %q, want %q", tc.te, v, tc.want)
		}
		if v, ok := got.Header["User-Agent"]; ok {
			t.Errorf("upstream got User-Agent %q, want none", v)
		}
	}
}

// TestCallerTrailersStayHere: trailers on the caller's chunked upload are
// not forwarded; a credential could hide in one as well as in a header.
func TestCallerTrailersStayHere(t *testing.T) {
	trailer := make(chan http.Header, 1)
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		trailer <- r.Trailer.Clone()
	})
	p, _ := newTestProxy(t, Config{AllowPrivate: true})
	fs := front(t, p, func(*http.Request) Target { return Target{Base: up.base(t, ""), Active: bearer("k")} })
	req, _ := http.NewRequest(http.MethodPost, fs.URL+"/proxy/x", io.NopCloser(strings.NewReader("payload")))
	req.ContentLength = -1 // chunked, so it can carry trailers
	req.Trailer = http.Header{"Authorization": {"Bearer caller-token"}}
	res, _ := do(t, nil, req)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("status %d", res.StatusCode)
	}
	if got := <-trailer; got.Get("Authorization") != "" {
		t.Fatalf("upstream received the caller's trailer: %v", got)
	}
}

// TestEventStreamFlushed: an event stream's header reaches the caller
// before any event, and each event as it comes, even when the upstream
// declares the length (so it is not streamed for lacking one).
func TestEventStreamFlushed(t *testing.T) {
	const wait = 10 * time.Second
	first, second := make(chan struct{}), make(chan struct{})
	events := "data: 1\n\n" + "data: 2\n\n"
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream; charset=utf-8")
		w.Header().Set("Content-Length", "18")
		w.WriteHeader(http.StatusOK)
		w.(http.Flusher).Flush()
		for i, release := range []chan struct{}{first, second} {
			select {
			case <-release:
			case <-r.Context().Done():
				return
			}
			io.WriteString(w, events[i*9:(i+1)*9])
			w.(http.Flusher).Flush()
		}
	})
	p, _ := newTestProxy(t, Config{AllowPrivate: true})
	fs := front(t, p, func(*http.Request) Target { return Target{Base: up.base(t, ""), Active: bearer("k")} })
	defer close(second)

	answered := make(chan *http.Response, 1)
	go func() {
		res, err := http.Get(fs.URL + "/proxy/events")
		if err != nil {
			t.Error(err)
			close(answered)
			return
		}
		answered <- res
	}()
	var res *http.Response
	select {
	case res = <-answered:
		if res == nil {
			t.FailNow()
		}
	case <-time.After(wait):
		close(first)
		t.Fatal("the header did not arrive before the first event")
	}
	defer res.Body.Close()
	close(first)
	line := make(chan string, 1)
	go func() {
		s, _ := bufio.NewReader(res.Body).ReadString('\n')
		line <- s
	}()
	select {
	case s := <-line:
		if s != "data: 1\n" {
			t.Fatalf("first line %q", s)
		}
	case <-time.After(wait):
		t.Fatal("the first event did not arrive before the second was sent")
	}
}

// TestUnaskedUpgradeRefused: an upstream that switches protocols when
// Storm (which forwards no Upgrade) asked for none gets the caller a 502.
func TestUnaskedUpgradeRefused(t *testing.T) {
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		conn, buf, err := http.NewResponseController(w).Hijack()
		if err != nil {
			t.Error(err)
			return
		}
		defer conn.Close()
		buf.WriteString("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n")
		buf.Flush()
	})
	p, _ := newTestProxy(t, Config{AllowPrivate: true})
	w := serve(p, http.MethodGet, nil, http.Header{"Connection": {"Upgrade"}, "Upgrade": {"websocket"}},
		Target{Base: up.base(t, ""), Active: bearer("k")})
	wantProblem(t, w, http.StatusBadGateway)
	if v := up.last(t).Header.Get("Upgrade"); v != "" {
		t.Errorf("upstream received Upgrade %q", v)
	}
}

// TestCallerBody: closing the body the transport sees ends reading it
// without closing the caller's own; once it has ended, it answers io.EOF
// without reading the caller's again, closed or not.
func TestCallerBody(t *testing.T) {
	inner := &closeCounter{Reader: strings.NewReader("abc")}
	b := &callerBody{body: inner}
	p := make([]byte, 2)
	if n, err := b.Read(p); n != 2 || err != nil {
		t.Fatalf("Read = %d, %v", n, err)
	}
	b.Close()
	if _, err := b.Read(p); !errors.Is(err, errBodyClosed) {
		t.Fatalf("Read after Close: %v, want errBodyClosed", err)
	}
	if inner.closed {
		t.Fatal("the caller's body was closed")
	}

	inner = &closeCounter{Reader: strings.NewReader("abc")}
	b = &callerBody{body: inner}
	if got, err := io.ReadAll(b); string(got) != "abc" || err != nil {
		t.Fatalf("ReadAll = %q, %v", got, err)
	}
	inner.Reader = iotest.ErrReader(http.ErrBodyReadAfterClose) // what the server's closed body answers
	b.Close()
	if n, err := b.Read(p); n != 0 || err != io.EOF {
		t.Fatalf("Read after the end = %d, %v; want 0, io.EOF", n, err)
	}
}

type closeCounter struct {
	io.Reader
	closed bool
}

func (c *closeCounter) Close() error { c.closed = true; return nil }
