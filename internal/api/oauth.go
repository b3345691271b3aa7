package api

import (
	"errors"
	"html/template"
	"net/http"
	"net/url"

	"github.com/stormcreds/storm/internal/creds"
)

func (s *Server) authorize(w http.ResponseWriter, r *http.Request) {
	integ, err := s.integration(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	var in struct {
		ReturnTo string `json:"return_to"`
	}
	if r.ContentLength != 0 {
		if err := s.decode(w, r, &in); err != nil {
			s.writeError(w, r, err)
			return
		}
	}
	u, err := s.cfg.Creds.Authorize(r.Context(), principalFrom(r.Context()).actor(), integ, in.ReturnTo, nil)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"authorize_url": u, "expires_in": int(creds.StateTTL.Seconds())})
}

// BindingCookie is set by the web UI when it starts an authorization, so
// the callback only completes in the browser that started it.
const BindingCookie = "storm_oauth_binding"

// callback is the OAuth redirect URI. No API token: the single-use state
// authenticates it. It answers with a redirect to return_to or a small
// page, never with a token, and never leaks the URL through Referer.
func (s *Server) callback(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'")
	h.Set("X-Frame-Options", "DENY")
	var binding []byte
	if c, err := r.Cookie(BindingCookie); err == nil && c.Value != "" {
		binding = []byte(c.Value)
	}
	integ, returnTo, err := s.cfg.Creds.Callback(r.Context(), r.URL.Query(), binding)
	if err != nil {
		var cerr *creds.CallbackError
		if !errors.As(err, &cerr) {
			s.logger.Error("oauth callback", "err", err)
			cerr = &creds.CallbackError{Message: "Storm could not complete the authorization. Nothing was changed; try again."}
		}
		if cerr.Redirect && cerr.ReturnTo != "" {
			// A connect link's page says what went wrong itself.
			http.Redirect(w, r, cerr.ReturnTo, http.StatusSeeOther)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.WriteHeader(http.StatusBadRequest)
		back, backText := cerr.ReturnTo, "Back to Storm"
		switch {
		case back == "" && cerr.Integration != "":
			// Every failure links to where it can be tried again.
			back, backText = "/integrations/"+url.PathEscape(cerr.Integration), "Back to the integration"
		case back == "":
			back = "/integrations"
		}
		callbackPage.Execute(w, map[string]any{"Title": "Authorization failed", "Message": cerr.Message, "Back": back, "BackText": backText})
		return
	}
	if returnTo != "" {
		http.Redirect(w, r, returnTo, http.StatusSeeOther)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	callbackPage.Execute(w, map[string]any{"Title": "Connected", "Message": integ.Name + " is connected. You can close this window."})
}

var callbackPage = template.Must(template.New("callback").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer"><title>{{.Title}} – Storm</title>
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:36rem;margin:4rem auto;padding:0 1rem;color:#1c2330}h1{font-size:1.4rem}</style>
</head><body><main><h1>{{.Title}}</h1><p>{{.Message}}</p>{{if .Back}}<p><a href="{{.Back}}" id="back">{{or .BackText "Back to Storm"}}</a></p>{{end}}</main></body></html>
`))
