package http

import (
	"crypto/sha256"
	_ "embed" // the dashboard's assets
	"encoding/hex"
	"net/http"
	"strings"
	"time"

	"github.com/gorilla/mux"
)

// The coordinator dashboard: a page at / and its assets under /dashboard/, embedded in the binary.
// It is plain JavaScript, CSS and SVG (no build step, no Node.js) that talks to the API of this server
// with the bearer token the user pastes (see dashboard/app.js).
//
// index.html refers to each asset by an address that carries a digest of the asset (?v=...): such an
// address always names the same bytes, so browsers may keep it for a year; the page itself is
// revalidated on every load (ETag), so a new binary's assets are picked up at once.

//go:embed dashboard/index.html
var dashboardIndex string

//go:embed dashboard/app.js
var dashboardJS string

//go:embed dashboard/app.css
var dashboardCSS string

//go:embed dashboard/favicon.svg
var dashboardIcon string

// DashboardAssets is the path prefix of the dashboard's assets.
const DashboardAssets = "/dashboard/"

// DashboardCSP is the Content-Security-Policy of the dashboard's responses: scripts, styles, images and
// requests from this origin only; no inline script or style (style attributes are not set in markup,
// only through the CSSOM); no plugins, frames, forms posting elsewhere or <base>; and Trusted Types with
// no policy, so that no string can ever reach an HTML or script sink (the page builds its DOM with
// createElement and textContent).
const DashboardCSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; " +
	"base-uri 'none'; form-action 'none'; frame-ancestors 'none'; require-trusted-types-for 'script'; trusted-types 'none'"

// Route labels (for logs and metrics) of the dashboard's requests.
const (
	dashboardPageRoute  = "/"
	dashboardAssetRoute = DashboardAssets + "{asset}"
)

// dashboardAsset is one file of the dashboard, ready to serve.
type dashboardAsset struct {
	name        string
	body        string
	contentType string
	etag        string // strong: a digest of body
	version     string // the ?v= of the asset's cacheable address
}

func newDashboardAsset(name, body, contentType string) dashboardAsset {
	sum := sha256.Sum256([]byte(body))
	digest := hex.EncodeToString(sum[:])
	return dashboardAsset{name: name, body: body, contentType: contentType, etag: `"` + digest[:32] + `"`, version: digest[:16]}
}

// dashboard serves the page and its assets.
type dashboard struct {
	s      *Server
	page   dashboardAsset
	assets map[string]dashboardAsset // by name under DashboardAssets
}

// dashboard builds the handler of the dashboard's routes (see dashboardPath).
func (s *Server) dashboard() *dashboard {
	d := &dashboard{s: s, assets: make(map[string]dashboardAsset)}
	for _, a := range []dashboardAsset{
		newDashboardAsset("app.js", dashboardJS, "text/javascript; charset=utf-8"),
		newDashboardAsset("app.css", dashboardCSS, "text/css; charset=utf-8"),
		newDashboardAsset("favicon.svg", dashboardIcon, "image/svg+xml"),
	} {
		d.assets[a.name] = a
	}
	page := dashboardIndex
	for name, a := range d.assets {
		page = strings.ReplaceAll(page, `"`+DashboardAssets+name+`"`, `"`+DashboardAssets+name+"?v="+a.version+`"`)
	}
	d.page = newDashboardAsset("index.html", page, "text/html; charset=utf-8")
	return d
}

// dashboardPath matches the dashboard's requests: / and everything under DashboardAssets. The route has
// no path template, so it is not one of the API's Routes (nor of its OpenAPI document).
func dashboardPath(r *http.Request, _ *mux.RouteMatch) bool {
	return r.URL.Path == "/" || strings.HasPrefix(r.URL.Path, DashboardAssets)
}

func (d *dashboard) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	asset, route := d.page, dashboardPageRoute
	if r.URL.Path != "/" {
		route = dashboardAssetRoute
		a, ok := d.assets[strings.TrimPrefix(r.URL.Path, DashboardAssets)]
		if !ok {
			d.s.problem(w, r, errNotFound("no dashboard asset "+r.URL.Path))
			return
		}
		asset = a
	}
	if info := infoFrom(r.Context()); info != nil {
		info.route = route
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		d.s.problem(w, r, &requestError{status: http.StatusMethodNotAllowed, code: ProblemMethodNotAllowed,
			detail: "method " + r.Method + " is not allowed on " + r.URL.Path})
		return
	}
	h := w.Header()
	h.Set("Content-Security-Policy", DashboardCSP)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	h.Set("Cross-Origin-Resource-Policy", "same-origin")
	h.Set("Permissions-Policy", "camera=(), microphone=(), geolocation=(), payment=(), usb=()")
	h.Set("Content-Type", asset.contentType)
	h.Set("ETag", asset.etag)
	if route == dashboardAssetRoute && r.URL.Query().Get("v") == asset.version {
		h.Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		h.Set("Cache-Control", "no-cache")
	}
	// ServeContent answers HEAD, If-None-Match (304) and ranges; the zero time sends no Last-Modified.
	http.ServeContent(w, r, asset.name, time.Time{}, strings.NewReader(asset.body))
}
