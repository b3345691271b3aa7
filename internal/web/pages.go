package web

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/stormcreds/storm/internal/api"
	"github.com/stormcreds/storm/internal/catalog"
	"github.com/stormcreds/storm/internal/creds"
	"github.com/stormcreds/storm/internal/methods"
	"github.com/stormcreds/storm/internal/problem"
	"github.com/stormcreds/storm/internal/store"
)

func (u *UI) home(c *reqCtx) error {
	to := "/signin"
	if c.signedIn() {
		to = "/integrations"
	}
	http.Redirect(c.w, c.r, to, http.StatusSeeOther)
	return nil
}

// safeNext keeps a post-sign-in destination on this UI: a local path,
// never another host or an API path.
func safeNext(next string) string {
	if next == "" || !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.ContainsAny(next, "\\\r\n\t") || len(next) > 1024 {
		return "/integrations"
	}
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Host != "" || api.Serves(u.Path) || u.Path == "/signin" {
		return "/integrations"
	}
	return next
}

type signinData struct {
	Base
	Next  string
	Ended bool
	Error string
}

func (u *UI) signinPage(c *reqCtx) error {
	next := c.r.URL.Query().Get("next")
	if c.signedIn() {
		http.Redirect(c.w, c.r, safeNext(next), http.StatusSeeOther)
		return nil
	}
	return u.render(c, http.StatusOK, "signin", signinData{Base: u.base(c, "Sign in"), Next: next,
		Ended: c.ended || c.r.URL.Query().Get("ended") != ""})
}

func (u *UI) signin(c *reqCtx) error {
	next := c.r.PostForm.Get("next")
	raw := strings.TrimSpace(c.r.PostForm.Get("token"))
	tok, err := u.cfg.Tokens.LookupToken(c.r.Context(), raw)
	if raw == "" || errors.Is(err, store.ErrNotFound) {
		u.logger.Info("web: sign-in with an invalid token", "ip", api.ActorOf(store.APIToken{}, c.r).IP)
		return u.render(c, http.StatusUnauthorized, "signin", signinData{Base: u.base(c, "Sign in"), Next: next,
			Error: "That API token is not valid. Check that you copied all of it, and that it has not been deleted."})
	}
	if err != nil {
		return err
	}
	// A new session, with a new CSRF secret: nothing from before the
	// sign-in carries over.
	s, err := u.signInSession(c.r.Context(), tok.ID)
	if err != nil {
		return err
	}
	if err := u.writeSession(c.w, c.r, s); err != nil {
		return err
	}
	u.cfg.Recorder.Audit(c.r.Context(), api.ActorOf(tok, c.r), tok.WorkspaceID, "ui.sign_in", tok.ID, nil)
	http.Redirect(c.w, c.r, safeNext(next), http.StatusSeeOther)
	return nil
}

func (u *UI) signout(c *reqCtx) error {
	// Deleting the row ends the session everywhere: a copy of the cookie
	// is worth nothing from now on.
	if err := u.cfg.Store.DeleteUISession(c.r.Context(), c.sess.ID); err != nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
	u.cfg.Recorder.Audit(c.r.Context(), c.actor(), c.tok.WorkspaceID, "ui.sign_out", c.tok.ID, nil)
	if err := u.writeSession(c.w, c.r, u.newSession()); err != nil {
		return err
	}
	u.setFlash(c.w, c.r, flash{Kind: "info", Message: "You are signed out."})
	http.Redirect(c.w, c.r, "/signin", http.StatusSeeOther)
	return nil
}

// workspace resolves ?workspace= (a name or id) for an admin, who sees
// every workspace; everyone else always gets their own.
func (u *UI) workspace(c *reqCtx, ref string) (store.Workspace, error) {
	if ref == "" || ref == c.ws.ID || ref == c.ws.Name {
		return c.ws, nil
	}
	ws, err := u.cfg.Store.GetWorkspace(c.r.Context(), ref)
	if errors.Is(err, store.ErrNotFound) || (err == nil && !api.Visible(c.tok, ws.ID)) {
		return store.Workspace{}, errNotFound
	}
	return ws, err
}

// workspaceOptions lists the workspaces an admin can switch between.
func (u *UI) workspaceOptions(c *reqCtx, current store.Workspace) ([]option, error) {
	if c.tok.Role != store.RoleAdmin {
		return nil, nil
	}
	// Bounded like every listing; a deployment with more workspaces
	// than a menu can hold names one in the URL (?workspace=).
	list, err := u.cfg.Store.PageWorkspaces(c.r.Context(), store.ListPage{Limit: listChunk})
	if err != nil {
		return nil, err
	}
	opts := make([]option, 0, len(list))
	for _, ws := range list {
		opts = append(opts, option{Value: ws.Name, Label: ws.Name, Selected: ws.ID == current.ID})
	}
	return opts, nil
}

type listData struct {
	Base
	Workspace    string
	NewURL       string
	Workspaces   []option
	Integrations []integrationView
	Counts       map[string]int
	// The list's search, status filter and page (all query parameters,
	// so the list works without JavaScript and each view has a URL).
	Query       string
	Status      string
	Statuses    []option
	Total       int // in the workspace
	Matches     int // after the search and filter
	First, Last int // 1-based positions shown
	PrevURL     string
	NextURL     string
	ClearURL    string
	Filtered    bool
	OtherWS     bool
	// MoreURL, when set, reads the next chunk of listChunk integrations
	// (by id, after the last one of this chunk); counts, search and
	// filter apply within a chunk.
	MoreURL string
	Chunk   int
	After   string // the chunk's start, kept by the search form
}

// shownVersions is how many credential versions, newest first, an
// integration's page shows.
const shownVersions = 20

// listPageSize is how many integrations one page of the list shows.
const listPageSize = 25

// listChunk bounds what one request of the list reads from the store,
// so a page costs the same however many integrations a workspace has;
// beyond it the list offers a "more" link to the next chunk. It is the
// API's page size: a chunk of 1000 made the first page of a large
// workspace cost 6× that of a workspace of 100 (bench/scale). A
// variable so tests can make chunks small.
var listChunk = 100

// statusOrder is the status filter's order.
var statusOrder = []string{store.StatusConnected, store.StatusDegraded, store.StatusReconnectRequired, store.StatusPending, store.StatusDisabled}

func (u *UI) listPage(c *reqCtx) error {
	q := c.r.URL.Query()
	ws, err := u.workspace(c, q.Get("workspace"))
	if err != nil {
		return err
	}
	after := q.Get("after")
	if len(after) > 200 {
		after = ""
	}
	list, err := u.cfg.Store.PageIntegrations(c.r.Context(), store.ListPage{WorkspaceID: ws.ID, After: after, Limit: listChunk + 1})
	if err != nil {
		return err
	}
	more := len(list) > listChunk
	if more {
		list = list[:listChunk]
	}
	d := listData{Base: u.base(c, "Integrations"), Workspace: ws.Name, Counts: map[string]int{}, Total: len(list), OtherWS: ws.ID != c.ws.ID}
	d.Nav = "integrations"
	d.NewURL = newURL(c, ws, url.Values{})
	if d.Workspaces, err = u.workspaceOptions(c, ws); err != nil {
		return err
	}
	d.Query = strings.TrimSpace(q.Get("q"))
	if len(d.Query) > 200 {
		d.Query = d.Query[:200]
	}
	d.Status = q.Get("status")
	if _, ok := statusLabels[d.Status]; !ok {
		d.Status = ""
	}
	for _, in := range list {
		d.Counts[in.Status]++
	}
	d.Statuses = []option{{Value: "", Label: fmt.Sprintf("Any status (%d)", len(list)), Selected: d.Status == ""}}
	for _, st := range statusOrder {
		d.Statuses = append(d.Statuses, option{Value: st, Label: fmt.Sprintf("%s (%d)", statusLabels[st], d.Counts[st]), Selected: d.Status == st})
	}
	// A status filter reads its own chunk, of that status only (one
	// index range), so its pages are full however rare the status is.
	if d.Status != "" {
		if list, err = u.cfg.Store.PageIntegrations(c.r.Context(), store.ListPage{WorkspaceID: ws.ID, Status: d.Status, After: after, Limit: listChunk + 1}); err != nil {
			return err
		}
		if more = len(list) > listChunk; more {
			list = list[:listChunk]
		}
	}
	needle := strings.ToLower(d.Query)
	matches := list
	if needle != "" {
		matches = nil
		for _, in := range list {
			v := u.integrationView(in, ws.Name)
			if strings.Contains(strings.ToLower(strings.Join([]string{v.Name, v.ID, v.Provider, v.ProviderName, v.MethodLabel}, " ")), needle) {
				matches = append(matches, in)
			}
		}
	}
	d.Matches, d.Filtered = len(matches), d.Query != "" || d.Status != ""
	pages := max(1, (len(matches)+listPageSize-1)/listPageSize)
	page, _ := strconv.Atoi(q.Get("page"))
	page = min(max(page, 1), pages)
	from := (page - 1) * listPageSize
	to := min(from+listPageSize, len(matches))
	for _, in := range matches[from:to] {
		d.Integrations = append(d.Integrations, u.integrationView(in, ws.Name))
	}
	if len(matches) > 0 {
		d.First, d.Last = from+1, to
	}
	link := func(p int) string {
		v := url.Values{}
		if d.OtherWS {
			v.Set("workspace", ws.Name)
		}
		if d.Query != "" {
			v.Set("q", d.Query)
		}
		if d.Status != "" {
			v.Set("status", d.Status)
		}
		if after != "" {
			v.Set("after", after)
		}
		if p > 1 {
			v.Set("page", strconv.Itoa(p))
		}
		if len(v) == 0 {
			return "/integrations"
		}
		return "/integrations?" + v.Encode()
	}
	if page > 1 {
		d.PrevURL = link(page - 1)
	}
	if page < pages {
		d.NextURL = link(page + 1)
	}
	d.After = after
	d.ClearURL = "/integrations"
	if d.OtherWS {
		d.ClearURL += "?workspace=" + url.QueryEscape(ws.Name)
	}
	if more {
		v := url.Values{"after": {list[len(list)-1].ID}}
		if d.OtherWS {
			v.Set("workspace", ws.Name)
		}
		if d.Query != "" {
			v.Set("q", d.Query)
		}
		if d.Status != "" {
			v.Set("status", d.Status)
		}
		d.MoreURL, d.Chunk = "/integrations?"+v.Encode(), listChunk
	}
	return u.render(c, http.StatusOK, "list", d)
}

// providerItem is a provider in the picker.
type providerItem struct {
	URL         string
	Name        string
	DisplayName string
	LogoURL     string
	Methods     string
	Categories  string // labels, for people
	CategoryIDs string // names, space-separated, for the script's filter
	Search      string // what the filter matches, lower case
	Hidden      bool   // filtered out by ?q= or ?category=
}

// categoryChip is one category filter of the picker: a link, so it works
// without the script.
type categoryChip struct {
	Name     string // "" for all categories
	Label    string
	Count    int
	URL      string
	Selected bool
}

type methodChoice struct {
	Method string
	Label  string
	About  string
	URL    string
}

type newData struct {
	Base
	Query       string
	Category    string
	Categories  []categoryChip
	Providers   []providerItem
	Shown       int
	Provider    *catalog.Provider
	Choices     []methodChoice
	Method      string
	MethodLabel string
	Name        string
	Workspace   string
	Workspaces  []option
	Sets        []fieldset
	NameError   string
	Errors      []problem.FieldError
	Message     string
	RedirectURI string
	// OtherWorkspace: an admin adds to a workspace not the token's own.
	OtherWorkspace bool
	PickerURL      string
	CustomURL      string
	ws             store.Workspace
	// Apps are the workspace's apps this integration may use instead of
	// a client of its own (with a last "none" choice); empty when none.
	Apps []option
}

// newURL is a link to the add-integration page with q, in workspace ws
// when that is not the token's own.
func newURL(c *reqCtx, ws store.Workspace, q url.Values) string {
	if ws.ID != c.ws.ID {
		q.Set("workspace", ws.Name)
	}
	if len(q) == 0 {
		return "/integrations/new"
	}
	return "/integrations/new?" + q.Encode()
}

func (u *UI) newPage(c *reqCtx) error {
	q := c.r.URL.Query()
	d, err := u.newForm(c, q.Get("provider"), q.Get("method"), q.Get("workspace"), q.Get("app"))
	if err != nil {
		return err
	}
	if d.Provider == nil {
		d.Query = strings.TrimSpace(q.Get("q"))
		if cat := q.Get("category"); catalog.IsCategory(cat) {
			d.Category = cat
		}
		u.providerList(c, &d)
	}
	return u.render(c, http.StatusOK, "new", d)
}

// newForm prepares the add-integration page for a provider and method
// (either may still be unchosen).
func (u *UI) newForm(c *reqCtx, provider, method, wsRef, app string) (newData, error) {
	d := newData{Base: u.base(c, "Add integration")}
	d.Nav = "integrations"
	ws, err := u.workspace(c, wsRef)
	if err != nil {
		return d, err
	}
	d.Workspace, d.ws, d.OtherWorkspace = ws.Name, ws, ws.ID != c.ws.ID
	d.PickerURL = newURL(c, ws, url.Values{})
	d.CustomURL = newURL(c, ws, url.Values{"provider": {catalog.Custom}})
	if d.Workspaces, err = u.workspaceOptions(c, ws); err != nil {
		return d, err
	}
	if provider == "" {
		return d, nil
	}
	p, ok := u.cfg.Catalog.Get(provider)
	if !ok {
		return d, errNotFound
	}
	d.Provider = &p
	d.Title = "Add " + p.DisplayName
	if method == "" && len(p.AuthMethods) == 1 {
		method = p.AuthMethods[0]
	}
	if !p.Supports(method) {
		for _, m := range p.AuthMethods {
			d.Choices = append(d.Choices, methodChoice{Method: m, Label: methodLabel(m), About: methodAbout[m],
				URL: newURL(c, ws, url.Values{"provider": {p.Name}, "method": {m}})})
		}
		return d, nil
	}
	d.Method, d.MethodLabel = method, methodLabel(method)
	d.Name = p.DisplayName
	d.Sets = u.configForm(p, method)
	if method == catalog.MethodOAuth2 || (method == catalog.MethodOAuth1 && (p.Name == catalog.Custom || p.OAuth1.ThreeLegged())) {
		d.RedirectURI = u.publicURL + creds.CallbackPath
	}
	if d.Apps, err = u.appChoices(c, ws, p.Name, method, app); err != nil {
		return d, err
	}
	if len(d.Apps) > 0 {
		// With an app the client comes from it: the fields are optional.
		for i := range d.Sets {
			for j := range d.Sets[i].Fields {
				if f := &d.Sets[i].Fields[j]; isClientField(f.Name) {
					f.Required = false
					f.Help = strings.TrimSpace(f.Help + " Leave empty when the integration uses an app.")
				}
			}
		}
	}
	return d, nil
}

func (u *UI) providerList(c *reqCtx, d *newData) {
	q := strings.ToLower(d.Query)
	counts := map[string]int{}
	for _, p := range u.cfg.Catalog.List() {
		var ms, labels []string
		for _, m := range p.AuthMethods {
			ms = append(ms, methodLabel(m))
		}
		for _, cat := range p.Categories {
			labels = append(labels, catalog.CategoryLabel(cat))
			counts[cat]++
		}
		item := providerItem{URL: newURL(c, d.ws, url.Values{"provider": {p.Name}}), Name: p.Name, DisplayName: p.DisplayName,
			LogoURL: u.logoURL(p.Name), Methods: strings.Join(ms, " · "), Categories: strings.Join(labels, ", "),
			CategoryIDs: strings.Join(p.Categories, " ")}
		item.Search = strings.ToLower(strings.Join([]string{p.Name, p.DisplayName, item.Categories, item.Methods}, " "))
		item.Hidden = (q != "" && !strings.Contains(item.Search, q)) || (d.Category != "" && !slices.Contains(p.Categories, d.Category))
		if !item.Hidden {
			d.Shown++
		}
		if p.Name == catalog.Custom {
			d.Providers = append([]providerItem{item}, d.Providers...)
			continue
		}
		d.Providers = append(d.Providers, item)
	}
	chip := func(name, label string, n int) categoryChip {
		v := url.Values{}
		if name != "" {
			v.Set("category", name)
		}
		if d.Query != "" {
			v.Set("q", d.Query)
		}
		return categoryChip{Name: name, Label: label, Count: n, URL: newURL(c, d.ws, v), Selected: name == d.Category}
	}
	for _, cat := range catalog.Categories {
		if counts[cat.Name] > 0 && cat.Name != catalog.Custom {
			d.Categories = append(d.Categories, chip(cat.Name, cat.Label, counts[cat.Name]))
		}
	}
	slices.SortFunc(d.Categories, func(a, b categoryChip) int { return strings.Compare(a.Label, b.Label) })
	d.Categories = append([]categoryChip{chip("", "All", len(d.Providers))}, d.Categories...)
}

func (u *UI) create(c *reqCtx) error {
	f := c.r.PostForm
	d, err := u.newForm(c, f.Get("provider"), f.Get("method"), f.Get("workspace"), f.Get("app"))
	if err != nil {
		return err
	}
	if d.Provider == nil || d.Method == "" {
		return problem.New(http.StatusBadRequest, "Choose a provider and an auth method first.")
	}
	ws, err := u.workspace(c, f.Get("workspace"))
	if err != nil {
		return err
	}
	name := strings.TrimSpace(f.Get("name"))
	cfg := configFromForm(f, d.Sets)
	app := ""
	if len(d.Apps) > 0 {
		if app = f.Get("app"); app != "" {
			withoutClient(cfg) // the app's
		}
	}
	in, err := u.cfg.Creds.CreateIntegration(c.r.Context(), c.actor(), ws, creds.CreateInput{
		Name: name, Provider: d.Provider.Name, AuthMethod: d.Method, Config: cfg, App: app})
	if err != nil {
		p, ok := asProblem(err)
		if !ok || p.Status >= 500 {
			return err
		}
		d.Name = name
		rest := fillForm(d.Sets, f, p.Errors)
		for _, e := range rest {
			if e.Field == "name" {
				d.NameError = e.Message
				continue
			}
			d.Errors = append(d.Errors, e)
		}
		d.Message = p.Detail
		if len(p.Errors) > 0 {
			d.Message = "Some settings are not valid. Check the fields marked below."
		}
		return u.render(c, p.Status, "new", d)
	}
	u.setFlash(c.w, c.r, flash{Kind: "ok", Message: "Integration created. Now add its credentials."})
	http.Redirect(c.w, c.r, "/integrations/"+in.ID+"#credentials", http.StatusSeeOther)
	return nil
}

// integration loads the integration named in the path, if the session's
// token may see it.
func (u *UI) integration(c *reqCtx) (store.Integration, error) {
	in, err := u.cfg.Store.GetIntegration(c.r.Context(), c.r.PathValue("id"))
	if errors.Is(err, store.ErrNotFound) || (err == nil && !api.Visible(c.tok, in.WorkspaceID)) {
		return store.Integration{}, errNotFound
	}
	return in, err
}

// rotationStep is a step of the rotation guide.
type rotationStep struct {
	Text    string
	Done    bool
	Current bool
	Note    string
}

type integrationData struct {
	Base
	controls
	I       integrationView
	DocsURL string
	Creds   []credView
	// OlderVersions: Creds are the newest shownVersions of more.
	OlderVersions bool
	Active        *credView
	Previous      *credView
	Rotation      []rotationStep
	Events        []eventView
	Audit         []auditView
	Disabled      bool
	// Warnings are what an operator should know about the integration's
	// settings (an endpoint the egress guard blocks, keys saved unchecked).
	Warnings []string
	// AuthFailed is the last authorization's failure, while no
	// authorization has succeeded since.
	AuthFailed string
	// Link is a connect link just made (its URL, shown once); LinkTTLs
	// are the lifetimes the Send a connect link form offers.
	Link     *linkFlash
	LinkTTLs []option
	// Links are the integration's connect links that are not deleted,
	// newest first (at most maxLinksShown).
	Links []linkView
}

var saKindLabels = map[string]string{
	"google":             "Google service-account key",
	"jwt_bearer":         "JWT bearer (RFC 7523)",
	"client_credentials": "Client credentials",
	"mtls":               "Client certificate (mTLS)",
	"aws_sigv4":          "AWS access key",
	"github_app":         "GitHub App",
}

func (u *UI) integrationPage(c *reqCtx) error {
	in, err := u.integration(c)
	if err != nil {
		return err
	}
	d, err := u.integrationData(c, in)
	if err != nil {
		return err
	}
	d.SetupOpen = d.SA && c.r.URL.Query().Get("setup") != ""
	return u.renderIntegration(c, http.StatusOK, d)
}

func (u *UI) renderIntegration(c *reqCtx, status int, d integrationData) error {
	if d.OAuth || d.OAuth1 {
		oauthPage(c.w)
	}
	return u.render(c, status, "integration", d)
}

func (u *UI) integrationData(c *reqCtx, in store.Integration) (integrationData, error) {
	ctx := c.r.Context()
	wsName := ""
	if ws, err := u.cfg.Store.GetWorkspace(ctx, in.WorkspaceID); err == nil {
		wsName = ws.Name
	}
	d := integrationData{Base: u.base(c, in.Name), I: u.integrationView(in, wsName), Disabled: in.Status == store.StatusDisabled}
	d.controls, d.DocsURL = u.methodControls(in)
	d.CanEdit = c.canEdit()
	d.Action, d.SetupURL = "/integrations/"+in.ID, "/integrations/"+in.ID+"?setup=1#setup"
	d.Nav = "integrations"
	d.LinkTTLs = linkTTLs
	if d.Flash != nil && d.Flash.Link != nil {
		d.Link = d.Flash.Link
	}
	if d.CanEdit {
		links, err := u.linksOf(ctx, in)
		if err != nil {
			return d, err
		}
		d.Links = links
	}
	// The newest versions only: an integration rotated every hour for a
	// year has 10,000, and the page must cost the same either way.
	list, err := u.cfg.Store.PageCredentials(ctx, store.VersionPage{Parent: in.ID, Newest: true, Limit: shownVersions + 1})
	if err != nil {
		return d, err
	}
	if len(list) > shownVersions {
		list, d.OlderVersions = list[:shownVersions], true
	}
	slices.Reverse(list)
	for i := len(list) - 1; i >= 0; i-- { // newest first
		cv := u.credView(in, list[i])
		d.Creds = append(d.Creds, cv)
		switch cv.State {
		case store.StateActive:
			d.Active = &d.Creds[len(d.Creds)-1]
		case store.StatePrevious:
			d.Previous = &d.Creds[len(d.Creds)-1]
		}
	}
	// Pointers into d.Creds stay valid: it is not appended to again.
	d.HasActive = d.Active != nil
	d.Rotation = rotationGuide(d)
	evs, err := u.recentEvents(ctx, in)
	if err != nil {
		return d, err
	}
	for _, e := range evs {
		d.Events = append(d.Events, u.eventView(e, in.AuthMethod))
	}
	if d.OAuth {
		d.AuthFailed = lastAuthorizationFailure(evs)
	}
	recs, err := u.recentAudit(ctx, in)
	if err != nil {
		return d, err
	}
	names := map[string]string{}
	for _, a := range recs {
		title, detail := auditSentence(a, u.actorName(c, a.Actor, names), in.AuthMethod)
		d.Audit = append(d.Audit, auditView{At: u.when(a.At), Action: a.Action, Title: title, Detail: detail, IP: a.IP})
	}
	d.Warnings = u.cfg.Creds.IntegrationWarnings(in)
	return d, nil
}

// lastAuthorizationFailure is why the last authorization failed, unless
// a token set was saved since (evs newest first).
func lastAuthorizationFailure(evs []store.Event) string {
	for _, e := range evs {
		switch e.Type {
		case "authorization.failed":
			if r := str(dataOf(e.Data), "reason"); r != "" {
				return r
			}
			return "The provider did not complete it."
		case "credential.saved", "integration.connected":
			return ""
		}
	}
	return ""
}

// actorName shows an audit actor as its token's name where it still
// exists: "bootstrap admin", "Storm" for the server itself.
func (u *UI) actorName(c *reqCtx, id string, cache map[string]string) string {
	if n, ok := cache[id]; ok {
		return n
	}
	n := id
	switch {
	case id == "system" || id == "":
		n = "Storm"
	case strings.HasPrefix(id, "tok_"):
		if t, err := u.cfg.Store.GetAPIToken(c.r.Context(), id); err == nil {
			n = t.Name
		} else {
			n = "a deleted token (" + id + ")"
		}
	case strings.HasPrefix(id, "cnl_"):
		// A connect link acts for the token that made it.
		n = "a connect link"
		if l, err := u.cfg.Store.GetConnectLink(c.r.Context(), id); err == nil && l.CreatedBy != "" {
			n += " from " + u.actorName(c, l.CreatedBy, cache)
		}
	}
	cache[id] = n
	return n
}

// rotationGuide walks the product page's rotation procedure, marking
// where this integration is.
func rotationGuide(d integrationData) []rotationStep {
	var steps []rotationStep
	switch {
	case d.Basic, d.OAuth1 && !d.ThreeLegged:
		steps = []rotationStep{
			{Text: "Create a new password (or token) in the external service."},
			{Text: "Go to Integrations → " + d.I.Name + " → Credentials.", Done: true, Note: "You are here."},
			{Text: "Enter it and click Save."},
			{Text: "Verify the connection still works, then revoke the old one."},
		}
	case d.APIKey:
		steps = []rotationStep{
			{Text: "Generate a new key in the external service."},
			{Text: "Go to Integrations → " + d.I.Name + " → Credentials.", Done: true, Note: "You are here."},
			{Text: "Paste the new key and click Save."},
			{Text: "Verify the connection still works, then revoke the old key."},
		}
	case d.SA:
		steps = []rotationStep{
			{Text: "Generate a new service account key."},
			{Text: "Upload it to the connector."},
			{Text: "Verify the connection."},
			{Text: "Then deactivate the old key: revoke it here and delete it at the provider."},
		}
	default:
		return nil
	}
	if d.Active == nil && d.Previous == nil {
		return nil // nothing to rotate yet
	}
	if d.Previous != nil {
		// A new version was saved while the old one is still accepted:
		// the overlap. Verify, then revoke the old version.
		for i := range steps[:len(steps)-1] {
			steps[i].Done = true
		}
		if d.SA && d.Active != nil && !d.Active.Verified.Zero {
			steps[2].Done = true
		}
		steps[len(steps)-1].Current = true
		steps[len(steps)-1].Note = fmt.Sprintf("Version %d (previous) is still accepted as a fallback until you revoke it.", d.Previous.Version)
	} else {
		steps[0].Current = true
	}
	return steps
}

// save is the Credentials form: an API key (urlencoded) or the setup
// dialog's upload (multipart). The CSRF token travels in the body, so it
// is checked here, before anything else.
func (u *UI) save(c *reqCtx) error {
	var in creds.SaveInput
	var csrf string
	var readErr error
	if strings.HasPrefix(c.r.Header.Get("Content-Type"), "multipart/form-data") {
		in, readErr = api.ReadUpload(c.w, c.r)
		csrf = in.Form["csrf"]
		for k, v := range in.Form {
			if k == "csrf" || strings.TrimSpace(v) == "" {
				delete(in.Form, k)
			}
		}
	} else {
		c.r.Body = http.MaxBytesReader(c.w, c.r.Body, maxFormBytes)
		if err := c.r.ParseForm(); err != nil {
			return problem.New(http.StatusBadRequest, "The form could not be read.")
		}
		csrf = c.r.PostForm.Get("csrf")
		in.APIKey = c.r.PostForm.Get("api_key")
		in.Username, in.Password = c.r.PostForm.Get("username"), c.r.PostForm.Get("password")
		in.Token, in.TokenSecret = c.r.PostForm.Get("token"), c.r.PostForm.Get("token_secret")
	}
	if !c.sess.csrfOK(csrf) {
		return errRefused
	}
	integ, err := u.integration(c)
	if err != nil {
		return err
	}
	if readErr == nil && integ.AuthMethod == catalog.MethodServiceAccount && in.File == nil {
		readErr = problem.Field("file", "is required: choose the credentials file")
	}
	if readErr == nil && integ.AuthMethod != catalog.MethodServiceAccount && in.File != nil {
		readErr = problem.New(http.StatusBadRequest, "This integration takes pasted credentials, not a file.")
	}
	var cred store.Credential
	if err = readErr; err == nil {
		in.SkipVerify = false // the UI always verifies first
		cred, err = u.cfg.Creds.Save(c.r.Context(), c.actor(), integ, in)
	}
	in.APIKey, in.Password, in.TokenSecret = "", "", ""
	clear(in.File)
	if err != nil {
		return u.saveFailed(c, integ, err, in.Form)
	}
	msg := fmt.Sprintf("Saved version %d (%s)", cred.Version, hintText(cred.Hint))
	if !cred.VerifiedAt.IsZero() {
		msg += ", verified: it is now active."
	} else {
		msg += ": it is now active."
	}
	u.setFlash(c.w, c.r, flash{Kind: "ok", Message: msg})
	http.Redirect(c.w, c.r, "/integrations/"+integ.ID+"#credentials", http.StatusSeeOther)
	return nil
}

// saveFailed shows the integration again with why the Save failed.
func (u *UI) saveFailed(c *reqCtx, integ store.Integration, err error, sent map[string]string) error {
	p, ok := asProblem(err)
	if !ok || p.Status >= 500 {
		return err
	}
	d, derr := u.integrationData(c, integ)
	if derr != nil {
		return derr
	}
	d.showSaveFailure(p, err, sent)
	return u.renderIntegration(c, p.Status, d)
}

// showSaveFailure puts why a Save failed into the controls: the
// provider's answer when verification refused it, else the refused
// fields. A service account's setup dialog opens again with the error
// inside it and the settings it was sent (never a secret or the file).
func (d *controls) showSaveFailure(p *problem.Problem, err error, sent map[string]string) {
	d.SaveError = p.Detail
	var vf *creds.VerifyFailed
	if errors.As(err, &vf) {
		d.SaveVerify = verifyOf(vf.Result)
		d.SaveError = causeHeadline(string(vf.Result.Reason), d.ProviderName, vf.Result.Status) + " Nothing was changed."
	}
	if d.SA {
		for i := range d.Upload {
			if f := &d.Upload[i]; f.Type == "text" {
				f.Value = sent[f.Name]
			}
		}
		d.UploadErrors = attachUploadErrors(d.Upload, p.Errors)
		d.SetupOpen = true
		if len(p.Errors) > 0 {
			d.SaveError = "The file was not accepted. Nothing was changed."
		}
	} else if len(p.Errors) > 0 {
		msgs := make([]string, 0, len(p.Errors))
		for _, e := range p.Errors {
			msg := e.Message
			if e.Field != "api_key" {
				msg = e.Field + " " + msg
			}
			msgs = append(msgs, msg)
		}
		what := "The key was"
		if !d.APIKey {
			what = "The credentials were"
		}
		d.SaveError = what + " not accepted: " + strings.Join(msgs, "; ") + ". Nothing was changed."
	}
}

func verifyOf(r methods.Result) *verifyResult {
	return &verifyResult{OK: r.OK, Status: r.Status, LatencyMS: r.Latency.Milliseconds(), Error: r.Error,
		Reason: string(r.Reason), Message: r.Message}
}

// done redirects back to the integration with a message.
func (u *UI) done(c *reqCtx, integ store.Integration, anchor string, f flash) error {
	u.setFlash(c.w, c.r, f)
	http.Redirect(c.w, c.r, "/integrations/"+integ.ID+anchor, http.StatusSeeOther)
	return nil
}

// problemFlash turns a refused action into a message on the page; other
// errors fail the request.
func (u *UI) problemFlash(c *reqCtx, integ store.Integration, anchor string, err error) error {
	p, ok := asProblem(err)
	if !ok || p.Status >= 500 && p.Status != http.StatusBadGateway && p.Status != http.StatusGatewayTimeout {
		return err
	}
	return u.done(c, integ, anchor, flash{Kind: "error", Message: p.Detail})
}

func (u *UI) revoke(c *reqCtx) error {
	integ, err := u.integration(c)
	if err != nil {
		return err
	}
	cred, err := u.cfg.Creds.Revoke(c.r.Context(), c.actor(), integ, c.r.PathValue("cred"))
	if err != nil {
		return u.problemFlash(c, integ, "#credentials", err)
	}
	return u.done(c, integ, "#credentials", flash{Kind: "ok", Message: fmt.Sprintf("Revoked version %d (%s). Its key material is destroyed.", cred.Version, cred.Hint)})
}

func (u *UI) verify(c *reqCtx) error {
	integ, err := u.integration(c)
	if err != nil {
		return err
	}
	res, err := u.cfg.Creds.Verify(c.r.Context(), c.actor(), integ)
	if err != nil {
		return u.problemFlash(c, integ, "#credentials", err)
	}
	f := flash{Kind: "ok", Message: "Verified: the provider accepted the credential.", Verify: verifyOf(res)}
	switch {
	case !res.Checked():
		f.Kind, f.Message = "info", "Not checked: this integration has no verification request."
	case !res.OK:
		f.Kind, f.Message = "error", "Not working: "+causeHeadline(string(res.Reason), u.providerName(integ.Provider), res.Status)
	}
	return u.done(c, integ, "#credentials", f)
}

// authorize starts an OAuth 2.0 authorization (Authorize, Reconnect):
// the state is bound to this browser by a cookie that only the callback
// sees, so the authorization completes only where it started.
func (u *UI) authorize(c *reqCtx) error {
	integ, err := u.integration(c)
	if err != nil {
		return err
	}
	binding := randomString(32)
	to, err := u.cfg.Creds.Authorize(c.r.Context(), c.actor(), integ, "/integrations/"+integ.ID, []byte(binding))
	if err != nil {
		return u.problemFlash(c, integ, "#credentials", err)
	}
	http.SetCookie(c.w, &http.Cookie{Name: api.BindingCookie, Value: binding, Path: creds.CallbackPath, HttpOnly: true,
		SameSite: http.SameSiteLaxMode, Secure: u.secure(c.r), MaxAge: int(creds.StateTTL.Seconds())})
	oauthPage(c.w)
	http.Redirect(c.w, c.r, to, http.StatusSeeOther)
	return nil
}

func (u *UI) setDisabled(c *reqCtx, disabled bool) error {
	integ, err := u.integration(c)
	if err != nil {
		return err
	}
	if _, err := u.cfg.Creds.UpdateIntegration(c.r.Context(), c.actor(), integ.ID, creds.UpdateInput{Disabled: &disabled}); err != nil {
		return u.problemFlash(c, integ, "", err)
	}
	msg := "Enabled. Syncs can use it again."
	if disabled {
		msg = "Disabled. Syncs cannot use it until it is enabled again."
	}
	return u.done(c, integ, "", flash{Kind: "ok", Message: msg})
}

func (u *UI) enable(c *reqCtx) error  { return u.setDisabled(c, false) }
func (u *UI) disable(c *reqCtx) error { return u.setDisabled(c, true) }

func (u *UI) delete(c *reqCtx) error {
	integ, err := u.integration(c)
	if err != nil {
		return err
	}
	if c.r.PostForm.Get("confirm") != integ.Name {
		return u.done(c, integ, "#danger", flash{Kind: "error", Message: "Type the integration's name to confirm the deletion. Nothing was deleted."})
	}
	if err := u.cfg.Creds.DeleteIntegration(c.r.Context(), c.actor(), integ); err != nil {
		return u.problemFlash(c, integ, "#danger", err)
	}
	u.setFlash(c.w, c.r, flash{Kind: "ok", Message: "Deleted " + integ.Name + " and destroyed its key material."})
	to := "/integrations"
	if integ.WorkspaceID != c.ws.ID {
		if ws, err := u.cfg.Store.GetWorkspace(c.r.Context(), integ.WorkspaceID); err == nil {
			to += "?workspace=" + url.QueryEscape(ws.Name)
		}
	}
	http.Redirect(c.w, c.r, to, http.StatusSeeOther)
	return nil
}
