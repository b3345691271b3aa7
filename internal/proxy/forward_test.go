package proxy

import (
	"bufio"
	"errors"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/textproto"
	"net/url"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
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
		{"trailers;q=0.5", ""}, // "trailers" takes no weight (RFC 9110 §10.1.4)
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

// TestForwardMatchesReverseProxy checks the forwarder against an
// independent one: httputil.ReverseProxy set up as Storm's proxy used it
// before forwarding on its own (Rewrite to the target, the headers
// stripped names removed, the credential set; Set-Cookie, Set-Cookie2 and
// Alt-Svc dropped from answers). For random requests and answers made of
// hop-by-hop headers, names a Connection header lists, Te values,
// cookies, repeated and ordinary headers, and trailers, the upstream
// must receive the same header, method, path and body through both, and
// the caller the same status, header, body and trailers.
func TestForwardMatchesReverseProxy(t *testing.T) {
	type answer struct {
		header  http.Header
		trailer http.Header // announced when its key is in header["Trailer"]
		status  int
		body    string
	}
	var (
		mu      sync.Mutex
		answers = map[string]answer{} // by X-Case
		got     = map[string]seen{}   // by X-Case and the credential
	)
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		c := r.Header.Get("X-Case")
		mu.Lock()
		got[c+" "+r.Header.Get("Authorization")] = seen{Method: r.Method, RequestURI: r.RequestURI, Header: r.Header.Clone(), Body: body}
		a := answers[c]
		mu.Unlock()
		for k, vs := range a.header {
			w.Header()[k] = vs
		}
		w.WriteHeader(a.status)
		io.WriteString(w, a.body)
		for k, vs := range a.trailer {
			if !slices.Contains(a.header["Trailer"], k) {
				k = http.TrailerPrefix + k
			}
			w.Header()[k] = vs
		}
	}))
	t.Cleanup(up.Close)
	base, _ := url.Parse(up.URL)

	p, _ := newTestProxy(t, Config{AllowPrivate: true})
	storm := front(t, p, func(*http.Request) Target { return Target{Base: base, Active: bearer("storm")} })
	peer := httptest.NewServer(&httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(base)
			pr.Out.URL.Path = strings.TrimPrefix(pr.Out.URL.Path, "/proxy")
			for k := range pr.Out.Header {
				// Te is ReverseProxy's: it keeps "trailers" when asked.
				if ck := textproto.CanonicalMIMEHeaderKey(k); stripped(ck) && ck != "Te" {
					delete(pr.Out.Header, k)
				}
			}
			pr.Out.Header.Set("Authorization", "Bearer peer")
		},
		ModifyResponse: func(res *http.Response) error {
			for _, k := range []string{"Set-Cookie", "Set-Cookie2", "Alt-Svc"} {
				res.Header.Del(k)
			}
			return nil
		},
	})
	t.Cleanup(peer.Close)

	requestPool := []func(h http.Header){
		func(h http.Header) { h.Set("Authorization", "Bearer caller") },
		func(h http.Header) { h.Set("Cookie", "sid=1") },
		func(h http.Header) { h.Add("Connection", "X-Hop"); h.Set("X-Hop", "1") },
		func(h http.Header) { h.Add("Connection", "keep-alive, X-Other") },
		func(h http.Header) { h.Set("X-Other", "2") },
		func(h http.Header) { h.Set("Keep-Alive", "timeout=5") },
		func(h http.Header) { h.Set("Te", "trailers") },
		func(h http.Header) { h.Set("Te", "gzip, Trailers;q=0.5") },
		func(h http.Header) { h.Set("Te", "deflate") },
		func(h http.Header) { h.Set("Proxy-Connection", "keep-alive") },
		func(h http.Header) { h.Set("Forwarded", "for=203.0.113.1"); h.Set("X-Forwarded-For", "203.0.113.1") },
		func(h http.Header) { h.Set("Storm-Workspace", "ws") },
		func(h http.Header) { h.Add("X-Multi", "a"); h.Add("X-Multi", "b") },
		func(h http.Header) { h.Set("Accept", "application/json") },
		func(h http.Header) { h["User-Agent"] = []string{""} },
		func(h http.Header) { h.Set("User-Agent", "sync/2") },
		func(h http.Header) { h.Add("Connection", "Upgrade"); h.Set("Upgrade", "websocket") },
		func(h http.Header) { h.Set("Trailer", "X-T") },
		func(h http.Header) { h.Set("Accept-Encoding", "gzip") },
	}
	answerPool := []func(a *answer){
		func(a *answer) { a.header.Set("Content-Type", "application/json") },
		func(a *answer) { a.header.Add("Connection", "X-Resp-Hop"); a.header.Set("X-Resp-Hop", "1") },
		func(a *answer) { a.header.Set("Keep-Alive", "timeout=5") },
		func(a *answer) { a.header.Set("Proxy-Authenticate", "Basic") },
		func(a *answer) { a.header.Add("Set-Cookie", "s=1"); a.header.Add("Set-Cookie", "t=2") },
		func(a *answer) { a.header.Set("Alt-Svc", `h3=":443"`) },
		func(a *answer) { a.header.Set("Upgrade", "h2c") },
		func(a *answer) { a.header.Add("X-Multi", "1"); a.header.Add("X-Multi", "2") },
		func(a *answer) { a.header.Set("Cache-Control", "max-age=60") },
		func(a *answer) { a.header.Set("Content-Length", strconv.Itoa(len(a.body))) },
		func(a *answer) { a.header.Set("Trailer", "X-Sum"); a.trailer.Set("X-Sum", "abc") },
		func(a *answer) { a.trailer.Set("X-Late", "late") },
		func(a *answer) { a.header.Set("Content-Type", "text/event-stream") },
		func(a *answer) { a.status = http.StatusNotFound },
		func(a *answer) { a.status = http.StatusNoContent; a.body = "" },
	}

	rng := rand.New(rand.NewPCG(14, 7))
	for i := range 300 {
		c := strconv.Itoa(i)
		a := answer{header: http.Header{}, trailer: http.Header{}, status: http.StatusOK, body: strings.Repeat("b", rng.IntN(3)*4000)}
		for _, f := range answerPool {
			if rng.IntN(3) == 0 {
				f(&a)
			}
		}
		if a.status == http.StatusNoContent {
			a.header.Del("Content-Length")
			a.trailer = http.Header{}
		}
		mu.Lock()
		answers[c] = a
		mu.Unlock()
		hdr := http.Header{"X-Case": {c}}
		for _, f := range requestPool {
			if rng.IntN(3) == 0 {
				f(hdr)
			}
		}
		method, body := http.MethodGet, ""
		if rng.IntN(4) == 0 {
			method, body = http.MethodPost, "payload-"+c
		}

		type outcome struct {
			status          int
			header, trailer http.Header
			body            string
		}
		call := func(front string) outcome {
			req, _ := http.NewRequest(method, front+"/proxy/items?q="+c, strings.NewReader(body))
			if body == "" {
				req.Body = nil
			}
			for k, vs := range hdr {
				req.Header[k] = vs
			}
			res, b := do(t, noRedirects, req)
			res.Header.Del("Date")
			return outcome{res.StatusCode, res.Header, res.Trailer, string(b)}
		}
		ours, theirs := call(storm.URL), call(peer.URL)
		if !reflect.DeepEqual(ours, theirs) {
			t.Fatalf("case %s (request %v, answer %+v): the caller got\n%+v\nthrough Storm, and\n%+v\nthrough ReverseProxy", c, hdr, a, ours, theirs)
		}
		mu.Lock()
		s, r := got[c+" Bearer storm"], got[c+" Bearer peer"]
		mu.Unlock()
		s.Header.Del("Authorization")
		r.Header.Del("Authorization")
		if !reflect.DeepEqual(s, r) {
			t.Fatalf("case %s (request %v): the upstream got\n%+v\nthrough Storm, and\n%+v\nthrough ReverseProxy", c, hdr, s, r)
		}
	}
}
