package web_test

import (
	"fmt"
	"regexp"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/stormcreds/storm/internal/catalog"
	"github.com/stormcreds/storm/internal/server/servertest"
)

// pickerItems are the picker's provider items: name → hidden.
var pickerItem = regexp.MustCompile(`<li data-search="[^"]*" data-categories="([^"]*)"( hidden)?>\s*<a class="provider" href="[^"]*provider=([a-z0-9_-]+)`)

func pickerState(t *testing.T, body string) (shown, hidden map[string][]string) {
	t.Helper()
	shown, hidden = map[string][]string{}, map[string][]string{}
	for _, m := range pickerItem.FindAllStringSubmatch(body, -1) {
		if m[2] != "" {
			hidden[m[3]] = strings.Fields(m[1])
		} else {
			shown[m[3]] = strings.Fields(m[1])
		}
	}
	if len(shown)+len(hidden) < 300 {
		t.Fatalf("the picker lists %d providers", len(shown)+len(hidden))
	}
	return shown, hidden
}

// TestPickerFiltersByCategoryWithoutScript: the category links work
// without JavaScript: the server marks every other provider hidden,
// counts the rest, keeps the search, and ignores a category that does
// not exist.
func TestPickerFiltersByCategoryWithoutScript(t *testing.T) {
	env := servertest.Start(t, servertest.Options{NoBackground: true})
	b := newBrowser(t, env)
	b.signIn(env.AdminToken)
	cat, err := catalog.Load()
	if err != nil {
		t.Fatal(err)
	}
	crms := 0
	for _, p := range cat.List() {
		for _, c := range p.Categories {
			if c == "crm" {
				crms++
			}
		}
	}

	p := b.get("/integrations/new?category=crm")
	shown, _ := pickerState(t, p.Body)
	if len(shown) != crms || !strings.Contains(p.Body, fmt.Sprintf("%d providers", crms)) {
		t.Errorf("%d shown, want the %d CRMs", len(shown), crms)
	}
	for name, cats := range shown {
		if !contains(cats, "crm") {
			t.Errorf("%s is shown under CRM: %v", name, cats)
		}
	}
	if !regexp.MustCompile(`href="/integrations/new\?category=crm" class="chip" data-category="crm" aria-current="page"`).MatchString(p.Body) {
		t.Error("the CRM link is not marked current")
	}
	// The search keeps the category, and the category links keep the
	// search.
	p = b.get("/integrations/new?category=crm&q=hub")
	shown, _ = pickerState(t, p.Body)
	if _, ok := shown["hubspot"]; !ok || len(shown) != 1 || !strings.Contains(p.Body, `name="category" value="crm"`) ||
		!strings.Contains(p.Body, `href="/integrations/new?category=marketing&amp;q=hub"`) {
		t.Errorf("CRM and \"hub\": %v", shown)
	}
	p = b.get("/integrations/new?category=no-such-category")
	if shown, _ := pickerState(t, p.Body); len(shown) != len(cat.List()) {
		t.Errorf("an unknown category filtered to %d providers", len(shown))
	}
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// TestLogosOnPages: the picker, the integrations list and the
// integration page show the provider's logo from the API's versioned
// logo URL (same origin, so img-src 'self' allows it).
func TestLogosOnPages(t *testing.T) {
	env := servertest.Start(t, servertest.Options{NoBackground: true})
	b := newBrowser(t, env)
	b.signIn(env.AdminToken)
	logo := regexp.MustCompile(`<img class="logo[^"]*" src="/v1/providers/github/logo\.svg\?v=[0-9a-f]{16}"`)
	if p := b.get("/integrations/new?q=github"); !logo.MatchString(p.Body) {
		t.Error("the picker shows no GitHub logo")
	}
	in := env.Must(201, "POST", "/v1/integrations", "", map[string]any{"name": "gh", "provider": "github", "auth_method": "api_key"})
	if p := b.get("/integrations"); !logo.MatchString(p.Body) {
		t.Error("the integrations list shows no GitHub logo")
	}
	if p := b.get("/integrations/" + in["id"].(string)); !logo.MatchString(p.Body) {
		t.Error("the integration page shows no GitHub logo")
	}
}

// TestBrowserPickerCategoriesAndLogos: with the script, category links
// filter in place together with the typed search, and the logos load
// under the page's Content-Security-Policy.
func TestBrowserPickerCategoriesAndLogos(t *testing.T) {
	env := servertest.Start(t, servertest.Options{NoBackground: true})
	c := startChrome(t, env)
	c.signIn(env.AdminToken)
	c.open("/integrations/new")
	c.waitFor("logos", `(() => { const imgs = [...document.querySelectorAll("li:not([hidden]) img.logo")].slice(0, 5);
		return imgs.length === 5 && imgs.every(i => i.complete && i.naturalWidth > 0); })()`)
	c.shot("picker")
	c.do("click CRM", chromedp.Click(chromedp.CSS(`a.chip[data-category="crm"]`)))
	c.waitFor("the CRM filter", `[...document.querySelectorAll("li[data-search]:not([hidden])")].every(li => (" " + li.dataset.categories + " ").includes(" crm "))`)
	if p := c.path(); p != "/integrations/new?category=crm" {
		t.Errorf("the address is %s", p)
	}
	if got := eval[string](c, `document.querySelector("a.chip[aria-current]").dataset.category`); got != "crm" {
		t.Errorf("current chip %q", got)
	}
	c.typeInto("#q", "hub")
	c.waitFor("CRM and hub", `document.querySelectorAll("li[data-search]:not([hidden])").length === 1`)
	if got := c.text("#provider-count"); got != "1 provider" {
		t.Errorf("count %q", got)
	}
	c.shot("picker-crm-hub")
	c.do("click All", chromedp.Click(chromedp.CSS(`a.chip[data-category=""]`)))
	c.waitFor("all with hub", `document.querySelectorAll("li[data-search]:not([hidden])").length > 1`)
}
