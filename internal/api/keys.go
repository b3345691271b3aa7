package api

import (
	"errors"
	"net/http"

	"github.com/stormcreds/storm/internal/keys"
	"github.com/stormcreds/storm/internal/problem"
	"github.com/stormcreds/storm/internal/vault"
)

// keysStatus is GET /v1/keys: the data-key terms and the re-wrap job.
func (s *Server) keysStatus(w http.ResponseWriter, r *http.Request) {
	if s.cfg.Keys == nil {
		s.writeError(w, r, problem.New(http.StatusNotFound, "key management is not configured"))
		return
	}
	st, err := s.cfg.Keys.Status(r.Context())
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, keysView(st))
}

// keysRotate is POST /v1/keys/rotate: a new data-key term, which new
// writes use, and the re-wrap job that moves every ciphertext to it.
// 202: the job runs in the background; GET /v1/keys shows its progress.
func (s *Server) keysRotate(w http.ResponseWriter, r *http.Request) {
	if s.cfg.Keys == nil {
		s.writeError(w, r, problem.New(http.StatusNotFound, "key management is not configured"))
		return
	}
	st, err := s.cfg.Keys.Rotate(r.Context())
	if errors.Is(err, vault.ErrStaleKEK) {
		err = problem.New(http.StatusConflict, "this instance's --kek-url no longer opens the keyring (the KEK was rotated): restart it with the new --kek-url, or rotate through an instance that has it")
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	p := principalFrom(r.Context())
	s.cfg.Recorder.Audit(r.Context(), p.actor(), p.token.WorkspaceID, "keys.rotate", "keyring", map[string]any{"term": st.ActiveTerm})
	writeJSON(w, http.StatusAccepted, keysView(st))
}

func keysView(st keys.Status) map[string]any {
	terms := make([]map[string]any, 0, len(st.Terms))
	for _, t := range st.Terms {
		terms = append(terms, map[string]any{"term": t.Term, "created_at": rfc3339(t.CreatedAt), "encryptions": t.Encryptions, "active": t.Term == st.ActiveTerm})
	}
	j := st.Rewrap
	p := j.Progress
	rewrap := map[string]any{"state": j.State}
	if j.State != keys.StateIdle {
		rewrap = map[string]any{
			"state": j.State, "target_term": p.TargetTerm, "phase": p.Phase, "pass": p.Pass,
			"done": p.Done, "total": p.Total, "rewrapped": p.Rewrapped, "skipped": p.Skipped, "failed": p.Failed, "swept": p.Swept,
			"started_at": rfc3339(j.StartedAt), "updated_at": rfc3339(j.UpdatedAt), "finished_at": rfc3339(j.FinishedAt),
		}
	}
	return map[string]any{"active_term": st.ActiveTerm, "terms": terms, "rewrap": rewrap}
}
