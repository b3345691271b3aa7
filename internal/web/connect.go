package web

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/stormcreds/storm/internal/api"
	"github.com/stormcreds/storm/internal/connect"
	"github.com/stormcreds/storm/internal/creds"
	"github.com/stormcreds/storm/internal/problem"
	"github.com/stormcreds/storm/internal/store"
	"github.com/stormcreds/storm/internal/vault"
)

// Connect link pages (shared/API.md "Connect links"): /connect/<secret>
// shows one integration's credential controls (or, for a link that
// creates an integration, its providers first) to someone who is not
// signed in. Nothing else of the workspace is shown. Every form carries
// a CSRF token kept in a cookie scoped to /connect/, per link, so a form
// only works in the browser that opened the link. The pages send no
// Referer anywhere, and their Content-Security-Policy is computed per
// answer: form-action lists the link's return_url and the provider's
// authorization endpoint, because Chromium applies form-action to the
// redirects a form submission leads to.

func (u *UI) linkRoutes() {
	if u.cfg.Connect == nil {
		return
	}
	u.mux.HandleFunc("GET /connect/{secret}", u.link(u.linkPage))
	u.mux.HandleFunc("POST /connect/{secret}/credentials", u.link(u.linkSave))
	u.mux.HandleFunc("POST /connect/{secret}/authorize", u.link(u.linkAuthorize))
	u.mux.HandleFunc("GET /connect/return", u.linkReturn)
	u.handle("POST /integrations/{id}/connect", editor, u.sendLink)
	u.handle("POST /integrations/{id}/connect/{link}/delete", editor, u.deleteLink)
}

// linkCookie is the browser's side of the links it opened: per link its
// secret (to come back to the page after an authorization), the CSRF
// token of its forms and whether the page has an opener to tell the
// outcome. Sealed by the vault, HttpOnly, scoped to /connect/.
type linkCookie struct {
	Visits []linkVisit `json:"v"`
}

type linkVisit struct {
	ID      string `json:"i"`
	Secret  string `json:"s"`
	CSRF    string `json:"c"`
	Expires int64  `json:"e"` // the link's expiry, Unix seconds
	Opener  bool   `json:"o,omitempty"`
	// Started is when this browser last started an authorization through
	// the link (Unix nanoseconds): /connect/return goes back to the most
	// recent one.
	Started int64 `json:"a,omitempty"`
}

// maxVisits bounds the links one cookie remembers.
const maxVisits = 4

const (
	linkCookieName       = "storm_connect"
	secureLinkCookieName = "__Secure-storm_connect"
)

var linkCookieAD = vault.AD{Field: "connect-cookie"}

func (u *UI) linkCookieName(r *http.Request) string {
	if u.secure(r) {
		return secureLinkCookieName
	}
	return linkCookieName
}

func (u *UI) readLinkCookie(r *http.Request) linkCookie {
	var lc linkCookie
	if !u.openCookie(r, u.linkCookieName(r), linkCookieAD, &lc) {
		return linkCookie{}
	}
	return lc
}

// visit returns the cookie's entry for l, adding one (with a fresh CSRF
// token) when there is none.
func (lc *linkCookie) visit(l store.ConnectLink, secret string) *linkVisit {
	for i := range lc.Visits {
		if v := &lc.Visits[i]; v.ID == l.ID && v.Secret == secret {
			return v
		}
	}
	lc.Visits = append([]linkVisit{{ID: l.ID, Secret: secret, CSRF: randomString(32), Expires: l.ExpiresAt.Unix()}}, lc.Visits...)
	if len(lc.Visits) > maxVisits {
		lc.Visits = lc.Visits[:maxVisits]
	}
	return &lc.Visits[0]
}

func (u *UI) writeLinkCookie(w http.ResponseWriter, r *http.Request, lc linkCookie) {
	now := u.now().Unix()
	live := lc.Visits[:0]
	var last int64
	for _, v := range lc.Visits {
		if v.Expires > now {
			live = append(live, v)
			last = max(last, v.Expires)
		}
	}
	lc.Visits = live
	maxAge := int(last - now)
	value := ""
	if len(live) == 0 {
		maxAge = -1
	} else {
		var err error
		if value, err = u.sealCookie(lc, linkCookieAD); err != nil {
			u.logger.Warn("web: seal the link cookie", "err", err)
			return
		}
	}
	http.SetCookie(w, &http.Cookie{Name: u.linkCookieName(r), Value: value, Path: connect.Path, HttpOnly: true,
		SameSite: http.SameSiteLaxMode, Secure: u.secure(r), MaxAge: maxAge})
}

// linkCtx is one request to a link's page.
type linkCtx struct {
	w      http.ResponseWriter
	r      *http.Request
	secret string
	link   store.ConnectLink
	cookie linkCookie
	// choice is what a link that creates an integration is connecting:
	// the provider and auth method picked (query or form).
	choice connect.Choice
	// formActions are origins this answer's forms may lead to, besides
	// Storm: the return_url's and the provider's authorization endpoint.
	formActions []string
}

func (c *linkCtx) ip() string { return api.ActorOf(store.APIToken{}, c.r).IP }

// base is the page frame of a link's page: no signed-in user, no
// navigation, the link's CSRF token.
func (c *linkCtx) base(title string) Base {
	b := Base{Title: title, Bare: true}
	if v := c.cookie.visit(c.link, c.secret); v != nil {
		b.CSRF = v.CSRF
	}
	return b
}

// link wraps a link page's handler: it opens the link (404 when unknown,
// 410 when spent, expired, deleted or locked) and sets the headers every
// link page carries.
func (u *UI) link(h func(c *linkCtx) error) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		linkHeaders(w, nil, false)
		secret := r.PathValue("secret")
		l, err := u.cfg.Connect.Open(r.Context(), secret)
		if err != nil {
			u.linkOpenFailed(w, r, err)
			return
		}
		c := &linkCtx{w: w, r: r, secret: secret, link: l, cookie: u.readLinkCookie(r)}
		if o := creds.Origin(l.ReturnURL); o != "" {
			c.formActions = append(c.formActions, o)
		}
		linkHeaders(w, c.formActions, l.ReturnURL != "")
		if r.Method == http.MethodPost && !sameOrigin(r) {
			u.linkFail(w, http.StatusForbidden, "Form refused", "This form was refused: it did not come from this page. Open the link again and try once more.")
			return
		}
		q := r.URL.Query()
		c.choice = connect.Choice{Provider: q.Get("provider"), Method: q.Get("method")}
		if err := h(c); err != nil {
			u.linkError(c, err)
		}
	}
}

// linkHeaders sets what every answer about a link carries: no Referer
// (the URL is the secret), no framing, and a Content-Security-Policy
// whose form-action lets this answer's forms reach Storm and origins. A
// link with a return_url may be opened in a popup by a page of its
// origin, which must keep its opener to hear the outcome.
func linkHeaders(w http.ResponseWriter, origins []string, opened bool) {
	h := w.Header()
	h.Set("Referrer-Policy", "no-referrer")
	p := csp(false) + "; form-action 'self'"
	for _, o := range origins {
		p += " " + o
	}
	h.Set("Content-Security-Policy", p)
	if opened {
		h.Set("Cross-Origin-Opener-Policy", "unsafe-none")
	}
}

// linkOpenFailed answers a link that cannot be opened: 404 for an
// unknown one, 410 saying why for one that is gone.
func (u *UI) linkOpenFailed(w http.ResponseWriter, r *http.Request, err error) {
	var g *connect.Gone
	switch {
	case errors.Is(err, connect.ErrUnknown):
		u.linkFail(w, http.StatusNotFound, "Link not found", "There is no connect link at this address. Check that you copied all of it.")
	case errors.As(err, &g):
		titles := map[string]string{connect.Used: "Link already used", connect.Expired: "Link expired", connect.Deleted: "Link deleted", connect.Locked: "Link locked"}
		u.linkFail(w, http.StatusGone, titles[g.Reason], g.Message())
	default:
		u.logger.Error("web: open a connect link", "path", api.LogPath(r.URL.Path), "err", err)
		u.linkFail(w, http.StatusInternalServerError, "Something went wrong", "Something went wrong on Storm's side; try again in a moment.")
	}
}

// linkFail renders the bare message page of a link (410 and the like):
// it shows nothing but the message.
func (u *UI) linkFail(w http.ResponseWriter, status int, title, msg string) {
	data := struct {
		Base
		Message string
		Status  int
	}{Base: Base{Title: title, Bare: true}, Message: msg, Status: status}
	u.write(w, status, "error", data)
}

// linkError answers a handler's error on a link page.
func (u *UI) linkError(c *linkCtx, err error) {
	var lr *creds.LinkRefused
	if errors.As(err, &lr) {
		// Spent, expired, locked meanwhile (or busy): the link says so.
		if _, oerr := u.cfg.Connect.Open(c.r.Context(), c.secret); oerr != nil {
			u.linkOpenFailed(c.w, c.r, oerr)
			return
		}
		u.linkFail(c.w, http.StatusConflict, "Try again in a moment", lr.Message)
		return
	}
	if p, ok := asProblem(err); ok && p.Status < 500 {
		u.linkFail(c.w, p.Status, http.StatusText(p.Status), p.Detail)
		return
	}
	u.logger.Error("web: connect link page", "method", c.r.Method, "path", api.LogPath(c.r.URL.Path), "link", c.link.ID, "err", err)
	u.linkFail(c.w, http.StatusInternalServerError, "Something went wrong", "Something went wrong on Storm's side; try again in a moment.")
}

// write executes page name into w with status.
func (u *UI) write(w http.ResponseWriter, status int, name string, data any) {
	if err := u.render(&reqCtx{w: w}, status, name, data); err != nil {
		u.logger.Error("web: render", "page", name, "err", err)
	}
}

// connectData is a link's page.
type connectData struct {
	Base
	controls
	Workspace string
	// Name and the provider's are what is being connected: the
	// integration's, or the one a link creates.
	Name         string
	LogoURL      string
	MethodLabel  string
	Expires      timeView
	ReturnOrigin string
	// A link that creates an integration shows its providers first
	// (Providers), then the chosen one's auth methods (Methods).
	Creates   bool
	Providers []linkChoice
	Methods   []linkChoice
	BackURL   string
	// LastError is why the last attempt through the link failed (an
	// authorization the provider refused), when this page is not
	// already the answer to a failed save.
	LastError string
	// Controls shows the credential controls.
	Controls bool
}

// linkChoice is a provider or auth method to pick, as a link (so the
// choice works without a script).
type linkChoice struct {
	URL     string
	Label   string
	Sub     string
	LogoURL string
}

func (u *UI) linkPage(c *linkCtx) error {
	d, err := u.linkData(c)
	if err != nil {
		return err
	}
	d.SetupOpen = d.SA && c.r.URL.Query().Get("setup") != ""
	return u.renderLink(c, http.StatusOK, d)
}

// linkData prepares a link's page for c's link and choice.
func (u *UI) linkData(c *linkCtx) (connectData, error) {
	ctx := c.r.Context()
	l := c.link
	ws, err := u.cfg.Store.GetWorkspace(ctx, l.WorkspaceID)
	if err != nil {
		return connectData{}, err
	}
	d := connectData{Base: c.base("Connect " + l.Name), Workspace: ws.Name, Name: l.Name, Expires: u.when(l.ExpiresAt),
		ReturnOrigin: creds.Origin(l.ReturnURL), LastError: l.LastError, Creates: l.Creates()}
	page := connect.Path + c.secret
	var integ store.Integration
	if !l.Creates() {
		if integ, err = u.cfg.Store.GetIntegration(ctx, l.IntegrationID); err != nil {
			return connectData{}, err
		}
	} else {
		var ok bool
		if integ, ok, err = u.linkChoices(c, &d); err != nil || !ok {
			return d, err
		}
	}
	d.controls, _ = u.methodControls(integ)
	if l.Creates() {
		d.Hidden = []hidden{{"provider", integ.Provider}, {"method", integ.AuthMethod}}
	}
	d.Controls, d.CanEdit, d.Link, d.RedirectURI = true, true, true, ""
	d.Action = page
	q := url.Values{"setup": {"1"}}
	if l.Creates() {
		q.Set("provider", integ.Provider)
		q.Set("method", integ.AuthMethod)
	}
	d.SetupURL = page + "?" + q.Encode() + "#setup"
	d.LogoURL, d.MethodLabel = u.logoURL(integ.Provider), methodLabel(integ.AuthMethod)
	if !l.Creates() {
		d.Name = integ.Name
		if list, err := u.cfg.Store.LiveCredentials(ctx, integ.ID); err == nil {
			for _, cr := range list {
				d.HasActive = d.HasActive || cr.State == store.StateActive
			}
		}
	}
	if d.OAuth || d.ThreeLegged {
		if o := u.cfg.Connect.AuthorizationOrigin(ctx, l, c.choice); o != "" {
			c.formActions = append(c.formActions, o)
		}
	}
	return d, nil
}

// linkChoices fills in the providers (and the chosen provider's auth
// methods) of a link that creates an integration; ok once both are
// chosen, with the integration that would be created.
func (u *UI) linkChoices(c *linkCtx, d *connectData) (store.Integration, bool, error) {
	ctx := c.r.Context()
	offers, err := u.cfg.Connect.Offers(ctx, c.link)
	if err != nil {
		return store.Integration{}, false, err
	}
	page := connect.Path + c.secret
	var chosen *connect.Offer
	for i, o := range offers {
		if len(o.Methods) == 0 {
			continue
		}
		q := url.Values{"provider": {o.Provider.Name}}
		if len(o.Methods) == 1 {
			q.Set("method", o.Methods[0].Method)
		}
		var labels []string
		for _, m := range o.Methods {
			labels = append(labels, methodLabel(m.Method))
		}
		d.Providers = append(d.Providers, linkChoice{URL: page + "?" + q.Encode(), Label: o.Provider.DisplayName,
			Sub: strings.Join(labels, " · "), LogoURL: u.logoURL(o.Provider.Name)})
		if o.Provider.Name == c.choice.Provider {
			chosen = &offers[i]
		}
	}
	if len(d.Providers) == 0 {
		return store.Integration{}, false, problem.New(http.StatusConflict, "Nothing can be connected through this link any more. Ask whoever sent it for a new one.")
	}
	if chosen == nil && len(d.Providers) > 1 {
		return store.Integration{}, false, nil
	}
	if chosen == nil { // one provider: nothing to choose
		for i := range offers {
			if len(offers[i].Methods) > 0 {
				chosen = &offers[i]
			}
		}
		c.choice.Provider = chosen.Provider.Name
	}
	d.LogoURL = u.logoURL(chosen.Provider.Name)
	if c.choice.Method == "" && len(chosen.Methods) == 1 {
		c.choice.Method = chosen.Methods[0].Method
	}
	for _, m := range chosen.Methods {
		q := url.Values{"provider": {chosen.Provider.Name}, "method": {m.Method}}
		d.Methods = append(d.Methods, linkChoice{URL: page + "?" + q.Encode(), Label: methodLabel(m.Method), Sub: methodAbout[m.Method]})
	}
	for _, m := range chosen.Methods {
		if m.Method != c.choice.Method {
			continue
		}
		integ, err := u.cfg.Connect.Pending(ctx, c.link, c.choice)
		if err != nil {
			return store.Integration{}, false, err
		}
		if len(d.Providers) > 1 || len(d.Methods) > 1 {
			d.BackURL = page // "connect something else"
		}
		d.Providers, d.Methods = nil, nil
		return integ, true, nil
	}
	d.Providers = nil
	d.MethodLabel = "Choose how to connect " + chosen.Provider.DisplayName
	return store.Integration{}, false, nil
}

func (u *UI) renderLink(c *linkCtx, status int, d connectData) error {
	u.writeLinkCookie(c.w, c.r, c.cookie)
	linkHeaders(c.w, c.formActions, c.link.ReturnURL != "")
	return u.render(&reqCtx{w: c.w, r: c.r}, status, "connect", d)
}

// csrfOK checks a link form's token against this browser's for the link.
func (c *linkCtx) csrfOK(token string) bool {
	for _, v := range c.cookie.Visits {
		if v.ID == c.link.ID && v.Secret == c.secret {
			return session{CSRF: v.CSRF}.csrfOK(token)
		}
	}
	return false
}

// errLinkForm refuses a link form without this browser's token (never
// counted against the link: it is not an attempt).
var errLinkForm = problem.New(http.StatusForbidden, "This form was refused: it did not carry this page's security token. Open the link again and try once more.")

// linkSave is the link's Save (a key, a password, tokens) or upload.
func (u *UI) linkSave(c *linkCtx) error {
	var in creds.SaveInput
	var form map[string]string
	var readErr error
	if strings.HasPrefix(c.r.Header.Get("Content-Type"), "multipart/form-data") {
		in, readErr = api.ReadUpload(c.w, c.r)
		form = in.Form
		in.Form = map[string]string{}
		for k, v := range form {
			switch {
			case k == "csrf" || k == "opener" || k == "provider" || k == "method" || strings.TrimSpace(v) == "":
			default:
				in.Form[k] = v
			}
		}
	} else {
		c.r.Body = http.MaxBytesReader(c.w, c.r.Body, maxFormBytes)
		if err := c.r.ParseForm(); err != nil {
			return problem.New(http.StatusBadRequest, "The form could not be read.")
		}
		f := c.r.PostForm
		form = map[string]string{"csrf": f.Get("csrf"), "opener": f.Get("opener"), "provider": f.Get("provider"), "method": f.Get("method")}
		in.APIKey, in.Username, in.Password = f.Get("api_key"), f.Get("username"), f.Get("password")
		in.Token, in.TokenSecret = f.Get("token"), f.Get("token_secret")
	}
	if !c.csrfOK(form["csrf"]) {
		return errLinkForm
	}
	if c.link.Creates() {
		c.choice = connect.Choice{Provider: form["provider"], Method: form["method"]}
	}
	d, err := u.linkData(c)
	if err != nil {
		return err
	}
	if !d.Controls {
		return problem.New(http.StatusBadRequest, "Choose what to connect first.")
	}
	if readErr == nil && d.SA && in.File == nil {
		readErr = problem.Field("file", "is required: choose the credentials file")
	}
	if readErr == nil && !d.SA && in.File != nil {
		readErr = problem.New(http.StatusBadRequest, "This integration takes pasted credentials, not a file.")
	}
	var integ store.Integration
	if err = readErr; err == nil {
		integ, err = u.cfg.Connect.Save(c.r.Context(), c.link, c.ip(), c.choice, in)
	}
	in.APIKey, in.Password, in.TokenSecret = "", "", ""
	clear(in.File)
	if err != nil {
		return u.linkSaveFailed(c, d, err, in.Form)
	}
	return u.connected(c, integ, form["opener"] != "")
}

// linkSaveFailed shows the link's page again with why the Save failed,
// as the integration page does; a link that locked itself meanwhile
// answers 410.
func (u *UI) linkSaveFailed(c *linkCtx, d connectData, err error, sent map[string]string) error {
	p, ok := asProblem(err)
	if !ok || p.Status >= 500 {
		return err
	}
	if _, oerr := u.cfg.Connect.Open(c.r.Context(), c.secret); oerr != nil {
		u.linkOpenFailed(c.w, c.r, oerr)
		return nil
	}
	d.LastError = ""
	d.showSaveFailure(p, err, sent)
	return u.renderLink(c, p.Status, d)
}

// linkAuthorize starts an authorization (Authorize, Reconnect) through
// the link. Its state is bound to this browser by the same cookie as the
// integration page's, and it comes back to /connect/return.
func (u *UI) linkAuthorize(c *linkCtx) error {
	c.r.Body = http.MaxBytesReader(c.w, c.r.Body, maxFormBytes)
	if err := c.r.ParseForm(); err != nil {
		return problem.New(http.StatusBadRequest, "The form could not be read.")
	}
	f := c.r.PostForm
	if !c.csrfOK(f.Get("csrf")) {
		return errLinkForm
	}
	if c.link.Creates() {
		c.choice = connect.Choice{Provider: f.Get("provider"), Method: f.Get("method")}
	}
	binding := randomString(32)
	to, err := u.cfg.Connect.Authorize(c.r.Context(), c.link, c.ip(), c.choice, []byte(binding))
	if err != nil {
		p, ok := asProblem(err)
		if !ok || p.Status >= 500 && p.Status != http.StatusBadGateway && p.Status != http.StatusGatewayTimeout {
			return err
		}
		d, derr := u.linkData(c)
		if derr != nil {
			return derr
		}
		d.SaveError, d.LastError = p.Detail, ""
		return u.renderLink(c, p.Status, d)
	}
	v := c.cookie.visit(c.link, c.secret)
	v.Opener, v.Started = f.Get("opener") != "", u.now().UnixNano()
	u.writeLinkCookie(c.w, c.r, c.cookie)
	http.SetCookie(c.w, &http.Cookie{Name: api.BindingCookie, Value: binding, Path: creds.CallbackPath, HttpOnly: true,
		SameSite: http.SameSiteLaxMode, Secure: u.secure(c.r), MaxAge: int(creds.StateTTL.Seconds())})
	http.Redirect(c.w, c.r, to, http.StatusSeeOther)
	return nil
}

// linkReturn is where an authorization started from a link comes back
// (after the OAuth callback): to the outcome when the link was spent on
// it, else to the link's page, which says why it failed.
func (u *UI) linkReturn(w http.ResponseWriter, r *http.Request) {
	linkHeaders(w, nil, false)
	lc := u.readLinkCookie(r)
	var v *linkVisit
	for i := range lc.Visits {
		if v == nil || lc.Visits[i].Started > v.Started {
			v = &lc.Visits[i]
		}
	}
	if v == nil || v.Started == 0 {
		u.linkFail(w, http.StatusNotFound, "Nothing to return to", "This browser started no authorization through a connect link. Open the link you were sent again.")
		return
	}
	l, err := u.cfg.Connect.Get(r.Context(), v.ID)
	if err != nil || !connect.Matches(l, v.Secret) {
		u.linkFail(w, http.StatusNotFound, "Nothing to return to", "The connect link this browser used no longer exists.")
		return
	}
	c := &linkCtx{w: w, r: r, secret: v.Secret, link: l, cookie: lc}
	if o := creds.Origin(l.ReturnURL); o != "" {
		c.formActions = append(c.formActions, o)
	}
	linkHeaders(w, c.formActions, l.ReturnURL != "")
	if !l.UsedAt.IsZero() && l.IntegrationID != "" && l.DeletedAt.IsZero() {
		integ, err := u.cfg.Store.GetIntegration(r.Context(), l.IntegrationID)
		if err == nil {
			if err := u.connected(c, integ, v.Opener); err != nil {
				u.linkError(c, err)
			}
			return
		}
	}
	http.Redirect(w, r, connect.Path+v.Secret, http.StatusSeeOther)
}

// connectedData is the page a link shows once it connected.
type connectedData struct {
	Base
	Name         string
	ProviderName string
	LogoURL      string
	Integration  string
	Status       string
	// ReturnURL is where the browser goes next; Origin is its origin, to
	// which the page posts the outcome to its opener.
	ReturnURL string
	Origin    string
	Notify    bool
}

// connected answers a link that just connected integ: a redirect to its
// return_url with the outcome, or, when the page has an opener (told by
// the script) and a return_url, a page that posts the outcome to the
// opener on return_url's origin and closes; without a return_url, a
// page that says Connected.
func (u *UI) connected(c *linkCtx, integ store.Integration, opener bool) error {
	status := "connected"
	if integ.Status != store.StatusConnected {
		status = integ.Status
	}
	back := connect.ReturnURL(c.link, integ.ID, status)
	if back != "" && !opener {
		http.Redirect(c.w, c.r, back, http.StatusSeeOther)
		return nil
	}
	d := connectedData{Base: Base{Title: "Connected", Bare: true}, Name: integ.Name, ProviderName: u.providerName(integ.Provider),
		LogoURL: u.logoURL(integ.Provider), Integration: integ.ID, Status: status, ReturnURL: back, Origin: creds.Origin(back),
		Notify: back != "" && opener}
	linkHeaders(c.w, c.formActions, c.link.ReturnURL != "")
	return u.render(&reqCtx{w: c.w, r: c.r}, http.StatusOK, "connected", d)
}

// linkFlash is a connect link just made, shown once on the integration
// page.
type linkFlash struct {
	URL     string `json:"u"`
	Expires string `json:"e"`
}

// linkTTLs are the lifetimes the integration page offers for a link.
var linkTTLs = []option{
	{Value: "30m", Label: "30 minutes", Selected: true},
	{Value: "2h", Label: "2 hours"},
	{Value: "24h", Label: "1 day"},
	{Value: "168h", Label: "7 days"},
}

// sendLink is the integration page's "Send a connect link": it makes a
// link and shows its URL once, to copy.
func (u *UI) sendLink(c *reqCtx) error {
	integ, err := u.integration(c)
	if err != nil {
		return err
	}
	f := c.r.PostForm
	made, err := u.cfg.Connect.Create(c.r.Context(), c.actor(), integ, connect.Input{ExpiresIn: f.Get("expires_in"), ReturnURL: strings.TrimSpace(f.Get("return_url"))})
	if err != nil {
		return u.problemFlash(c, integ, "#connect-link", err)
	}
	return u.done(c, integ, "#connect-link", flash{Kind: "ok", Message: "Connect link created. Send it to the person who owns the account; it works once.",
		Link: &linkFlash{URL: made.URL, Expires: made.Link.ExpiresAt.UTC().Format("2006-01-02 15:04 UTC")}})
}

// linkView is one of an integration's connect links on its page: never
// its secret (the URL was shown once, when it was made).
type linkView struct {
	ID        string
	State     string // open, used, expired or locked
	Created   timeView
	Expires   timeView
	Failures  int
	CreatedBy string
}

// maxLinksShown bounds the links the integration page lists, newest
// first, out of at most maxLinksRead (ids are random, so "newest" needs
// them all); the API and `storm connect list` page through every one.
const (
	maxLinksShown = 20
	maxLinksRead  = 1000
)

// linksOf lists integ's newest connect links for its page.
func (u *UI) linksOf(ctx context.Context, integ store.Integration) ([]linkView, error) {
	if u.cfg.Connect == nil {
		return nil, nil
	}
	var all []store.ConnectLink
	p := store.ConnectLinkPage{WorkspaceID: integ.WorkspaceID, IntegrationID: integ.ID}
	for len(all) < maxLinksRead {
		page, err := u.cfg.Connect.List(ctx, p)
		if err != nil {
			return nil, err
		}
		all = append(all, page...)
		if len(page) < store.ConnectLinkPageLimit(p) {
			break
		}
		p.After = page[len(page)-1].ID
	}
	slices.SortFunc(all, func(a, b store.ConnectLink) int { return b.CreatedAt.Compare(a.CreatedAt) })
	all = all[:min(len(all), maxLinksShown)]
	out := make([]linkView, 0, len(all))
	for _, l := range all {
		out = append(out, linkView{ID: l.ID, State: u.cfg.Connect.State(l), Created: u.when(l.CreatedAt),
			Expires: u.when(l.ExpiresAt), Failures: l.Failures, CreatedBy: l.CreatedBy})
	}
	return out, nil
}

// deleteLink deletes one of the integration's connect links: its URL
// answers "deleted" from then on.
func (u *UI) deleteLink(c *reqCtx) error {
	integ, err := u.integration(c)
	if err != nil {
		return err
	}
	l, err := u.cfg.Connect.Get(c.r.Context(), c.r.PathValue("link"))
	if err != nil || l.IntegrationID != integ.ID || l.WorkspaceID != integ.WorkspaceID {
		return u.done(c, integ, "#connect-link", flash{Kind: "error", Message: "That connect link does not exist (any more)."})
	}
	if err := u.cfg.Connect.Delete(c.r.Context(), c.actor(), l); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return u.done(c, integ, "#connect-link", flash{Kind: "error", Message: "That connect link was already deleted."})
		}
		return err
	}
	return u.done(c, integ, "#connect-link", flash{Kind: "ok", Message: "Connect link deleted: its URL no longer works."})
}
