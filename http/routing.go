package http

import (
	"net/http"
	"path"
	"strings"

	"github.com/gorilla/mux"
)

// routeTable matches requests against the API's routes without regular expressions: the router
// tries the path expression of every route in turn and copies the request twice to attach the route
// and its variables, which cost a command more than its whole decision. The table decides exactly as
// the router would for the requests it matches (the API's routes are registered first, in the same
// order, and dispatch refuses unclean paths before either sees them); every other request (the
// dashboard, 404, 405) goes to the router.
type routeTable struct {
	routes []tableRoute
	// closed is set once a route could not be added: a later route must not match a request that
	// the router gives to that earlier one.
	closed bool
}

// maxRouteVars bounds the variables of a route the table holds (routes with more go to the router).
const maxRouteVars = 2

type tableRoute struct {
	method   string
	template string   // the mux path template: the metrics label
	segments []string // the template's segments after the leading "/"; "" is a variable
	vars     []string // the variables' names, in order
	handler  http.Handler
}

// routeVar is one variable of the matched route.
type routeVar struct{ name, value string }

// add appends a route. Routes must be added in the order they were registered in the router. A
// template the table cannot match exactly like the router (a variable with its own pattern, an empty
// segment, too many variables) is left to the router, and so is every route added after it.
func (t *routeTable) add(method, template string, h http.Handler) {
	rt, ok := newTableRoute(method, template, h)
	if !ok || t.closed {
		t.closed = true
		return
	}
	t.routes = append(t.routes, rt)
}

func newTableRoute(method, template string, h http.Handler) (tableRoute, bool) {
	if !strings.HasPrefix(template, "/") {
		return tableRoute{}, false
	}
	rt := tableRoute{method: method, template: template, handler: h}
	for _, seg := range strings.Split(template[1:], "/") {
		switch {
		case isVarSegment(seg):
			name := seg[1 : len(seg)-1]
			if name == "" || strings.Contains(name, ":") || len(rt.vars) == maxRouteVars {
				return tableRoute{}, false
			}
			rt.vars = append(rt.vars, name)
			rt.segments = append(rt.segments, "")
		case seg == "" || seg == "." || seg == ".." || strings.ContainsAny(seg, "{}"):
			return tableRoute{}, false
		default:
			rt.segments = append(rt.segments, seg)
		}
	}
	return rt, true
}

func isVarSegment(seg string) bool {
	return len(seg) >= 2 && seg[0] == '{' && seg[len(seg)-1] == '}' && strings.Count(seg, "{") == 1 &&
		strings.Count(seg, "}") == 1
}

// match returns the first route matching method (a GET route also matches HEAD) and path, and its variables (valid until the next
// match into the same vars). A variable matches one non-empty segment, as the router's "[^/]+" does;
// "." and ".." never match (dispatch refuses such paths first).
func (t *routeTable) match(method, path string, vars *[maxRouteVars]routeVar) (*tableRoute, bool) {
	if !strings.HasPrefix(path, "/") {
		return nil, false
	}
	path = path[1:]
	n := strings.Count(path, "/") + 1
routes:
	for i := range t.routes {
		rt := &t.routes[i]
		if (rt.method != method && (method != http.MethodHead || rt.method != http.MethodGet)) || len(rt.segments) != n {
			continue
		}
		rest, v := path, 0
		for _, lit := range rt.segments {
			seg := rest
			if j := strings.IndexByte(rest, '/'); j >= 0 {
				seg, rest = rest[:j], rest[j+1:]
			}
			switch {
			case lit != "":
				if seg != lit {
					continue routes
				}
			case seg == "" || seg == "." || seg == "..":
				continue routes
			default:
				vars[v] = routeVar{name: rt.vars[v], value: seg}
				v++
			}
		}
		return rt, true
	}
	return nil, false
}

// dispatch serves a request through the route table when it matches one of the API's routes, else
// through the router.
//
// A path that is not clean ("//", "." or ".." segments, also when sent encoded as %2F) names no
// route: it is the 404 problem of an unknown route, whatever the method (the router would redirect it
// to its clean form, which may name another route).
func (s *Server) dispatch(w http.ResponseWriter, r *http.Request) {
	if p := r.URL.Path; p != "" && p[0] == '/' && cleanPath(p) != p {
		s.router.NotFoundHandler.ServeHTTP(w, r)
		return
	}
	if info := infoFrom(r.Context()); info != nil {
		if rt, ok := s.table.match(r.Method, r.URL.Path, &info.vars); ok {
			info.route, info.nvars = rt.template, len(rt.vars)
			rt.handler.ServeHTTP(w, r)
			return
		}
	}
	s.router.ServeHTTP(w, r)
}

// pathVar returns the route variable name of the request: from the route table's match, else from the
// router's.
func pathVar(r *http.Request, name string) string {
	if info := infoFrom(r.Context()); info != nil {
		for _, v := range info.vars[:info.nvars] {
			if v.name == name {
				return v.value
			}
		}
	}
	return mux.Vars(r)[name]
}

// cleanPath is path.Clean(p), keeping a trailing slash (as the router's own cleaning does).
func cleanPath(p string) string {
	np := path.Clean(p)
	if p[len(p)-1] == '/' && np != "/" {
		np += "/"
	}
	return np
}
