package api

import (
	"encoding/json"
	"time"

	"github.com/stormcreds/storm/internal/audit"
	"github.com/stormcreds/storm/internal/store"
)

// rfc3339 renders a time for JSON: RFC 3339 UTC, or null when zero.
func rfc3339(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UTC().Format(time.RFC3339)
}

func workspaceView(w store.Workspace) map[string]any {
	return map[string]any{"id": w.ID, "name": w.Name, "created_at": rfc3339(w.CreatedAt)}
}

func integrationView(in store.Integration, wsName string) map[string]any {
	cfg := json.RawMessage(in.Config)
	if len(cfg) == 0 {
		cfg = json.RawMessage("{}")
	}
	var app any
	if in.AppID != "" {
		app = in.AppID
	}
	return map[string]any{
		"id": in.ID, "workspace": in.WorkspaceID, "workspace_name": wsName, "name": in.Name,
		"provider": in.Provider, "auth_method": in.AuthMethod, "config": cfg, "app": app,
		"status": in.Status, "status_reason": in.StatusReason,
		"created_at": rfc3339(in.CreatedAt), "updated_at": rfc3339(in.UpdatedAt),
		"last_verified_at": rfc3339(in.LastVerifiedAt), "last_used_at": rfc3339(in.LastUsedAt),
	}
}

func (s *Server) credentialView(integ store.Integration, c store.Credential) map[string]any {
	v := map[string]any{
		"id": c.ID, "integration": c.IntegrationID, "version": c.Version, "state": c.State,
		"hint": c.Hint, "fingerprint": c.Fingerprint,
		"created_at": rfc3339(c.CreatedAt), "verified_at": rfc3339(c.VerifiedAt),
		"expires_at": rfc3339(c.ExpiresAt), "revoked_at": rfc3339(c.RevokedAt),
		"key_age_days": int(s.now().Sub(c.CreatedAt).Hours() / 24),
	}
	if w := s.cfg.Creds.Warnings(integ, c); len(w) > 0 {
		v["warnings"] = w
	}
	return v
}

func eventView(e store.Event) map[string]any {
	data := json.RawMessage(e.Data)
	if len(data) == 0 {
		data = json.RawMessage("{}")
	}
	return map[string]any{"id": e.ID, "type": e.Type, "integration": e.IntegrationID, "workspace": e.WorkspaceID, "at": rfc3339(e.At), "data": data}
}

// auditView is an audit record with its place in the hash chain. "at"
// keeps the microseconds the hash covers (audit.TimeLayout), so an
// exported entry can be verified from its JSON alone.
func auditView(a store.AuditRecord) map[string]any {
	var at any
	if !a.At.IsZero() {
		at = audit.FormatTime(a.At)
	}
	v := map[string]any{"id": a.ID, "workspace": a.WorkspaceID, "actor": a.Actor, "action": a.Action, "target": a.Target, "at": at, "ip": a.IP,
		"seq": a.Seq, "prev_hash": a.PrevHash, "hash": a.Hash}
	if len(a.Detail) > 0 {
		v["detail"] = json.RawMessage(a.Detail)
	}
	return v
}
