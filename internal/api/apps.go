package api

import (
	"encoding/json"
	"errors"
	"net/http"

	"github.com/stormcreds/storm/internal/apps"
	"github.com/stormcreds/storm/internal/problem"
	"github.com/stormcreds/storm/internal/store"
)

// App endpoints (shared/API.md "Apps"): /v1/apps, /v1/apps/{id},
// /v1/apps/{id}/secrets[/{secret_id}/revoke], /v1/apps/{id}/adopt and
// /v1/apps/{id}/integrations. No answer ever holds a client secret.

func (s *Server) appsConfigured() error {
	if s.cfg.Apps == nil {
		return problem.New(http.StatusNotFound, "apps are not available on this server")
	}
	return nil
}

// maxAdopt bounds the integrations one adopt call names.
const maxAdopt = 1000

func (s *Server) createApp(w http.ResponseWriter, r *http.Request) {
	if err := s.appsConfigured(); err != nil {
		s.writeError(w, r, err)
		return
	}
	var in struct {
		Workspace       string         `json:"workspace"`
		Name            string         `json:"name"`
		Provider        string         `json:"provider"`
		AuthMethod      string         `json:"auth_method"`
		Config          map[string]any `json:"config"`
		FromIntegration string         `json:"from_integration"`
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
	ci := apps.CreateInput{Name: in.Name, Provider: in.Provider, AuthMethod: in.AuthMethod, Config: in.Config}
	if in.FromIntegration != "" {
		integ, err := s.cfg.Store.GetIntegration(r.Context(), in.FromIntegration)
		if errors.Is(err, store.ErrNotFound) || (err == nil && integ.WorkspaceID != ws.ID) {
			s.writeError(w, r, problem.Field("from_integration", "no such integration in this workspace"))
			return
		}
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		ci.From = &integ
	}
	a, secrets, err := s.cfg.Apps.Create(r.Context(), principalFrom(r.Context()).actor(), ws, ci)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, appView(a, ws.Name, secrets))
}

func (s *Server) listApps(w http.ResponseWriter, r *http.Request) {
	if err := s.appsConfigured(); err != nil {
		s.writeError(w, r, err)
		return
	}
	q := r.URL.Query()
	limit, err := pageLimit(q.Get("limit"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	ws, err := s.workspace(r.Context(), q.Get("workspace"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	list, err := s.cfg.Store.ListApps(r.Context(), store.AppPage{WorkspaceID: ws.ID, After: q.Get("after"), Limit: limit + 1})
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
	for _, a := range list {
		secrets, err := s.cfg.Store.ListAppSecrets(r.Context(), a.ID)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		views = append(views, appView(a, ws.Name, secrets))
	}
	out["apps"] = views
	writeJSON(w, http.StatusOK, out)
}

// app loads the app named by the path that the caller may see.
func (s *Server) app(r *http.Request) (store.App, error) {
	if err := s.appsConfigured(); err != nil {
		return store.App{}, err
	}
	id := r.PathValue("id")
	a, err := s.cfg.Store.GetApp(r.Context(), id)
	if errors.Is(err, store.ErrNotFound) || (err == nil && !Visible(principalFrom(r.Context()).token, a.WorkspaceID)) {
		return store.App{}, problem.NotFound("app", id)
	}
	return a, err
}

func (s *Server) respondApp(w http.ResponseWriter, r *http.Request, status int, a store.App) {
	secrets, err := s.cfg.Store.ListAppSecrets(r.Context(), a.ID)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	name := ""
	if ws, err := s.cfg.Store.GetWorkspace(r.Context(), a.WorkspaceID); err == nil {
		name = ws.Name
	}
	writeJSON(w, status, appView(a, name, secrets))
}

func (s *Server) getApp(w http.ResponseWriter, r *http.Request) {
	a, err := s.app(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.respondApp(w, r, http.StatusOK, a)
}

func (s *Server) updateApp(w http.ResponseWriter, r *http.Request) {
	a, err := s.app(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	var in struct {
		Name   *string        `json:"name"`
		Config map[string]any `json:"config"`
	}
	if err := s.decode(w, r, &in); err != nil {
		s.writeError(w, r, err)
		return
	}
	updated, err := s.cfg.Apps.Update(r.Context(), principalFrom(r.Context()).actor(), a.ID, apps.UpdateInput{Name: in.Name, Config: in.Config})
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.respondApp(w, r, http.StatusOK, updated)
}

func (s *Server) deleteApp(w http.ResponseWriter, r *http.Request) {
	a, err := s.app(r)
	if err == nil {
		err = s.cfg.Apps.Delete(r.Context(), principalFrom(r.Context()).actor(), a)
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) listAppSecrets(w http.ResponseWriter, r *http.Request) {
	a, err := s.app(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	limit, after, err := pageParams(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	secrets, err := s.cfg.Store.PageAppSecrets(r.Context(), store.VersionPage{Parent: a.ID, After: after, Limit: limit + 1})
	if errors.Is(err, store.ErrNotFound) {
		err = problem.Field("after", "no such secret of this app")
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	page := map[string]any{}
	secrets = trimPage(secrets, limit, func(x store.AppSecret) string { return x.ID }, page)
	out := make([]map[string]any, 0, len(secrets))
	for _, x := range secrets {
		out = append(out, appSecretView(x))
	}
	page["secrets"] = out
	writeJSON(w, http.StatusOK, page)
}

func (s *Server) addAppSecret(w http.ResponseWriter, r *http.Request) {
	a, err := s.app(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	var in struct {
		ClientSecret   *string `json:"client_secret"`
		ConsumerSecret *string `json:"consumer_secret"`
	}
	if err := s.decode(w, r, &in); err != nil {
		s.writeError(w, r, err)
		return
	}
	field, value := "client_secret", in.ClientSecret
	if a.AuthMethod == apps.MethodOAuth1 && value == nil {
		field, value = "consumer_secret", in.ConsumerSecret
	}
	if value == nil {
		s.writeError(w, r, problem.Field(field, "is required (the new secret, as the provider issued it)"))
		return
	}
	x, err := s.cfg.Apps.AddSecret(r.Context(), principalFrom(r.Context()).actor(), a.ID, *value)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, appSecretView(x))
}

func (s *Server) revokeAppSecret(w http.ResponseWriter, r *http.Request) {
	a, err := s.app(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	x, err := s.cfg.Apps.RevokeSecret(r.Context(), principalFrom(r.Context()).actor(), a.ID, r.PathValue("secret_id"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, appSecretView(x))
}

func (s *Server) adoptIntoApp(w http.ResponseWriter, r *http.Request) {
	a, err := s.app(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	var in struct {
		Integrations []string `json:"integrations"`
	}
	if r.ContentLength != 0 {
		if err := s.decode(w, r, &in); err != nil {
			s.writeError(w, r, err)
			return
		}
	}
	if len(in.Integrations) > maxAdopt {
		s.writeError(w, r, problem.Field("integrations", "at most 1000 per call"))
		return
	}
	res, err := s.cfg.Apps.Adopt(r.Context(), principalFrom(r.Context()).actor(), a, in.Integrations)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	cur, err := s.cfg.Store.GetApp(r.Context(), a.ID)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	secrets, err := s.cfg.Store.ListAppSecrets(r.Context(), a.ID)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	adopted, skipped := res.Adopted, res.Skipped
	if adopted == nil {
		adopted = []string{}
	}
	if skipped == nil {
		skipped = []apps.Skipped{}
	}
	name := ""
	if ws, err := s.cfg.Store.GetWorkspace(r.Context(), a.WorkspaceID); err == nil {
		name = ws.Name
	}
	writeJSON(w, http.StatusOK, map[string]any{"adopted": adopted, "skipped": skipped, "app": appView(cur, name, secrets)})
}

func (s *Server) listAppIntegrations(w http.ResponseWriter, r *http.Request) {
	a, err := s.app(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	limit, after, err := pageParams(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	list, err := s.cfg.Store.PageIntegrations(r.Context(), store.ListPage{AppID: a.ID, After: after, Limit: limit + 1})
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	name := ""
	if ws, err := s.cfg.Store.GetWorkspace(r.Context(), a.WorkspaceID); err == nil {
		name = ws.Name
	}
	page := map[string]any{}
	list = trimPage(list, limit, func(in store.Integration) string { return in.ID }, page)
	out := make([]map[string]any, 0, len(list))
	for _, in := range list {
		out = append(out, integrationView(in, name))
	}
	page["integrations"] = out
	writeJSON(w, http.StatusOK, page)
}

// appView is an app as answers show it: its config with the secret
// masked (present while the app holds an unrevoked secret), never a
// secret itself.
func appView(a store.App, wsName string, secrets []store.AppSecret) map[string]any {
	cfg, err := apps.Decode(a.Config)
	if err != nil {
		cfg = map[string]any{}
	}
	var active any
	for _, x := range secrets {
		if x.State == store.StateActive {
			cfg[apps.SecretKey(a.AuthMethod)] = apps.Mask
			active = map[string]any{"id": x.ID, "hint": x.Hint, "version": x.Version}
		}
	}
	delete(cfg, "legacy_registration") // migration 0012's marker, until Storm converts it
	raw, _ := json.Marshal(cfg)
	v := map[string]any{
		"id": a.ID, "workspace": a.WorkspaceID, "workspace_name": wsName, "name": a.Name,
		"provider": a.Provider, "auth_method": a.AuthMethod, "config": json.RawMessage(raw), "origin": a.Origin,
		"integrations": a.Integrations, "active_secret": active,
		"created_at": rfc3339(a.CreatedAt), "updated_at": rfc3339(a.UpdatedAt),
	}
	if apps.IsRegistered(a) {
		// Where Storm registered the client (RFC 7591).
		v["issuer"], v["redirect_uri"] = a.Issuer, a.RedirectURI
	}
	return v
}

// appSecretView is one client secret version: its hint and history,
// never the secret.
func appSecretView(x store.AppSecret) map[string]any {
	return map[string]any{
		"id": x.ID, "app": x.AppID, "version": x.Version, "state": x.State, "hint": x.Hint,
		"created_at": rfc3339(x.CreatedAt), "last_used_at": rfc3339(x.LastUsedAt),
		"last_rejected_at": rfc3339(x.LastRejectedAt), "revoked_at": rfc3339(x.RevokedAt),
	}
}
