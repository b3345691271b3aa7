package connect

import (
	"context"
	"errors"
	"net/http"

	"github.com/stormcreds/storm/internal/catalog"
	"github.com/stormcreds/storm/internal/creds"
	"github.com/stormcreds/storm/internal/events"
	"github.com/stormcreds/storm/internal/problem"
	"github.com/stormcreds/storm/internal/store"
)

// An attempt claims the link (no other attempt may use it meanwhile),
// then either completes it (the link is spent) or releases it, counting
// a failure when the person's credential or authorization was refused.
// The MaxFailures-th failure locks the link and emits connect.locked.

// errBusy refuses a second attempt while one is in progress.
var errBusy = &creds.LinkRefused{Message: "Another attempt with this connect link is in progress. Wait a moment and try again."}

// Claim implements creds.LinkGate: it holds the link for one attempt.
func (s *Service) Claim(ctx context.Context, linkID string) (events.Actor, error) {
	l, err := s.claim(ctx, linkID)
	if err != nil {
		return events.Actor{}, err
	}
	return Actor(l, ""), nil
}

func (s *Service) claim(ctx context.Context, linkID string) (store.ConnectLink, error) {
	return s.cfg.Store.UpdateConnectLink(ctx, linkID, func(cur store.ConnectLink) (store.ConnectLink, error) {
		now := s.now()
		if g := s.gone(cur); g != nil {
			return cur, &creds.LinkRefused{Message: g.Message()}
		}
		if now.Before(cur.ClaimedUntil) {
			return cur, errBusy
		}
		cur.ClaimedUntil = now.Add(claimTTL).UTC()
		return cur, nil
	})
}

// Release implements creds.LinkGate: the attempt did not connect;
// failure, when set, counts against the link.
func (s *Service) Release(ctx context.Context, linkID, failure string) {
	locked := false
	l, err := s.cfg.Store.UpdateConnectLink(ctx, linkID, func(cur store.ConnectLink) (store.ConnectLink, error) {
		locked = false
		cur.ClaimedUntil = timeZero
		if failure == "" {
			return cur, nil
		}
		cur.Failures++
		cur.LastError = truncate(failure, 500)
		if cur.Failures >= s.cfg.MaxFailures && cur.LockedAt.IsZero() {
			cur.LockedAt, locked = s.now().UTC(), true
		}
		return cur, nil
	})
	if err != nil {
		s.log.Error("release a connect link", "link", linkID, "err", err)
		return
	}
	if failure == "" {
		return
	}
	actor := Actor(l, "")
	s.cfg.Recorder.Audit(ctx, actor, l.WorkspaceID, "connect.attempt_failed", l.ID, map[string]any{"integration": l.IntegrationID, "failures": l.Failures})
	if locked {
		s.log.Warn("connect link locked after failed attempts", "link", l.ID, "failures", l.Failures)
		s.cfg.Recorder.Emit(ctx, events.New(l.WorkspaceID, l.IntegrationID, events.ConnectLocked, s.now(),
			map[string]any{"link": l.ID, "created_by": l.CreatedBy, "failures": l.Failures}))
		s.cfg.Recorder.Audit(ctx, actor, l.WorkspaceID, "connect.lock", l.ID, map[string]any{"integration": l.IntegrationID, "failures": l.Failures})
	}
}

// Complete implements creds.LinkGate: the link is spent on integ.
func (s *Service) Complete(ctx context.Context, linkID string, integ store.Integration, created bool) {
	l, err := s.cfg.Store.UpdateConnectLink(ctx, linkID, func(cur store.ConnectLink) (store.ConnectLink, error) {
		now := s.now().UTC()
		cur.UsedAt, cur.ClaimedUntil, cur.IntegrationID, cur.LastError = now, timeZero, integ.ID, ""
		return cur, nil
	})
	if err != nil {
		s.log.Error("spend a connect link", "link", linkID, "integration", integ.ID, "err", err)
		return
	}
	s.cfg.Recorder.Emit(ctx, events.New(l.WorkspaceID, integ.ID, events.ConnectCompleted, s.now(), map[string]any{
		"link": l.ID, "created_by": l.CreatedBy, "created": created, "provider": integ.Provider, "auth_method": integ.AuthMethod}))
	s.cfg.Recorder.Audit(ctx, Actor(l, ""), l.WorkspaceID, "connect.complete", l.ID, map[string]any{"integration": integ.ID, "created": created})
}

// Choice is what the person picked on the page of a link that creates
// an integration: one of its providers and an auth method it offers.
type Choice struct {
	Provider string
	Method   string
}

// Save connects l's integration with pasted or uploaded credentials
// (creds.Save: verified before it becomes active), or, for a link that
// creates one, creates it in the same step (creds.CreateAndSave). A
// refused credential counts against the link and changes nothing.
func (s *Service) Save(ctx context.Context, l store.ConnectLink, ip string, choice Choice, in creds.SaveInput) (store.Integration, error) {
	actor := Actor(l, ip)
	var create *creds.CreateInput
	var integ store.Integration
	var ws store.Workspace
	var err error
	if l.Creates() {
		if ws, err = s.cfg.Store.GetWorkspace(ctx, l.WorkspaceID); err != nil {
			return store.Integration{}, err
		}
		ci, err := s.chosen(ctx, ws, l, choice)
		if err != nil {
			return store.Integration{}, err
		}
		if ci.AuthMethod == catalog.MethodOAuth2 || ci.AuthMethod == catalog.MethodOAuth1 {
			return store.Integration{}, problem.New(http.StatusUnprocessableEntity, "%s connects through Authorize, not Save", methodName(ci.AuthMethod))
		}
		create = &ci
	} else if integ, err = s.cfg.Store.GetIntegration(ctx, l.IntegrationID); err != nil {
		return store.Integration{}, err
	}
	if _, err := s.claim(ctx, l.ID); err != nil {
		return store.Integration{}, err
	}
	if create != nil {
		integ, _, err = s.cfg.Creds.CreateAndSave(ctx, actor, ws, *create, in)
	} else {
		_, err = s.cfg.Creds.Save(ctx, actor, integ, in)
		if err == nil {
			integ, err = s.cfg.Store.GetIntegration(ctx, integ.ID)
		}
	}
	if err != nil {
		s.Release(ctx, l.ID, failureOf(err))
		return store.Integration{}, err
	}
	s.Complete(ctx, l.ID, integ, create != nil)
	return integ, nil
}

// failureOf is the text a refused attempt leaves on its link (and that
// counts against it): the person's input was refused (400, 422), not
// Storm or the provider's availability.
func failureOf(err error) string {
	var p *problem.Problem
	var pe interface{ Problem() *problem.Problem }
	switch {
	case errors.As(err, &pe):
		p = pe.Problem()
	default:
		p, _ = problem.As(err)
	}
	if p == nil || (p.Status != http.StatusBadRequest && p.Status != http.StatusUnprocessableEntity) {
		return ""
	}
	return p.Detail
}

// Authorize starts an authorization through l (Authorize or Reconnect;
// for a link that creates an integration, with the chosen provider's
// app). The link is not claimed until the provider sends the browser
// back; binding ties that callback to this browser, and it returns to
// ReturnPath.
func (s *Service) Authorize(ctx context.Context, l store.ConnectLink, ip string, choice Choice, binding []byte) (string, error) {
	actor := Actor(l, ip)
	if !l.Creates() {
		integ, err := s.cfg.Store.GetIntegration(ctx, l.IntegrationID)
		if err != nil {
			return "", err
		}
		return s.cfg.Creds.AuthorizeLink(ctx, actor, integ, ReturnPath, binding, creds.Link{ID: l.ID})
	}
	ws, err := s.cfg.Store.GetWorkspace(ctx, l.WorkspaceID)
	if err != nil {
		return "", err
	}
	ci, err := s.chosen(ctx, ws, l, choice)
	if err != nil {
		return "", err
	}
	integ, err := s.cfg.Creds.NewIntegration(ctx, ws, ci)
	if err != nil {
		return "", err
	}
	return s.cfg.Creds.AuthorizeLink(ctx, actor, integ, ReturnPath, binding, creds.Link{ID: l.ID, Create: &ci})
}

// Pending is the integration l (a link that creates one) would create
// for choice, not stored: what its page shows the controls of.
func (s *Service) Pending(ctx context.Context, l store.ConnectLink, choice Choice) (store.Integration, error) {
	ws, err := s.cfg.Store.GetWorkspace(ctx, l.WorkspaceID)
	if err != nil {
		return store.Integration{}, err
	}
	ci, err := s.chosen(ctx, ws, l, choice)
	if err != nil {
		return store.Integration{}, err
	}
	return s.cfg.Creds.NewIntegration(ctx, ws, ci)
}

// AuthorizationOrigin is where Authorize would send the browser for l
// and choice, for the page's Content-Security-Policy; "" when unknown.
func (s *Service) AuthorizationOrigin(ctx context.Context, l store.ConnectLink, choice Choice) string {
	if !l.Creates() {
		integ, err := s.cfg.Store.GetIntegration(ctx, l.IntegrationID)
		if err != nil {
			return ""
		}
		return s.cfg.Creds.AuthorizationOrigin(ctx, integ)
	}
	integ, err := s.Pending(ctx, l, choice)
	if err != nil {
		return ""
	}
	return s.cfg.Creds.AuthorizationOrigin(ctx, integ)
}

// chosen checks choice against what l offers and returns the integration
// it creates.
func (s *Service) chosen(ctx context.Context, ws store.Workspace, l store.ConnectLink, choice Choice) (creds.CreateInput, error) {
	offers, err := s.offers(ctx, ws, l.Providers)
	if err != nil {
		return creds.CreateInput{}, err
	}
	for _, o := range offers {
		if o.Provider.Name != choice.Provider {
			continue
		}
		for _, m := range o.Methods {
			if m.Method == choice.Method {
				return creds.CreateInput{Name: l.Name, Provider: o.Provider.Name, AuthMethod: m.Method, App: m.App}, nil
			}
		}
		return creds.CreateInput{}, problem.Field("method", "choose one of the auth methods offered for "+o.Provider.DisplayName)
	}
	return creds.CreateInput{}, problem.Field("provider", "choose one of the providers this link offers")
}

// Offer is a provider a link that creates an integration offers, with
// the auth methods a person can connect it with; Why says why there are
// none.
type Offer struct {
	Provider catalog.Provider
	Methods  []MethodOffer
	Why      string
}

// MethodOffer is an auth method of an Offer; App is the workspace's app
// an OAuth method takes its client from.
type MethodOffer struct {
	Method string
	App    string
}

// Offers lists what l (a link that creates an integration) offers.
func (s *Service) Offers(ctx context.Context, l store.ConnectLink) ([]Offer, error) {
	ws, err := s.cfg.Store.GetWorkspace(ctx, l.WorkspaceID)
	if err != nil {
		return nil, err
	}
	return s.offers(ctx, ws, l.Providers)
}

// offers decides, for each provider, which of its auth methods a person
// can connect through a link: those whose integration needs no settings
// beyond the credential (the catalog's own definition suffices), an OAuth
// method only with an app in ws for its client.
func (s *Service) offers(ctx context.Context, ws store.Workspace, providers []string) ([]Offer, error) {
	apps, err := s.appsOf(ctx, ws)
	if err != nil {
		return nil, err
	}
	out := make([]Offer, 0, len(providers))
	for _, name := range providers {
		p, ok := s.cfg.Catalog.Get(name)
		if !ok {
			out = append(out, Offer{Provider: catalog.Provider{Name: name, DisplayName: name}, Why: "it is not in the catalog any more"})
			continue
		}
		o := Offer{Provider: p}
		var why []string
		for _, m := range p.AuthMethods {
			ci := creds.CreateInput{Name: "connect link check", Provider: p.Name, AuthMethod: m}
			if m == catalog.MethodOAuth2 || m == catalog.MethodOAuth1 {
				ci.App = apps[p.Name+"\x00"+m]
				if ci.App == "" {
					why = append(why, methodName(m)+" needs an app for "+p.Name+" in this workspace (POST /v1/apps), whose client it uses")
					continue
				}
			}
			if _, err := s.cfg.Creds.NewIntegration(ctx, ws, ci); err != nil {
				if pr, ok := problem.As(err); ok && pr.Status < 500 {
					why = append(why, methodName(m)+" needs settings a connect link cannot ask for ("+fieldsOf(pr)+")")
					continue
				}
				s.log.Warn("check a connect link's method", "provider", p.Name, "method", m, "err", err)
				why = append(why, methodName(m)+" cannot be checked right now")
				continue
			}
			o.Methods = append(o.Methods, MethodOffer{Method: m, App: ci.App})
		}
		if len(o.Methods) == 0 {
			o.Why = joinWhy(why)
		}
		out = append(out, o)
	}
	return out, nil
}

// appsOf maps "provider\x00method" to the first app (by id) of ws.
func (s *Service) appsOf(ctx context.Context, ws store.Workspace) (map[string]string, error) {
	out := map[string]string{}
	after := ""
	for {
		page, err := s.cfg.Store.ListApps(ctx, store.AppPage{WorkspaceID: ws.ID, After: after, Limit: 1000})
		if err != nil {
			return nil, err
		}
		for _, a := range page {
			if k := a.Provider + "\x00" + a.AuthMethod; out[k] == "" {
				out[k] = a.ID
			}
		}
		if len(page) < 1000 {
			return out, nil
		}
		after = page[len(page)-1].ID
	}
}
