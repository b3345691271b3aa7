package api

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/stormcreds/storm/internal/problem"
	"github.com/stormcreds/storm/internal/store"
)

// Page sizes of list endpoints (shared/API.md "Pagination").
const (
	defaultPageLimit = 100
	maxPageLimit     = 1000
)

// touchEvery is how often, at most, this instance writes a token's
// last_used_at: a write per request would put the database on every hot
// path.
const touchEvery = time.Minute

// used keeps tok's last_used_at fresh without writing on every request.
func (s *Server) used(ctx context.Context, tok store.APIToken, now time.Time) {
	if v, ok := s.touched.Load(tok.ID); ok && now.Sub(v.(time.Time)) < touchEvery {
		return
	}
	s.touched.Store(tok.ID, now)
	if err := s.cfg.Store.TouchAPIToken(context.WithoutCancel(ctx), tok.ID, now.UTC()); err != nil {
		// A token deleted meanwhile has nothing left to touch.
		s.logger.Warn("touch api token", "token", tok.ID, "err", err)
	}
}

// listTokens answers GET /v1/tokens[?workspace=&limit=&after=]: every
// workspace's tokens unless one is named, in pages, never a secret.
func (s *Server) listTokens(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	limit, err := pageLimit(q.Get("limit"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	p := store.TokenPage{After: q.Get("after"), Limit: limit + 1} // one more says whether a next page exists
	if ref := q.Get("workspace"); ref != "" {
		ws, err := s.workspace(r.Context(), ref)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		p.WorkspaceID = ws.ID
	}
	list, err := s.cfg.Store.ListAPITokens(r.Context(), p)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	out := map[string]any{}
	if len(list) > limit {
		list = list[:limit]
		out["next"] = list[limit-1].ID
	}
	names := map[string]string{}
	views := make([]map[string]any, 0, len(list))
	for _, t := range list {
		name, ok := names[t.WorkspaceID]
		if !ok {
			if ws, err := s.cfg.Store.GetWorkspace(r.Context(), t.WorkspaceID); err == nil {
				name = ws.Name
			}
			names[t.WorkspaceID] = name
		}
		views = append(views, tokenView(t, name))
	}
	out["tokens"] = views
	writeJSON(w, http.StatusOK, out)
}

// tokenView is an API token as listings show it: never its secret or
// its hash.
func tokenView(t store.APIToken, wsName string) map[string]any {
	return map[string]any{"id": t.ID, "name": t.Name, "role": t.Role, "workspace": t.WorkspaceID,
		"workspace_name": wsName, "created_at": rfc3339(t.CreatedAt), "last_used_at": rfc3339(t.LastUsedAt)}
}

// pageLimit reads a list's limit parameter: defaultPageLimit when
// absent, else 1 to maxPageLimit.
func pageLimit(raw string) (int, error) {
	if raw == "" {
		return defaultPageLimit, nil
	}
	n, err := strconv.Atoi(raw)
	if err != nil || n < 1 || n > maxPageLimit {
		return 0, problem.Field("limit", "must be a number from 1 to "+strconv.Itoa(maxPageLimit))
	}
	return n, nil
}
