package proxy

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/textproto"
	"net/url"
	"strings"
	"sync/atomic"
)

// Forwarding is httputil.ReverseProxy's work cut to what Storm's proxy
// does, on the same http.Transport. ReverseProxy is general: it clones the
// whole request and every header value, then deletes what Storm strips;
// copies the answer's headers one value at a time; and sets up a client
// trace per request for 1xx answers and protocol upgrades. Storm's proxy
// forwards neither (it strips Upgrade, and 1xx answers are the
// transport's: 100 Continue is handled there, 103 Early Hints are for
// browsers), and building the outbound request once, with only what may
// go upstream, was worth about 0.03 of the proxy's throughput against
// a bare ReverseProxy (bench/RESULTS.md). What ReverseProxy does that
// matters here is kept: hop-by-hop headers (RFC 9110 §7.6.1, and those
// the Connection header lists) removed both ways, "Te: trailers" passed
// on, no default User-Agent, the answer streamed (flushed as it comes for
// event streams and bodies of unknown length), trailers passed on, and
// an answer that fails halfway aborted.

// errSwitchedProtocols means the upstream answered 101 to a request that
// asked for no upgrade (Storm never forwards one).
var errSwitchedProtocols = errors.New("proxy: the upstream switched protocols unasked")

// errBodyClosed is what reading the caller's body answers once the
// exchange is over.
var errBodyClosed = errors.New("proxy: read from the caller's body after the exchange ended")

// noUserAgent keeps the transport from sending Go's default User-Agent
// when the caller sent none. Full-capacity slices like this one are
// shared: a credential's Header.Add appends to a copy.
var noUserAgent = []string{""}

var teTrailers = []string{"trailers"}

// forward sends r upstream with the exchange's credential and streams the
// answer to w, or writes a problem when no answer came.
func (x *exchange) forward(w http.ResponseWriter, r *http.Request) {
	out := x.outbound(r)
	if out.Body != nil {
		b := &callerBody{body: out.Body}
		out.Body = b
		defer b.Close()
	}
	res, err := x.RoundTrip(out)
	if err != nil {
		x.errorHandler(w, out, err)
		return
	}
	if res.StatusCode == http.StatusSwitchingProtocols {
		res.Body.Close()
		x.errorHandler(w, out, errSwitchedProtocols)
		return
	}
	x.respond(w, r, res)
}

// outboundRequest is a request and its URL in one allocation. It is not
// pooled: the transport may still hold the request (writing its body)
// after the exchange is over.
type outboundRequest struct {
	req http.Request
	url url.URL
}

// outbound returns the request to send upstream: r's method, body and
// context, the exchange's target URL and Host, and r's header without
// what stripped names and the hop-by-hop rules remove.
func (x *exchange) outbound(r *http.Request) *http.Request {
	h := make(http.Header, len(r.Header)+1)
	for k, vs := range r.Header {
		// Canonical already for headers net/http parsed: no allocation.
		if !stripped(textproto.CanonicalMIMEHeaderKey(k)) {
			h[k] = vs[:len(vs):len(vs)] // shared, so a credential's Add copies
		}
	}
	dropListed(h, r.Header["Connection"])
	if hasToken(r.Header["Te"], "trailers") { // the one Te value passed on
		h["Te"] = teTrailers
	}
	if _, ok := h["User-Agent"]; !ok {
		h["User-Agent"] = noUserAgent
	}

	o := &outboundRequest{req: *r, url: x.target} // a copy of r keeps its context
	out := &o.req
	out.URL, out.Host, out.RequestURI = &o.url, "", "" // the Host header comes from the URL: Base's host
	out.Proto, out.ProtoMajor, out.ProtoMinor = "HTTP/1.1", 1, 1
	out.Header = h
	out.Trailer = nil // the caller's trailers are not forwarded
	out.Close = false
	out.Form, out.PostForm, out.MultipartForm = nil, nil, nil
	out.RemoteAddr, out.TLS, out.Response, out.Pattern = "", nil, nil, ""
	out.GetBody = nil
	if r.ContentLength == 0 {
		out.Body = nil // a bodiless request the transport may retry
	}
	return out
}

// respond writes res to w: its status, its header without hop-by-hop
// headers, cookies and Alt-Svc (added to what w has already, as
// ReverseProxy does), its body as it comes, then its trailers.
func (x *exchange) respond(w http.ResponseWriter, r *http.Request, res *http.Response) {
	x.rewriteLocationHeader(res.Header)
	dropListed(res.Header, res.Header["Connection"])
	wh := w.Header()
	for k, vs := range res.Header {
		if droppedResponseHeader(textproto.CanonicalMIMEHeaderKey(k)) {
			continue
		}
		if old, ok := wh[k]; ok {
			wh[k] = append(old[:len(old):len(old)], vs...)
		} else {
			wh[k] = vs[:len(vs):len(vs)]
		}
	}
	announced := len(res.Trailer)
	if announced > 0 {
		keys := make([]string, 0, announced)
		for k := range res.Trailer {
			keys = append(keys, k)
		}
		wh.Add("Trailer", strings.Join(keys, ", "))
	}
	w.WriteHeader(res.StatusCode)

	var rc *http.ResponseController
	if res.ContentLength == -1 || eventStream(res.Header.Get("Content-Type")) {
		// Streamed: every chunk goes out as it comes, the header at once.
		rc = http.NewResponseController(w)
		rc.Flush()
	}
	if err := x.copyBody(w, res.Body, rc); err != nil {
		res.Body.Close()
		// The answer has started: all that is left is to abort it. Only
		// a server recovers the panic; a direct caller sees a cut body.
		if r.Context().Value(http.ServerContextKey) != nil {
			panic(http.ErrAbortHandler)
		}
		return
	}
	res.Body.Close() // now, so res.Trailer is filled

	if len(res.Trailer) > 0 {
		// Chunked, so net/http does not answer with a Content-Length.
		http.NewResponseController(w).Flush()
	}
	for k, vs := range res.Trailer {
		if len(res.Trailer) != announced {
			k = http.TrailerPrefix + k // not all announced: each one marked
		}
		for _, v := range vs {
			wh.Add(k, v)
		}
	}
}

// copyBody copies body to w through a pooled buffer, flushing after each
// write when rc is not nil. It returns the first write error or read
// error other than io.EOF; a read error is logged unless the exchange was
// cancelled.
func (x *exchange) copyBody(w io.Writer, body io.Reader, rc *http.ResponseController) error {
	buf := x.p.buffers.Get()
	defer x.p.buffers.Put(buf)
	for {
		n, rerr := body.Read(buf)
		if n > 0 {
			nw, werr := w.Write(buf[:n])
			if werr == nil && nw != n {
				werr = io.ErrShortWrite
			}
			if werr != nil {
				return werr
			}
			if rc != nil {
				rc.Flush()
			}
		}
		switch {
		case rerr == io.EOF:
			return nil
		case rerr != nil:
			if !errors.Is(rerr, context.Canceled) {
				x.p.log.Warn("proxy: reading the upstream's answer failed",
					slog.String("upstream", logURL(&x.target)), slog.String("error", rerr.Error()))
			}
			return rerr
		}
	}
}

// droppedResponseHeader reports whether the canonical header key k of an
// upstream answer stays out of Storm's answer.
func droppedResponseHeader(k string) bool {
	switch k {
	case "Set-Cookie", "Set-Cookie2", // Storm is not the upstream's browser session
		"Alt-Svc": // describes the upstream's origin, not Storm's
		return true
	}
	return hopByHop(k)
}

// hopByHop reports whether the canonical header key k names a header
// for one connection only (RFC 9110 §7.6.1, and the older names
// net/http/httputil also drops), never passed on in either direction.
func hopByHop(k string) bool {
	switch k {
	case "Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate", "Proxy-Authorization",
		"Te", "Trailer", "Transfer-Encoding", "Upgrade":
		return true
	}
	return false
}

// dropListed removes from h the headers a Connection header's values
// name: hop-by-hop for that connection only (RFC 9110 §7.6.1).
func dropListed(h http.Header, connection []string) {
	for _, v := range connection {
		for name := range strings.SplitSeq(v, ",") {
			if name = textproto.TrimString(name); name != "" {
				h.Del(name)
			}
		}
	}
}

// hasToken reports whether a comma-separated header's values hold token,
// ignoring case. A member with parameters is not the token: TE's
// "trailers" takes no weight (RFC 9110 §10.1.4).
func hasToken(values []string, token string) bool {
	for _, v := range values {
		for t := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(textproto.TrimString(t), token) {
				return true
			}
		}
	}
	return false
}

// eventStream reports whether a Content-Type is text/event-stream, whose
// events must reach the caller as they come.
func eventStream(contentType string) bool {
	mediaType, _, _ := strings.Cut(contentType, ";")
	return strings.EqualFold(strings.TrimSpace(mediaType), "text/event-stream")
}

// callerBody is the caller's request body as the transport sees it.
//
// The transport closes a body it is done with, also one it could not
// send; closing the caller's own would make the server read the rest of
// it (or wait for it: a 100-continue request not yet sent), so Close only
// ends reading, and a read after it fails: the transport's writer can
// outlive the handler, which must not read the caller's body once it has
// returned (golang/go#46866).
//
// After the body has ended, every read answers io.EOF without reading it
// again. The transport reads a streamed body once more after
// Content-Length bytes, to check nothing follows; the server closes the
// caller's body as soon as the response header goes out, so that late
// read could fail with ErrBodyReadAfterClose, and the transport would
// then drop the upstream connection halfway through the answer
// (golang/go#40747). Reads come from the transport's one writing
// goroutine; Close may come from the handler's.
type callerBody struct {
	body   io.ReadCloser
	ended  bool
	closed atomic.Bool
}

func (b *callerBody) Read(p []byte) (int, error) {
	switch {
	case b.ended:
		return 0, io.EOF
	case b.closed.Load():
		return 0, errBodyClosed
	}
	n, err := b.body.Read(p)
	if err == io.EOF {
		b.ended = true
	}
	return n, err
}

func (b *callerBody) Close() error {
	b.closed.Store(true)
	return nil
}
