package web

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"

	"github.com/stormcreds/storm/internal/store"
)

// An integration page shows the newest few entries of its logs. Events
// are read newest first by integration, one short index range. The audit
// log can only be filtered by workspace, so the page reads the
// workspace's newest auditScan entries and keeps the integration's: its
// cost does not grow with the log, and older activity is in the audit
// log itself (GET /v1/audit, storm audit).

// recentKeep is how many entries per integration a page shows.
const recentKeep = 20

// auditScan bounds how many of a workspace's newest audit entries an
// integration page reads, in pages of auditPage. One page: at 2000 the
// page of an integration with little recent activity cost 3.7× that of
// a small workspace (bench/scale), where the whole log is shorter. Where
// reads are audited too, a busy workspace's newest 500 entries may hold
// none of this integration's; the audit log itself has them all.
const (
	auditScan = 500
	auditPage = 500
)

// recentEvents returns the integration's newest events, newest first.
func (u *UI) recentEvents(ctx context.Context, in store.Integration) ([]store.Event, error) {
	return u.cfg.Store.ListEvents(ctx, store.Page{WorkspaceID: in.WorkspaceID, IntegrationID: in.ID, Newest: true, Limit: recentKeep})
}

// recentAudit returns the integration's entries among its workspace's
// newest auditScan, at most recentKeep, newest first.
func (u *UI) recentAudit(ctx context.Context, in store.Integration) ([]store.AuditRecord, error) {
	// Answered secret reads still in the journal first.
	if err := u.cfg.Recorder.SettleReads(ctx); err != nil {
		return nil, err
	}
	var out []store.AuditRecord
	p := store.Page{WorkspaceID: in.WorkspaceID, Newest: true, Limit: auditPage}
	for read := 0; read < auditScan && len(out) < recentKeep; {
		page, err := u.cfg.Store.ListAudit(ctx, p)
		if err != nil {
			return nil, err
		}
		id := []byte(in.ID)
		for _, a := range page {
			// Most entries are about other integrations: a byte search
			// rules them out without decoding their detail.
			if a.Target != in.ID && !bytes.Contains(a.Detail, id) {
				continue
			}
			if auditIntegration(a) == in.ID && len(out) < recentKeep {
				out = append(out, a)
			}
		}
		read += len(page)
		if len(page) < p.Limit {
			break
		}
		p.After = page[len(page)-1].ID
	}
	return out, nil
}

// auditIntegration names the integration an audit record is about: its
// target, or the integration named in its detail (credential actions).
func auditIntegration(a store.AuditRecord) string {
	if strings.HasPrefix(a.Target, "int_") {
		return a.Target
	}
	var d struct {
		Integration string `json:"integration"`
	}
	if len(a.Detail) > 0 && json.Unmarshal(a.Detail, &d) == nil {
		return d.Integration
	}
	return ""
}
