package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"

	"github.com/stormcreds/storm/internal/problem"
	"github.com/stormcreds/storm/internal/store"
)

func writeJSON(w http.ResponseWriter, status int, v any) {
	if raw, ok := v.(json.RawMessage); ok {
		// Encoded already, as below (the /access answers creds caches).
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		w.Write(raw)
		return
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		problem.Write(w, problem.New(http.StatusInternalServerError, "encode response"))
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

// decode reads a JSON object body into v: size-limited, unknown fields
// and trailing data refused.
func (s *Server) decode(w http.ResponseWriter, r *http.Request, v any) error {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		if mt, _, _ := mime.ParseMediaType(ct); mt != "application/json" {
			return problem.New(http.StatusUnsupportedMediaType, "send application/json, not %s", mt)
		}
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, s.cfg.MaxBodyBytes))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return jsonProblem(err)
	}
	if dec.More() {
		return problem.New(http.StatusBadRequest, "the body must hold one JSON object")
	}
	if _, err := dec.Token(); err != io.EOF {
		return problem.New(http.StatusBadRequest, "the body must hold one JSON object")
	}
	return nil
}

func jsonProblem(err error) *problem.Problem {
	var maxErr *http.MaxBytesError
	var syntaxErr *json.SyntaxError
	var typeErr *json.UnmarshalTypeError
	switch {
	case errors.As(err, &maxErr):
		return problem.New(http.StatusRequestEntityTooLarge, "the body is larger than %d bytes", maxErr.Limit)
	case errors.Is(err, io.EOF):
		return problem.New(http.StatusBadRequest, "the body is empty; send a JSON object")
	case errors.As(err, &syntaxErr):
		return problem.New(http.StatusBadRequest, "malformed JSON at byte %d", syntaxErr.Offset)
	case errors.As(err, &typeErr):
		return problem.Field(typeErr.Field, fmt.Sprintf("must be %s", typeErr.Type))
	default:
		// encoding/json names the unknown field; nothing secret is in it.
		return problem.New(http.StatusBadRequest, "%s", err.Error())
	}
}

// writeError renders err: problems as themselves, store sentinels by
// meaning, anything else as a 500 whose detail stays in the log.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	if p, ok := problem.As(err); ok {
		problem.Write(w, p)
		return
	}
	type problemer interface{ Problem() *problem.Problem }
	var pe problemer
	if errors.As(err, &pe) {
		problem.Write(w, pe.Problem())
		return
	}
	switch {
	case errors.Is(err, store.ErrNotFound):
		problem.Write(w, problem.New(http.StatusNotFound, "not found"))
	case errors.Is(err, store.ErrConflict):
		problem.Write(w, problem.New(http.StatusConflict, "the object changed or already exists; retry"))
	default:
		s.logger.Error("request failed", "method", r.Method, "path", LogPath(r.URL.Path), "request_id", RequestID(r.Context()), "err", err)
		problem.Write(w, problem.New(http.StatusInternalServerError, "internal error; see the server log"))
	}
}
