package api

import (
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/stormcreds/storm/internal/catalog"
	"github.com/stormcreds/storm/internal/problem"
)

// LogoURL is where a provider's logo is served; the hash versions it so
// the answer can be cached as immutable.
func LogoURL(name string, l catalog.Logo) string {
	return "/v1/providers/" + url.PathEscape(name) + "/logo.svg?v=" + l.Hash
}

// providerSummary is a /v1/providers entry (shared/API.md "Catalog
// entries").
func (s *Server) providerSummary(p catalog.Provider) map[string]any {
	l, _ := s.cfg.Catalog.Logo(p.Name)
	cats := p.Categories
	if cats == nil {
		cats = []string{}
	}
	return map[string]any{"name": p.Name, "display_name": p.DisplayName, "categories": cats,
		"auth_methods": p.AuthMethods, "base_url": p.BaseURL, "docs_url": p.DocsURL, "logo_url": LogoURL(p.Name, l),
		"verify": p.Verify != nil || (p.ServiceAccount != nil && p.ServiceAccount.Verify != nil)}
}

// listProviders answers the whole catalog, or a page of it when limit is
// given (after = the last name seen), optionally one category's
// providers.
func (s *Server) listProviders(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	list := s.cfg.Catalog.List()
	if c := q.Get("category"); c != "" {
		if !catalog.IsCategory(c) {
			s.writeError(w, r, problem.Field("category", "is not a catalog category"))
			return
		}
		list = slices.DeleteFunc(list, func(p catalog.Provider) bool { return !slices.Contains(p.Categories, c) })
	}
	limit := len(list)
	if l := q.Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 || n > 1000 {
			s.writeError(w, r, problem.Field("limit", "must be a number from 1 to 1000"))
			return
		}
		limit = n
	}
	if a := q.Get("after"); a != "" {
		if _, ok := s.cfg.Catalog.Get(a); !ok {
			s.writeError(w, r, problem.Field("after", "no such provider"))
			return
		}
		// Sorted by name: the page starts after the first name > a.
		i, _ := slices.BinarySearchFunc(list, a, func(p catalog.Provider, name string) int { return strings.Compare(p.Name, name) })
		if i < len(list) && list[i].Name == a {
			i++
		}
		list = list[i:]
	}
	out := make([]map[string]any, 0, min(limit, len(list)))
	for _, p := range list[:min(limit, len(list))] {
		out = append(out, s.providerSummary(p))
	}
	body := map[string]any{"providers": out}
	if limit < len(list) {
		body["next"] = list[limit-1].Name
	}
	writeJSON(w, http.StatusOK, body)
}

func (s *Server) getProvider(w http.ResponseWriter, r *http.Request) {
	p, ok := s.cfg.Catalog.Find(r.PathValue("name"))
	if !ok {
		problem.Write(w, problem.New(http.StatusNotFound, "%s", s.cfg.Catalog.UnknownProvider(r.PathValue("name"))))
		return
	}
	l, _ := s.cfg.Catalog.Logo(p.Name)
	writeJSON(w, http.StatusOK, struct {
		catalog.Provider
		LogoURL string `json:"logo_url"`
	}{p, LogoURL(p.Name, l)})
}

// logoCSP keeps an SVG opened on its own from running or loading
// anything; the inline style allowance is for renderers that style
// presentation attributes.
const logoCSP = "default-src 'none'; style-src 'unsafe-inline'"

// providerLogo serves a provider's logo: immutable when asked for by its
// versioned URL, revalidated by ETag otherwise.
func (s *Server) providerLogo(w http.ResponseWriter, r *http.Request) {
	l, ok := s.cfg.Catalog.Logo(r.PathValue("name"))
	if !ok {
		problem.Write(w, problem.NotFound("provider", r.PathValue("name")))
		return
	}
	etag := `"` + l.Hash + `"`
	h := w.Header()
	h.Set("Content-Type", "image/svg+xml")
	h.Set("Content-Security-Policy", logoCSP)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("ETag", etag)
	if r.URL.Query().Get("v") == l.Hash {
		h.Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		h.Set("Cache-Control", "public, no-cache")
	}
	if inm := r.Header.Get("If-None-Match"); inm != "" && etagMatches(inm, etag) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	h.Set("Content-Length", strconv.Itoa(len(l.SVG)))
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		w.Write(l.SVG)
	}
}

// etagMatches implements If-None-Match's weak comparison against one
// strong ETag.
func etagMatches(header, etag string) bool {
	for _, t := range strings.Split(header, ",") {
		t = strings.TrimSpace(t)
		if t == "*" || strings.TrimPrefix(t, "W/") == etag {
			return true
		}
	}
	return false
}
