package http

import (
	"net/http"
	"net/http/httptest"
	"path"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gorilla/mux"

	"github.com/metropolis/csc/domain"
	"github.com/metropolis/csc/eventstore"
	"github.com/metropolis/csc/eventstore/sqlite"
	"github.com/metropolis/csc/projections"
)

// TestRouteTableMatchesRouter: for every route and a set of awkward paths, under every method, the
// route table picks the route the router picks (same template, same variables), and leaves to the
// router every request the router would redirect, refuse or give to a route outside the table.
func TestRouteTableMatchesRouter(t *testing.T) {
	s := newRoutingServer(t)
	if len(s.table.routes) != len(s.routes()) {
		t.Fatalf("the table holds %d routes, want all %d API routes", len(s.table.routes), len(s.routes()))
	}
	segments := []string{"x", "0b7c1f8e-8f0e-4c3e-9a57-3c1f0f7f2d11", ".", "..", "", "a b", "%2F", "berlin", "{id}", "ü"}
	var paths []string
	for _, rt := range s.Routes() {
		paths = append(paths, rt.Path, rt.Path+"/", "/"+rt.Path, rt.Path+"/x", strings.TrimPrefix(rt.Path, "/v1"))
		for _, seg := range segments {
			p := rt.Path
			for _, name := range []string{"{id}", "{city}", "{stream}"} {
				p = strings.ReplaceAll(p, name, seg)
			}
			paths = append(paths, p, strings.Replace(p, "/v1/", "/v1//", 1))
		}
	}
	paths = append(paths, "", "/", "*", "v1/progress", "/dashboard/app.js", "/v1", "/v1/", "/v1/roadmap-items/x/y/approve",
		"/V1/progress", "/v1/roadmap-items/x/APPROVE", "/v1/streams/item-1/../x")
	methods := []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodDelete, http.MethodOptions, "get"}

	checked := 0
	for _, p := range paths {
		for _, method := range methods {
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			r.Method, r.URL.Path = method, p
			wantTpl, wantVars, ok := routerChoice(s.router, r)
			var vars [maxRouteVars]routeVar
			rt, matched := s.table.match(method, p, &vars)
			if !ok {
				if matched {
					t.Errorf("%s %q: the table matches %s, the router does not give it to an API route", method, p, rt.template)
				}
				continue
			}
			if !matched {
				t.Errorf("%s %q: the table matches nothing, the router picks %s", method, p, wantTpl)
				continue
			}
			checked++
			if rt.template != wantTpl {
				t.Errorf("%s %q: the table picks %s, the router %s", method, p, rt.template, wantTpl)
			}
			got := map[string]string{}
			for _, v := range vars[:len(rt.vars)] {
				got[v.name] = v.value
			}
			if len(got) != len(wantVars) {
				t.Errorf("%s %q: variables %v, the router's %v", method, p, got, wantVars)
			}
			for k, v := range wantVars {
				if got[k] != v {
					t.Errorf("%s %q: variable %s = %q, the router's %q", method, p, k, got[k], v)
				}
			}
		}
	}
	if checked < len(s.routes()) {
		t.Fatalf("only %d requests matched a route, want at least one per route", checked)
	}
}

// routerChoice is what the router does with r: the template and variables of the API route it
// serves r with, or ok false (an unclean path, which dispatch refuses first, 404, 405, the dashboard).
func routerChoice(router *mux.Router, r *http.Request) (tpl string, vars map[string]string, ok bool) {
	if p := r.URL.Path; p == "" || p[0] != '/' || cleanLikeMux(p) != p {
		return "", nil, false
	}
	var m mux.RouteMatch
	if !router.Match(r, &m) || m.MatchErr != nil || m.Route == nil {
		return "", nil, false
	}
	tpl, err := m.Route.GetPathTemplate()
	if err != nil {
		return "", nil, false
	}
	return tpl, m.Vars, true
}

// cleanLikeMux is path cleaning as the router would do it (dispatch refuses a path that changes).
func cleanLikeMux(p string) string {
	np := path.Clean(p)
	if p[len(p)-1] == '/' && np != "/" {
		np += "/"
	}
	return np
}

// TestRouteTableLeavesOddTemplates: templates the table cannot match like the router are left to it,
// and so is every route after them.
func TestRouteTableLeavesOddTemplates(t *testing.T) {
	h := http.NotFoundHandler()
	cases := []struct {
		templates []string
		want      int
	}{
		{[]string{"/a/{id}", "/b"}, 2},
		{[]string{"/a/{id:[0-9]+}", "/b"}, 0},
		{[]string{"/a", "/a/{x}/{y}/{z}", "/b"}, 1},
		{[]string{"/a//b", "/b"}, 0},
		{[]string{"/a/x{id}", "/b"}, 0},
		{[]string{"a", "/b"}, 0},
		{[]string{"/a/{}", "/b"}, 0},
	}
	for _, c := range cases {
		var table routeTable
		for _, tpl := range c.templates {
			table.add(http.MethodGet, tpl, h)
		}
		if len(table.routes) != c.want {
			t.Errorf("%q: the table holds %d routes, want %d", c.templates, len(table.routes), c.want)
		}
	}
}

func newRoutingServer(t *testing.T) *Server {
	t.Helper()
	store, err := sqlite.Open(filepath.Join(t.TempDir(), "events.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	codec := domain.NewCodec()
	items, err := eventstore.NewEngine[domain.RoadmapItem, domain.Event](store, codec, domain.RoadmapItem{}, domain.EvolveItem, eventstore.EngineOptions{})
	if err != nil {
		t.Fatal(err)
	}
	collab, err := eventstore.NewEngine[domain.Collaboratory, domain.Event](store, codec, domain.Collaboratory{}, domain.EvolveCollaboratory, eventstore.EngineOptions{})
	if err != nil {
		t.Fatal(err)
	}
	tokens, err := NewTokens([]byte("routing-test-secret-0123456789abcdef"), nil)
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewServer(Config{Store: store, Codec: codec, Items: items, Collaboratory: collab,
		Projections: projections.NewRunner(store, codec, projections.Options{}), Tokens: tokens})
	if err != nil {
		t.Fatal(err)
	}
	return s
}
