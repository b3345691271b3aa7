package api

import (
	"errors"
	"net/http"

	"github.com/stormcreds/storm/internal/connect"
	"github.com/stormcreds/storm/internal/problem"
	"github.com/stormcreds/storm/internal/store"
)

// Connect link endpoints (shared/API.md "Connect links"):
// POST|GET /v1/integrations/{id}/connect, POST|GET /v1/connect,
// GET|DELETE /v1/connect/{id}. Every one needs an editor; the link's URL
// (its secret) is in the creation's answer and nowhere else.

func (s *Server) connectConfigured() error {
	if s.cfg.Connect == nil {
		return problem.New(http.StatusNotFound, "connect links are not available on this server")
	}
	return nil
}

// connectInput is the body of both creations.
type connectInput struct {
	ExpiresIn string `json:"expires_in"`
	ReturnURL string `json:"return_url"`
}

func (s *Server) createConnectLink(w http.ResponseWriter, r *http.Request) {
	if err := s.connectConfigured(); err != nil {
		s.writeError(w, r, err)
		return
	}
	integ, err := s.integration(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	var in connectInput
	if r.ContentLength != 0 {
		if err := s.decode(w, r, &in); err != nil {
			s.writeError(w, r, err)
			return
		}
	}
	c, err := s.cfg.Connect.Create(r.Context(), principalFrom(r.Context()).actor(), integ, connect.Input{ExpiresIn: in.ExpiresIn, ReturnURL: in.ReturnURL})
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.writeCreatedLink(w, c)
}

func (s *Server) createNewConnectLink(w http.ResponseWriter, r *http.Request) {
	if err := s.connectConfigured(); err != nil {
		s.writeError(w, r, err)
		return
	}
	var in struct {
		connectInput
		Workspace string   `json:"workspace"`
		Providers []string `json:"providers"`
		Name      string   `json:"name"`
	}
	if err := s.decode(w, r, &in); err != nil {
		s.writeError(w, r, err)
		return
	}
	ws, err := s.workspace(r.Context(), in.Workspace)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	c, err := s.cfg.Connect.CreateNew(r.Context(), principalFrom(r.Context()).actor(), ws, connect.NewInput{
		Input: connect.Input{ExpiresIn: in.ExpiresIn, ReturnURL: in.ReturnURL}, Providers: in.Providers, Name: in.Name})
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.writeCreatedLink(w, c)
}

// writeCreatedLink answers a creation: the link and, this once, its URL.
func (s *Server) writeCreatedLink(w http.ResponseWriter, c connect.Created) {
	v := s.connectLinkView(c.Link)
	v["url"] = c.URL
	writeJSON(w, http.StatusCreated, v)
}

func (s *Server) listIntegrationConnectLinks(w http.ResponseWriter, r *http.Request) {
	if err := s.connectConfigured(); err != nil {
		s.writeError(w, r, err)
		return
	}
	integ, err := s.integration(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.listLinks(w, r, store.ConnectLinkPage{WorkspaceID: integ.WorkspaceID, IntegrationID: integ.ID})
}

func (s *Server) listConnectLinks(w http.ResponseWriter, r *http.Request) {
	if err := s.connectConfigured(); err != nil {
		s.writeError(w, r, err)
		return
	}
	ws, err := s.workspace(r.Context(), r.URL.Query().Get("workspace"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.listLinks(w, r, store.ConnectLinkPage{WorkspaceID: ws.ID})
}

// listLinks answers page p (limit and after from the query) as
// {"links":[…],"next"}.
func (s *Server) listLinks(w http.ResponseWriter, r *http.Request, p store.ConnectLinkPage) {
	q := r.URL.Query()
	limit, err := pageLimit(q.Get("limit"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	p.After, p.Limit = q.Get("after"), limit+1
	list, err := s.cfg.Connect.List(r.Context(), p)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	out := map[string]any{}
	if len(list) > limit {
		list = list[:limit]
		out["next"] = list[limit-1].ID
	}
	views := make([]map[string]any, 0, len(list))
	for _, l := range list {
		views = append(views, s.connectLinkView(l))
	}
	out["links"] = views
	writeJSON(w, http.StatusOK, out)
}

// connectLink loads the link named by the path that the caller may see;
// a deleted link is as unknown as a missing one.
func (s *Server) connectLink(r *http.Request) (store.ConnectLink, error) {
	if err := s.connectConfigured(); err != nil {
		return store.ConnectLink{}, err
	}
	id := r.PathValue("id")
	l, err := s.cfg.Connect.Get(r.Context(), id)
	if errors.Is(err, store.ErrNotFound) || (err == nil && (!Visible(principalFrom(r.Context()).token, l.WorkspaceID) || !l.DeletedAt.IsZero())) {
		return store.ConnectLink{}, problem.NotFound("connect link", id)
	}
	return l, err
}

func (s *Server) getConnectLink(w http.ResponseWriter, r *http.Request) {
	l, err := s.connectLink(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, s.connectLinkView(l))
}

func (s *Server) deleteConnectLink(w http.ResponseWriter, r *http.Request) {
	l, err := s.connectLink(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if err := s.cfg.Connect.Delete(r.Context(), principalFrom(r.Context()).actor(), l); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			err = problem.NotFound("connect link", l.ID)
		}
		s.writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// connectLinkView is a link as the API shows it: never its secret.
func (s *Server) connectLinkView(l store.ConnectLink) map[string]any {
	v := map[string]any{
		"id": l.ID, "workspace": l.WorkspaceID, "integration": nullable(l.IntegrationID),
		"created_at": rfc3339(l.CreatedAt), "expires_at": rfc3339(l.ExpiresAt), "used_at": rfc3339(l.UsedAt),
		"created_by": l.CreatedBy, "return_url": nullable(l.ReturnURL), "state": s.cfg.Connect.State(l),
		"failed_attempts": l.Failures,
	}
	if l.Creates() {
		v["providers"], v["name"] = l.Providers, l.Name
	}
	return v
}

func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}
