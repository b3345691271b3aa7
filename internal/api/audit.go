package api

import (
	"net/http"

	"github.com/stormcreds/storm/internal/audit"
)

// verifyAudit walks the whole audit log in order, a page at a time, and
// answers whether its hash chain holds: {"ok":true,"entries":N}, or
// {"ok":false,"entries":N,"first_bad":"aud_…","reason":"…"}. A broken
// chain is an answer (200), not an error. It only reads.
func (s *Server) verifyAudit(w http.ResponseWriter, r *http.Request) {
	if err := s.cfg.Recorder.SettleReads(r.Context()); err != nil {
		s.writeError(w, r, err)
		return
	}
	res, err := audit.Verify(r.Context(), s.cfg.Store.ListAudit)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, res)
}
