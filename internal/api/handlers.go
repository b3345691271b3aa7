package api

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/stormcreds/storm/internal/catalog"
	"github.com/stormcreds/storm/internal/creds"
	"github.com/stormcreds/storm/internal/methods/serviceaccount"
	"github.com/stormcreds/storm/internal/problem"
	"github.com/stormcreds/storm/internal/proxy"
	"github.com/stormcreds/storm/internal/store"
)

var workspaceName = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,62}$`)

func (s *Server) createWorkspace(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Name string `json:"name"`
	}
	if err := s.decode(w, r, &in); err != nil {
		s.writeError(w, r, err)
		return
	}
	if !workspaceName.MatchString(in.Name) || strings.HasPrefix(in.Name, "ws_") {
		s.writeError(w, r, problem.Field("name", "must be 1–63 lowercase letters, digits, '-' or '_', starting with a letter or digit, and not start with ws_"))
		return
	}
	ws := store.Workspace{ID: store.NewID("ws"), Name: in.Name, CreatedAt: s.now().UTC()}
	if err := s.cfg.Store.CreateWorkspace(r.Context(), ws); err != nil {
		if errors.Is(err, store.ErrConflict) {
			err = problem.New(http.StatusConflict, "workspace %q already exists", in.Name)
		}
		s.writeError(w, r, err)
		return
	}
	s.cfg.Recorder.Audit(r.Context(), principalFrom(r.Context()).actor(), ws.ID, "workspace.create", ws.ID, map[string]any{"name": ws.Name})
	writeJSON(w, http.StatusCreated, workspaceView(ws))
}

// listWorkspaces answers GET /v1/workspaces[?limit=&after=]: every
// workspace for an admin, in pages in id order; the caller's own for
// everyone else.
func (s *Server) listWorkspaces(w http.ResponseWriter, r *http.Request) {
	limit, after, err := pageParams(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	var list []store.Workspace
	if principalFrom(r.Context()).admin() {
		list, err = s.cfg.Store.PageWorkspaces(r.Context(), store.ListPage{After: after, Limit: limit + 1})
	} else {
		var ws store.Workspace
		if ws, err = s.workspace(r.Context(), ""); err == nil && ws.ID > after {
			list = []store.Workspace{ws}
		}
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	out := map[string]any{}
	list = trimPage(list, limit, func(ws store.Workspace) string { return ws.ID }, out)
	views := make([]map[string]any, 0, len(list))
	for _, ws := range list {
		views = append(views, workspaceView(ws))
	}
	out["workspaces"] = views
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) createToken(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Name      string `json:"name"`
		Workspace string `json:"workspace"`
		Role      string `json:"role"`
	}
	if err := s.decode(w, r, &in); err != nil {
		s.writeError(w, r, err)
		return
	}
	var fields []problem.FieldError
	if strings.TrimSpace(in.Name) == "" || len(in.Name) > 200 {
		fields = append(fields, problem.FieldError{Field: "name", Message: "is required (at most 200 bytes)"})
	}
	if !ValidRole(in.Role) {
		fields = append(fields, problem.FieldError{Field: "role", Message: "must be one of admin, editor, worker, viewer"})
	}
	if in.Role == store.RoleAdmin && in.Workspace != "" {
		// An admin token spans every workspace whatever it names, so a
		// workspace here would promise a limit that does not exist.
		fields = append(fields, problem.FieldError{Field: "workspace", Message: "an admin token spans every workspace: leave workspace out, or use role editor for a token limited to one workspace"})
	}
	if fields != nil {
		s.writeError(w, r, problem.Invalid("the token request is not valid", fields...))
		return
	}
	ws, err := s.workspace(r.Context(), in.Workspace)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	token, hash := NewToken()
	t := store.APIToken{ID: store.NewID("tok"), Name: in.Name, WorkspaceID: ws.ID, Role: in.Role, Hash: hash, CreatedAt: s.now().UTC()}
	if err := s.cfg.Store.CreateAPIToken(r.Context(), t); err != nil {
		s.writeError(w, r, err)
		return
	}
	s.cfg.Recorder.Audit(r.Context(), principalFrom(r.Context()).actor(), ws.ID, "token.create", t.ID, map[string]any{"name": t.Name, "role": t.Role})
	writeJSON(w, http.StatusCreated, map[string]any{"id": t.ID, "name": t.Name, "token": token, "role": t.Role, "workspace": ws.ID, "workspace_name": ws.Name, "created_at": rfc3339(t.CreatedAt)})
}

func (s *Server) deleteToken(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	t, err := s.cfg.Store.GetAPIToken(r.Context(), id)
	if err == nil {
		err = s.cfg.Store.DeleteAPIToken(r.Context(), id)
	}
	if errors.Is(err, store.ErrNotFound) {
		err = problem.NotFound("token", id)
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.tokens.forget(id)
	s.cfg.Recorder.Audit(r.Context(), principalFrom(r.Context()).actor(), t.WorkspaceID, "token.delete", id, nil)
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) createIntegration(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Workspace  string         `json:"workspace"`
		Name       string         `json:"name"`
		Provider   string         `json:"provider"`
		AuthMethod string         `json:"auth_method"`
		Config     map[string]any `json:"config"`
		App        string         `json:"app"`
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
	integ, err := s.cfg.Creds.CreateIntegration(r.Context(), principalFrom(r.Context()).actor(), ws,
		creds.CreateInput{Name: in.Name, Provider: in.Provider, AuthMethod: in.AuthMethod, Config: in.Config, App: in.App})
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	v := integrationView(integ, ws.Name)
	// What the operator should know at once; the integration is stored.
	if warns := s.cfg.Creds.IntegrationWarnings(integ); len(warns) > 0 {
		v["warnings"] = warns
	}
	writeJSON(w, http.StatusCreated, v)
}

// listIntegrations answers GET /v1/integrations[?workspace=&limit=&after=]
// in pages in id order.
// integrationStatuses are the values of GET /v1/integrations?status=.
var integrationStatuses = []string{store.StatusConnected, store.StatusDegraded, store.StatusReconnectRequired, store.StatusPending, store.StatusDisabled}

func (s *Server) listIntegrations(w http.ResponseWriter, r *http.Request) {
	limit, after, err := pageParams(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	ws, err := s.workspace(r.Context(), r.URL.Query().Get("workspace"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	status := r.URL.Query().Get("status")
	if status != "" && !slices.Contains(integrationStatuses, status) {
		s.writeError(w, r, problem.Field("status", "must be one of "+strings.Join(integrationStatuses, ", ")))
		return
	}
	list, err := s.cfg.Store.PageIntegrations(r.Context(), store.ListPage{WorkspaceID: ws.ID, Status: status, After: after, Limit: limit + 1})
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	out := map[string]any{}
	list = trimPage(list, limit, func(in store.Integration) string { return in.ID }, out)
	views := make([]map[string]any, 0, len(list))
	for _, in := range list {
		views = append(views, integrationView(in, ws.Name))
	}
	out["integrations"] = views
	writeJSON(w, http.StatusOK, out)
}

// respondIntegration writes integ with its workspace name.
func (s *Server) respondIntegration(w http.ResponseWriter, r *http.Request, status int, integ store.Integration) {
	name := ""
	if ws, err := s.cfg.Store.GetWorkspace(r.Context(), integ.WorkspaceID); err == nil {
		name = ws.Name
	}
	writeJSON(w, status, integrationView(integ, name))
}

func (s *Server) getIntegration(w http.ResponseWriter, r *http.Request) {
	integ, err := s.integration(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.respondIntegration(w, r, http.StatusOK, integ)
}

func (s *Server) updateIntegration(w http.ResponseWriter, r *http.Request) {
	integ, err := s.integration(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	var in struct {
		Name     *string        `json:"name"`
		Config   map[string]any `json:"config"`
		Status   *string        `json:"status"`
		Disabled *bool          `json:"disabled"`
	}
	if err := s.decode(w, r, &in); err != nil {
		s.writeError(w, r, err)
		return
	}
	upd := creds.UpdateInput{Name: in.Name, Config: in.Config, Disabled: in.Disabled}
	if in.Status != nil {
		// Only a person's on/off switch is settable; every other status
		// is Storm's conclusion from verification and use.
		disabled := *in.Status == store.StatusDisabled
		if !disabled && *in.Status != "enabled" {
			s.writeError(w, r, problem.Field("status", `can only be set to "disabled" or "enabled"`))
			return
		}
		upd.Disabled = &disabled
	}
	updated, err := s.cfg.Creds.UpdateIntegration(r.Context(), principalFrom(r.Context()).actor(), integ.ID, upd)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	name := ""
	if ws, err := s.cfg.Store.GetWorkspace(r.Context(), updated.WorkspaceID); err == nil {
		name = ws.Name
	}
	v := integrationView(updated, name)
	if warns := s.cfg.Creds.IntegrationWarnings(updated); len(warns) > 0 {
		v["warnings"] = warns
	}
	writeJSON(w, http.StatusOK, v)
}

func (s *Server) deleteIntegration(w http.ResponseWriter, r *http.Request) {
	integ, err := s.integration(r)
	if err == nil {
		err = s.cfg.Creds.DeleteIntegration(r.Context(), principalFrom(r.Context()).actor(), integ)
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) saveCredential(w http.ResponseWriter, r *http.Request) {
	integ, err := s.integration(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	skip, err := verifyParam(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	in, err := s.saveInput(w, r, integ)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	in.SkipVerify = skip
	cred, err := s.cfg.Creds.Save(r.Context(), principalFrom(r.Context()).actor(), integ, in)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, s.credentialView(integ, cred))
}

// saveInput reads a Save body: JSON ({"api_key"} or a service account's
// fields), or multipart/form-data with the credentials file in the part
// named "file" (at most 64 KiB) and other fields as form values.
func (s *Server) saveInput(w http.ResponseWriter, r *http.Request, integ store.Integration) (creds.SaveInput, error) {
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if mt == "multipart/form-data" {
		return ReadUpload(w, r)
	}
	var body map[string]json.RawMessage
	if err := s.decode(w, r, &body); err != nil {
		return creds.SaveInput{}, err
	}
	switch integ.AuthMethod {
	case catalog.MethodAPIKey:
		v, err := stringFields(body, "an API-key credential", "api_key")
		if err != nil {
			return creds.SaveInput{}, err
		}
		return creds.SaveInput{APIKey: v[0]}, nil
	case catalog.MethodBasic:
		v, err := stringFields(body, "a Basic credential", "username", "password")
		if err != nil {
			return creds.SaveInput{}, err
		}
		return creds.SaveInput{Username: v[0], Password: v[1]}, nil
	case catalog.MethodOAuth1:
		v, err := stringFields(body, "OAuth 1.0a token credentials", "token", "token_secret")
		if err != nil {
			return creds.SaveInput{}, err
		}
		return creds.SaveInput{Token: v[0], TokenSecret: v[1]}, nil
	}
	return creds.SaveInput{Body: body}, nil
}

// stringFields reads a Save body of exactly the named string fields.
func stringFields(body map[string]json.RawMessage, what string, names ...string) ([]string, error) {
	for k := range body {
		if !slices.Contains(names, k) {
			return nil, problem.Field(k, "unknown field ("+what+" takes only "+strings.Join(names, ", ")+")")
		}
	}
	out := make([]string, len(names))
	for i, n := range names {
		if raw, ok := body[n]; !ok || json.Unmarshal(raw, &out[i]) != nil {
			return nil, problem.Field(n, "is required (a string)")
		}
	}
	return out, nil
}

// ReadUpload reads a multipart/form-data Save body as PUT
// /v1/integrations/{id}/credentials takes it: the credentials file in the
// part named "file" (at most 64 KiB) and the other parts as form fields.
// The web UI's setup dialog posts the same shape. On error it also
// returns the fields read before the problem, so the UI can still check
// the form's CSRF token; the input itself must not be used.
func ReadUpload(w http.ResponseWriter, r *http.Request) (creds.SaveInput, error) {
	const maxFile = serviceaccount.MaxFileSize
	r.Body = http.MaxBytesReader(w, r.Body, maxFile+16<<10)
	mr, err := r.MultipartReader()
	if err != nil {
		return creds.SaveInput{}, problem.New(http.StatusBadRequest, "malformed multipart body: %v", err)
	}
	in := creds.SaveInput{Form: map[string]string{}}
	for parts := 0; ; parts++ {
		part, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		var maxErr *http.MaxBytesError
		if errors.As(err, &maxErr) {
			return in, problem.New(http.StatusRequestEntityTooLarge, "the upload is larger than %d bytes", maxFile)
		}
		if err != nil || parts >= 16 {
			return in, problem.New(http.StatusBadRequest, "malformed multipart body")
		}
		b, err := io.ReadAll(io.LimitReader(part, maxFile+1))
		if errors.As(err, &maxErr) || len(b) > maxFile {
			return in, problem.New(http.StatusRequestEntityTooLarge, "the file is larger than %d bytes", maxFile)
		}
		if err != nil {
			return in, problem.New(http.StatusBadRequest, "malformed multipart body")
		}
		switch name := part.FormName(); name {
		case "file":
			in.File = b
		case "":
			return in, problem.New(http.StatusBadRequest, "a multipart part has no name")
		default:
			in.Form[name] = string(b)
		}
	}
	if in.File == nil {
		return in, problem.Field("file", "is required: upload the credentials file in a part named file")
	}
	return in, nil
}

// verifyParam reads ?verify=: true by default.
func verifyParam(r *http.Request) (skip bool, err error) {
	v := r.URL.Query().Get("verify")
	if v == "" {
		return false, nil
	}
	b, perr := strconv.ParseBool(v)
	if perr != nil {
		return false, problem.Field("verify", "must be true or false")
	}
	return !b, nil
}

// listCredentials answers GET /v1/integrations/{id}/credentials
// [?limit=&after=]: the versions in pages, oldest first. after must name
// one of the integration's versions.
func (s *Server) listCredentials(w http.ResponseWriter, r *http.Request) {
	integ, err := s.integration(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	limit, after, err := pageParams(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	list, err := s.cfg.Store.PageCredentials(r.Context(), store.VersionPage{Parent: integ.ID, After: after, Limit: limit + 1})
	if errors.Is(err, store.ErrNotFound) {
		err = problem.Field("after", "no such credential of this integration")
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	out := map[string]any{}
	list = trimPage(list, limit, func(c store.Credential) string { return c.ID }, out)
	views := make([]map[string]any, 0, len(list))
	for _, c := range list {
		views = append(views, s.credentialView(integ, c))
	}
	out["credentials"] = views
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) revokeCredential(w http.ResponseWriter, r *http.Request) {
	integ, err := s.integration(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	cred, err := s.cfg.Creds.Revoke(r.Context(), principalFrom(r.Context()).actor(), integ, r.PathValue("cred_id"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, s.credentialView(integ, cred))
}

func (s *Server) verify(w http.ResponseWriter, r *http.Request) {
	integ, err := s.integration(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	res, err := s.cfg.Creds.Verify(r.Context(), principalFrom(r.Context()).actor(), integ)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if res.Checked() { // nothing was sent otherwise: neither a success nor a failure
		s.metrics.verifications.WithLabelValues(strconv.FormatBool(res.OK)).Inc()
	}
	writeJSON(w, http.StatusOK, creds.VerifyView(res))
}

func (s *Server) access(w http.ResponseWriter, r *http.Request) {
	integ, err := s.usedIntegration(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	a, err := s.cfg.Creds.Access(r.Context(), principalFrom(r.Context()).actor(), integ)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, a)
}

func (s *Server) proxy(w http.ResponseWriter, r *http.Request) {
	via, t, authMethod, provider, ok := s.proxyTarget(w, r)
	if !ok {
		return
	}
	if r.Body != http.NoBody { // the server's body of a request without one
		r.Body = http.MaxBytesReader(w, r.Body, s.cfg.MaxProxyBodyBytes)
	}
	rec, ok := w.(*statusRecorder) // instrument's, for every route
	if !ok {
		rec = newStatusRecorder(w, r)
	}
	start := rec.start
	defer func() { s.metrics.observeProxied(authMethod, provider, rec.code, time.Since(start)) }()
	via.ServeTarget(rec, r, t)
}

// proxyTarget returns where r goes, with what, and the integration's
// metric labels (its auth method and provider); or it answers r with why
// r cannot go and returns ok false. Apart from proxy so that its frame
// (the integration, the credential, the audit record) is off the stack
// before the exchange starts: see admit.
func (s *Server) proxyTarget(w http.ResponseWriter, r *http.Request) (via *proxy.Proxy, t proxy.Target, authMethod, provider string, ok bool) {
	integ, err := s.usedIntegration(r)
	if err != nil {
		s.writeError(w, r, err)
		return nil, proxy.Target{}, "", "", false
	}
	escaped := r.URL.EscapedPath()
	via, t, err = s.cfg.Creds.ProxyTarget(r.Context(), principalFrom(r.Context()).actor(), &integ, proxyPath(escaped), r.URL.RawQuery)
	if err != nil {
		s.writeError(w, r, err)
		return nil, proxy.Target{}, "", "", false
	}
	t.Exact = !strings.Contains(escaped, "/proxy/")
	return via, t, integ.AuthMethod, integ.Provider, true
}

// proxyPath is the caller's path after /proxy/, still escaped (raw is
// url.URL.EscapedPath), so the proxy judges exactly what was sent.
func proxyPath(raw string) string {
	const marker = "/proxy/"
	if i := strings.Index(raw, marker); i >= 0 {
		return raw[i+len(marker):]
	}
	return ""
}

// page reads the log query parameters. An admin who names no workspace
// sees every workspace's entries; everyone else sees their own.
func (s *Server) page(r *http.Request) (store.Page, error) {
	q := r.URL.Query()
	p := store.Page{After: q.Get("after"), Limit: 100}
	if q.Get("workspace") != "" || !principalFrom(r.Context()).admin() {
		ws, err := s.workspace(r.Context(), q.Get("workspace"))
		if err != nil {
			return store.Page{}, err
		}
		p.WorkspaceID = ws.ID
	}
	if l := q.Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 || n > 1000 {
			return store.Page{}, problem.Field("limit", "must be a number from 1 to 1000")
		}
		p.Limit = n
	}
	return p, nil
}

// listEvents answers GET /v1/events[?workspace=&integration=&limit=&after=]
// in pages, oldest first; after must name an event.
func (s *Server) listEvents(w http.ResponseWriter, r *http.Request) {
	p, err := s.page(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	// The workspace filter already keeps other workspaces' events out.
	p.IntegrationID = r.URL.Query().Get("integration")
	limit := p.Limit
	p.Limit++
	list, err := s.cfg.Store.ListEvents(r.Context(), p)
	if errors.Is(err, store.ErrNotFound) {
		err = problem.Field("after", "no such event")
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	out := map[string]any{}
	list = trimPage(list, limit, func(e store.Event) string { return e.ID }, out)
	views := make([]map[string]any, 0, len(list))
	for _, e := range list {
		views = append(views, eventView(e))
	}
	out["events"] = views
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) listAudit(w http.ResponseWriter, r *http.Request) {
	p, err := s.page(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	// Answered secret reads still in the journal first.
	if err := s.cfg.Recorder.SettleReads(r.Context()); err != nil {
		s.writeError(w, r, err)
		return
	}
	// One more than asked says whether there is a next page.
	limit := p.Limit
	p.Limit++
	list, err := s.cfg.Store.ListAudit(r.Context(), p)
	if errors.Is(err, store.ErrNotFound) {
		err = problem.Field("after", "no such audit record")
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	body := map[string]any{}
	if len(list) > limit {
		list = list[:limit]
		body["next"] = list[limit-1].ID
	}
	out := make([]map[string]any, 0, len(list))
	names := map[string]string{}
	for _, a := range list {
		v := auditView(a)
		if n := s.actorName(r.Context(), a.Actor, names); n != "" {
			v["actor_name"] = n
		}
		out = append(out, v)
	}
	body["audit"] = out
	writeJSON(w, http.StatusOK, body)
}

// actorName is the name of the API token an audit record names as its
// actor, so people read "bootstrap admin" rather than an id ("connect
// link from bootstrap admin" for a link); "" once the token is deleted.
// names caches lookups for one listing.
func (s *Server) actorName(ctx context.Context, actor string, names map[string]string) string {
	if n, ok := names[actor]; ok {
		return n
	}
	n := ""
	switch {
	case strings.HasPrefix(actor, "tok_"):
		if t, err := s.cfg.Store.GetAPIToken(ctx, actor); err == nil {
			n = t.Name
		}
	case strings.HasPrefix(actor, "cnl_"):
		// A connect link acts for the token that created it.
		if l, err := s.cfg.Store.GetConnectLink(ctx, actor); err == nil {
			n = "connect link"
			if by := s.actorName(ctx, l.CreatedBy, names); by != "" {
				n += " from " + by
			}
		}
	}
	names[actor] = n
	return n
}
