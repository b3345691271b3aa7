package sqldb_test

import (
	"context"
	"go/ast"
	"go/parser"
	"go/token"
	"go/types"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/stormcreds/storm/internal/store"
	"github.com/stormcreds/storm/internal/store/sqldb"
)

// TestQueryTextsPrepare prepares, on both databases, every query text
// sqldb holds: its exported constants, the text fields New builds into
// Queries, and the text at every call that runs a query, found in the
// package's source. Texts built at run time must be listed in
// dynamicSites with the values they are built from, so a new query
// cannot slip past.
func TestQueryTextsPrepare(t *testing.T) {
	src := parseSource(t)
	eachBackend(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		d := dialectText(t, b.s)
		texts := src.exportedConsts(t)
		fields := queriesFields(t, b.s)
		for _, f := range fields {
			d[f.where] = f.text
		}
		texts = append(texts, fields...)
		texts = append(texts, src.callSites(t, d)...)
		t.Logf("%d query texts", len(texts))
		if len(texts) < 60 {
			t.Fatalf("found only %d query texts; the source scan is broken", len(texts))
		}
		for _, q := range texts {
			if err := b.raw.prepare(ctx, q.text); err != nil {
				t.Errorf("%s does not prepare: %v\n%s", q.where, err, q.text)
			}
		}
	})
}

// queryText is a query and where it came from.
type queryText struct{ where, text string }

// queriesFields returns the string fields of the store's Queries: the
// texts New builds from the Dialect.
func queriesFields(t *testing.T, s store.Store) []queryText {
	q := queriesOf(t, s)
	var out []queryText
	for i := range q.NumField() {
		if f := q.Field(i); f.Kind() == reflect.String {
			out = append(out, queryText{"Queries." + q.Type().Field(i).Name, f.String()})
		}
	}
	if len(out) == 0 {
		t.Fatal("Queries has no text fields")
	}
	return out
}

// source is sqldb's non-test source and the string constants of sqldb
// ("Name") and store ("store.Name").
type source struct {
	fset   *token.FileSet
	files  []*ast.File
	consts map[string]ast.Expr
}

func parseSource(t *testing.T) *source {
	t.Helper()
	s := &source{fset: token.NewFileSet(), consts: map[string]ast.Expr{}}
	for _, dir := range []struct{ path, prefix string }{{".", ""}, {"..", "store."}} {
		names, err := filepath.Glob(filepath.Join(dir.path, "*.go"))
		if err != nil {
			t.Fatal(err)
		}
		for _, name := range names {
			if strings.HasSuffix(name, "_test.go") {
				continue
			}
			body, err := os.ReadFile(name)
			if err != nil {
				t.Fatal(err)
			}
			f, err := parser.ParseFile(s.fset, name, body, 0)
			if err != nil {
				t.Fatal(err)
			}
			if dir.prefix == "" {
				s.files = append(s.files, f)
			}
			for _, decl := range f.Decls {
				g, ok := decl.(*ast.GenDecl)
				if !ok || g.Tok != token.CONST {
					continue
				}
				for _, spec := range g.Specs {
					vs := spec.(*ast.ValueSpec)
					for i, n := range vs.Names {
						if i < len(vs.Values) {
							s.consts[dir.prefix+n.Name] = vs.Values[i]
						}
					}
				}
			}
		}
	}
	if len(s.files) == 0 {
		t.Fatal("no sqldb source found")
	}
	return s
}

// eval returns the string e denotes, or the names it could not resolve:
// string literals, +, constants of sqldb and store, the Dialect's text
// fields (q.d.ForUpdate, t.q.d.SkipLocked) and Queries' text fields
// (q.listWorkspacesSQL), both in d, and the identifiers in env.
func (s *source) eval(e ast.Expr, d, env map[string]string) (string, []string) {
	switch e := e.(type) {
	case *ast.BasicLit:
		if v, err := strconv.Unquote(e.Value); err == nil && e.Kind == token.STRING {
			return v, nil
		}
	case *ast.ParenExpr:
		return s.eval(e.X, d, env)
	case *ast.BinaryExpr:
		if e.Op == token.ADD {
			l, lu := s.eval(e.X, d, env)
			r, ru := s.eval(e.Y, d, env)
			return l + r, append(lu, ru...)
		}
	case *ast.Ident:
		if v, ok := env[e.Name]; ok {
			return v, nil
		}
		if c, ok := s.consts[e.Name]; ok {
			return s.eval(c, d, env)
		}
		return "", []string{e.Name}
	case *ast.SelectorExpr:
		if x, ok := e.X.(*ast.Ident); ok && x.Name == "store" {
			if c, ok := s.consts["store."+e.Sel.Name]; ok {
				return s.eval(c, d, env)
			}
		}
		if x, ok := e.X.(*ast.SelectorExpr); ok && x.Sel.Name == "d" {
			if v, ok := d[e.Sel.Name]; ok {
				return v, nil
			}
		}
		// q.listWorkspacesSQL: a text field of Queries.
		if _, ok := e.X.(*ast.Ident); ok {
			if v, ok := d["Queries."+e.Sel.Name]; ok {
				return v, nil
			}
		}
	}
	return "", []string{types.ExprString(e)}
}

// exportedConsts returns every exported string constant of sqldb: by
// its doc, these are the shared listing and lookup queries.
func (s *source) exportedConsts(t *testing.T) []queryText {
	t.Helper()
	var out []queryText
	for name, e := range s.consts {
		if strings.HasPrefix(name, "store.") || !ast.IsExported(name) {
			continue
		}
		if lit, ok := e.(*ast.BasicLit); ok && lit.Kind != token.STRING {
			continue // a number, not query text
		}
		v, unresolved := s.eval(e, nil, nil)
		if unresolved != nil {
			t.Errorf("constant %s: cannot resolve %v", name, unresolved)
			continue
		}
		out = append(out, queryText{name, v})
	}
	// The evaluator must agree with the compiler.
	for name, want := range map[string]string{
		"DueCredentialsSQL":              sqldb.DueCredentialsSQL,
		"PageIntegrationConnectLinksSQL": sqldb.PageIntegrationConnectLinksSQL,
		"ListCredentialsSQL":             sqldb.ListCredentialsSQL,
	} {
		if i := slices.IndexFunc(out, func(q queryText) bool { return q.where == name }); i < 0 || out[i].text != want {
			t.Errorf("source scan of %s disagrees with the compiled constant", name)
		}
	}
	return out
}

// queryArg maps the functions that run query text to the indexes of
// their text arguments.
var queryArg = map[string][]int{"Exec": {1}, "Query": {1}, "QueryRow": {1}, "exec": {1}, "QueryAll": {3},
	"pageByWorkspace": {3, 4}}

// dynamicSites are the calls whose text is built at run time, keyed by
// function and the identifiers the text is built from, with every set of
// values they take. A nil list means the text is the caller's (a
// pass-through helper), checked at the callers' sites instead: the helper
// must then be in queryArg.
var dynamicSites = map[string]func(d map[string]string) []map[string]string{
	"QueryAll: q":                  nil,
	"pageByWorkspace: all":         nil,
	"pageByWorkspace: inWorkspace": nil,
	"Queries.getConnectLink: where, lock": func(d map[string]string) []map[string]string {
		return []map[string]string{
			{"where": "id", "lock": ""}, {"where": "id", "lock": d["ForUpdate"]},
			{"where": "hash", "lock": ""},
		}
	},
	"Queries.getWebhook: lock": func(d map[string]string) []map[string]string {
		return []map[string]string{{"lock": ""}, {"lock": d["ForUpdate"]}}
	},
	"Queries.getApp: lock": func(d map[string]string) []map[string]string {
		return []map[string]string{{"lock": ""}, {"lock": d["ForUpdate"]}}
	},
	"Queries.getIntegration: lock": func(d map[string]string) []map[string]string {
		return []map[string]string{{"lock": ""}, {"lock": d["ForUpdate"]}}
	},
	"listLog: table": func(map[string]string) []map[string]string {
		return []map[string]string{{"table": "events"}, {"table": "audit"}}
	},
	"listLog: columns, table, clause": func(map[string]string) []map[string]string {
		var out []map[string]string
		for _, log := range []struct{ table, columns string }{{"events", store.EventColumns}, {"audit", store.AuditColumns}} {
			for _, p := range []store.Page{{}, {WorkspaceID: "ws", After: "ev", Limit: 5}, {IntegrationID: "in", Limit: 1},
				{WorkspaceID: "ws", Newest: true, Limit: 5}, {After: "ev", Newest: true, Limit: 5}} {
				if log.table == "audit" {
					p.IntegrationID = "" // ListAudit clears it
				}
				clause, _ := store.PageClause(p, 7, dollar)
				out = append(out, map[string]string{"table": log.table, "columns": log.columns, "clause": clause})
			}
		}
		return out
	},
	"Queries.ListConnectLinks: text": func(map[string]string) []map[string]string {
		return []map[string]string{{"text": sqldb.PageConnectLinksSQL}, {"text": sqldb.PageIntegrationConnectLinksSQL}}
	},
	"Queries.PageIntegrations: q": func(map[string]string) []map[string]string {
		return []map[string]string{{"q": sqldb.PageIntegrationsSQL}, {"q": sqldb.PageWorkspaceIntegrationsSQL},
			{"q": sqldb.PageStatusIntegrationsSQL}, {"q": sqldb.PageAppIntegrationsSQL}}
	},
	"Queries.PageCredentials: q": func(map[string]string) []map[string]string {
		return []map[string]string{{"q": sqldb.PageCredentialsSQL}, {"q": sqldb.PageCredentialsNewestSQL}}
	},
	"Queries.ListWebhookEvents: text": func(map[string]string) []map[string]string {
		var out []map[string]string
		for _, w := range []store.Webhook{{WorkspaceID: "ws", Cursor: 3}, {WorkspaceID: "ws", Cursor: 3, EventTypes: []string{"a", "b"}}} {
			text, _ := store.WebhookEventsQuery(w, 9, 10, dollar)
			out = append(out, map[string]string{"text": text})
		}
		return out
	},
}

func dollar(n int) string { return "$" + strconv.Itoa(n) }

// callSites returns the text of every call in sqldb's source that runs
// a query, with the Dialect's text fields d.
func (s *source) callSites(t *testing.T, d map[string]string) []queryText {
	t.Helper()
	var out []queryText
	seen := map[string]bool{}
	for _, f := range s.files {
		for _, decl := range f.Decls {
			fn, ok := decl.(*ast.FuncDecl)
			if !ok || fn.Body == nil {
				continue
			}
			name := fn.Name.Name
			if fn.Recv != nil {
				name = recvName(fn.Recv.List[0].Type) + "." + name
			}
			// check collects the text arg, or the texts dynamicSites lists
			// for it.
			check := func(arg ast.Expr) {
				where := s.fset.Position(arg.Pos()).String()
				text, unresolved := s.eval(arg, d, nil)
				if unresolved == nil {
					out = append(out, queryText{where, text})
					return
				}
				key := name + ": " + strings.Join(unresolved, ", ")
				bindings, listed := dynamicSites[key]
				if !listed {
					t.Errorf("%s: query text built at run time from %v; list its values in dynamicSites[%q]", where, unresolved, key)
					return
				}
				seen[key] = true
				if bindings == nil {
					if _, ok := queryArg[fn.Name.Name]; !ok {
						t.Errorf("%s: %s passes query text through; add it to queryArg so its callers' texts are checked", where, fn.Name.Name)
					}
					return
				}
				for _, env := range bindings(d) {
					text, unresolved := s.eval(arg, d, env)
					if unresolved != nil {
						t.Errorf("%s: dynamicSites[%q] leaves %v unresolved", where, key, unresolved)
						continue
					}
					out = append(out, queryText{where + " " + strings.TrimSpace(mapString(env)), text})
				}
			}
			ast.Inspect(fn.Body, func(n ast.Node) bool {
				call, ok := n.(*ast.CallExpr)
				if !ok {
					return true
				}
				for _, i := range queryArg[calleeName(call.Fun)] {
					if i < len(call.Args) {
						check(call.Args[i])
					}
				}
				return true
			})
		}
	}
	for key := range dynamicSites {
		if !seen[key] {
			t.Errorf("dynamicSites[%q] matches no call any more; remove it", key)
		}
	}
	return out
}

// calleeName is the name a call is made by: f, x.f or f[T].
func calleeName(e ast.Expr) string {
	switch e := e.(type) {
	case *ast.Ident:
		return e.Name
	case *ast.SelectorExpr:
		return e.Sel.Name
	case *ast.IndexExpr:
		return calleeName(e.X)
	case *ast.IndexListExpr:
		return calleeName(e.X)
	}
	return ""
}

func recvName(e ast.Expr) string {
	if star, ok := e.(*ast.StarExpr); ok {
		e = star.X
	}
	if id, ok := e.(*ast.Ident); ok {
		return id.Name
	}
	return "?"
}

func mapString(m map[string]string) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var b strings.Builder
	for _, k := range keys {
		b.WriteString(" " + k + "=" + strconv.Quote(m[k]))
	}
	return b.String()
}
