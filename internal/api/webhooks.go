package api

import (
	"errors"
	"net/http"
	"net/url"

	"github.com/stormcreds/storm/internal/problem"
	"github.com/stormcreds/storm/internal/store"
)

// Webhook endpoints (POST/GET /v1/webhooks, GET/DELETE /v1/webhooks/{id},
// POST /v1/webhooks/{id}/enable, GET /v1/webhooks/{id}/deliveries).
// Delivery itself is internal/webhooks' Dispatcher.

func (s *Server) webhooksConfigured() error {
	if s.cfg.Webhooks == nil {
		return problem.New(http.StatusNotFound, "webhooks are not available on this server")
	}
	return nil
}

func (s *Server) createWebhook(w http.ResponseWriter, r *http.Request) {
	if err := s.webhooksConfigured(); err != nil {
		s.writeError(w, r, err)
		return
	}
	var in struct {
		URL       string   `json:"url"`
		Events    []string `json:"events"`
		Workspace string   `json:"workspace"`
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
	hook, secret, err := s.cfg.Webhooks.Create(r.Context(), ws.ID, in.URL, in.Events)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.cfg.Recorder.Audit(r.Context(), principalFrom(r.Context()).actor(), ws.ID, "webhook.create", hook.ID,
		map[string]any{"host": urlHost(hook.URL), "events": eventTypes(hook)})
	v := webhookView(hook)
	v["secret"] = secret // shown only here
	writeJSON(w, http.StatusCreated, v)
}

// listWebhooks answers GET /v1/webhooks[?workspace=&limit=&after=] in
// pages in id order. An admin who names no workspace sees every
// workspace's webhooks.
func (s *Server) listWebhooks(w http.ResponseWriter, r *http.Request) {
	limit, after, err := pageParams(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	var wsID string
	if ref := r.URL.Query().Get("workspace"); ref != "" || !principalFrom(r.Context()).admin() {
		ws, err := s.workspace(r.Context(), ref)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		wsID = ws.ID
	}
	list, err := s.cfg.Store.PageWebhooks(r.Context(), store.ListPage{WorkspaceID: wsID, After: after, Limit: limit + 1})
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	out := map[string]any{}
	list = trimPage(list, limit, func(h store.Webhook) string { return h.ID }, out)
	views := make([]map[string]any, 0, len(list))
	for _, h := range list {
		views = append(views, webhookView(h))
	}
	out["webhooks"] = views
	writeJSON(w, http.StatusOK, out)
}

// webhook loads the webhook named by the path that the caller may see.
func (s *Server) webhook(r *http.Request) (store.Webhook, error) {
	id := r.PathValue("id")
	h, err := s.cfg.Store.GetWebhook(r.Context(), id)
	if errors.Is(err, store.ErrNotFound) || (err == nil && !Visible(principalFrom(r.Context()).token, h.WorkspaceID)) {
		return store.Webhook{}, problem.NotFound("webhook", id)
	}
	return h, err
}

func (s *Server) getWebhook(w http.ResponseWriter, r *http.Request) {
	h, err := s.webhook(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, webhookView(h))
}

func (s *Server) deleteWebhook(w http.ResponseWriter, r *http.Request) {
	h, err := s.webhook(r)
	if err == nil {
		err = s.cfg.Store.DeleteWebhook(r.Context(), h.ID)
	}
	if errors.Is(err, store.ErrNotFound) {
		err = problem.NotFound("webhook", r.PathValue("id"))
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.cfg.Recorder.Audit(r.Context(), principalFrom(r.Context()).actor(), h.WorkspaceID, "webhook.delete", h.ID, nil)
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) enableWebhook(w http.ResponseWriter, r *http.Request) {
	if err := s.webhooksConfigured(); err != nil {
		s.writeError(w, r, err)
		return
	}
	h, err := s.webhook(r)
	if err == nil {
		h, err = s.cfg.Webhooks.Enable(r.Context(), h.ID)
	}
	if errors.Is(err, store.ErrNotFound) {
		err = problem.NotFound("webhook", r.PathValue("id"))
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.cfg.Recorder.Audit(r.Context(), principalFrom(r.Context()).actor(), h.WorkspaceID, "webhook.enable", h.ID, nil)
	writeJSON(w, http.StatusOK, webhookView(h))
}

func (s *Server) listWebhookDeliveries(w http.ResponseWriter, r *http.Request) {
	h, err := s.webhook(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	limit, after, err := pageParams(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	list, err := s.cfg.Store.ListWebhookDeliveries(r.Context(), store.VersionPage{Parent: h.ID, After: after, Limit: limit + 1})
	if errors.Is(err, store.ErrNotFound) {
		// Unknown, or pruned since: the log keeps the newest attempts.
		err = problem.Field("after", "no such delivery in this webhook's log")
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	page := map[string]any{}
	list = trimPage(list, limit, func(d store.WebhookDelivery) string { return d.ID }, page)
	out := make([]map[string]any, 0, len(list))
	for _, d := range list {
		out = append(out, map[string]any{
			"id": d.ID, "webhook": d.WebhookID, "event": d.EventID, "event_type": d.EventType,
			"attempt": d.Attempt, "ok": d.StatusCode >= 200 && d.StatusCode < 300, "status_code": d.StatusCode,
			"error": d.Error, "duration_ms": d.DurationMS, "at": rfc3339(d.At),
		})
	}
	page["deliveries"] = out
	writeJSON(w, http.StatusOK, page)
}

func eventTypes(h store.Webhook) []string {
	if h.EventTypes == nil {
		return []string{}
	}
	return h.EventTypes
}

// webhookView shows a webhook without its secret. events [] means every
// type; cursor is the log position of the last event delivered.
func webhookView(h store.Webhook) map[string]any {
	return map[string]any{
		"id": h.ID, "workspace": h.WorkspaceID, "url": h.URL, "events": eventTypes(h),
		"cursor": h.Cursor, "failures": h.Failures, "failing_since": rfc3339(h.FailingSince),
		"next_attempt_at": rfc3339(h.NextAttemptAt), "disabled": h.Disabled, "disabled_reason": h.DisabledReason,
		"created_at": rfc3339(h.CreatedAt),
	}
}

// urlHost is what the audit log keeps of a webhook URL: its path or query
// may be a secret of the receiver's.
func urlHost(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return ""
	}
	return u.Host
}
