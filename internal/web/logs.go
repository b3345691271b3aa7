package web

import (
	"context"
	"encoding/json"
	"strings"
	"sync"

	"github.com/stormcreds/storm/internal/store"
)

// The store pages its logs oldest first, and the audit log can only be
// filtered by workspace. An integration page wants the newest few
// entries of one integration, so the UI follows each log it has shown
// with a cursor and keeps the last entries per integration: the first
// view reads the log once, later views only what was appended since.

// recentKeep is how many entries per integration a page shows.
const recentKeep = 20

// logPage is the page size when reading a log.
const logPage = 500

// maxTails bounds the followed logs; past it they are dropped and
// rebuilt on demand.
const maxTails = 4096

type tails struct {
	mu     sync.Mutex
	events map[string]*eventTail // by integration id
	audit  map[string]*auditTail // by workspace id
}

type eventTail struct {
	mu     sync.Mutex
	after  string
	recent []store.Event // oldest first, at most recentKeep
}

type auditTail struct {
	mu     sync.Mutex
	after  string
	recent map[string][]store.AuditRecord // by integration id, oldest first
}

func (t *tails) eventTail(integID string) *eventTail {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.events == nil || len(t.events) > maxTails {
		t.events = map[string]*eventTail{}
	}
	e := t.events[integID]
	if e == nil {
		e = &eventTail{}
		t.events[integID] = e
	}
	return e
}

func (t *tails) auditTail(wsID string) *auditTail {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.audit == nil || len(t.audit) > maxTails {
		t.audit = map[string]*auditTail{}
	}
	a := t.audit[wsID]
	if a == nil {
		a = &auditTail{recent: map[string][]store.AuditRecord{}}
		t.audit[wsID] = a
	}
	return a
}

func keepLast[T any](list []T, v T) []T {
	list = append(list, v)
	if len(list) > recentKeep {
		list = append(list[:0:0], list[len(list)-recentKeep:]...)
	}
	return list
}

// recentEvents returns the integration's newest events, newest first.
func (u *UI) recentEvents(ctx context.Context, in store.Integration) ([]store.Event, error) {
	t := u.tails.eventTail(in.ID)
	t.mu.Lock()
	defer t.mu.Unlock()
	for {
		page, err := u.cfg.Store.ListEvents(ctx, store.Page{WorkspaceID: in.WorkspaceID, IntegrationID: in.ID, After: t.after, Limit: logPage})
		if err != nil {
			return nil, err
		}
		for _, e := range page {
			t.recent = keepLast(t.recent, e)
			t.after = e.ID
		}
		if len(page) < logPage {
			break
		}
	}
	return reversed(t.recent), nil
}

// recentAudit returns the audit records about the integration (or one
// of its credential versions), newest first.
func (u *UI) recentAudit(ctx context.Context, in store.Integration) ([]store.AuditRecord, error) {
	if err := u.cfg.Recorder.SettleReads(ctx); err != nil {
		return nil, err
	}
	t := u.tails.auditTail(in.WorkspaceID)
	t.mu.Lock()
	defer t.mu.Unlock()
	for {
		page, err := u.cfg.Store.ListAudit(ctx, store.Page{WorkspaceID: in.WorkspaceID, After: t.after, Limit: logPage})
		if err != nil {
			return nil, err
		}
		for _, a := range page {
			if id := auditIntegration(a); id != "" {
				t.recent[id] = keepLast(t.recent[id], a)
			}
			t.after = a.ID
		}
		if len(page) < logPage {
			break
		}
	}
	return reversed(t.recent[in.ID]), nil
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

func reversed[T any](list []T) []T {
	out := make([]T, len(list))
	for i, v := range list {
		out[len(list)-1-i] = v
	}
	return out
}
