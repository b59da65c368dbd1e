package http_test

import (
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"

	cschttp "github.com/metropolis/csc/http"
)

// dashboardGet fetches path from the test server without a token and without the OpenAPI check (the dashboard
// is not part of the API's document).
func dashboardGet(t *testing.T, method, url string, header map[string]string) (*http.Response, string) {
	t.Helper()
	r, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		r.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(r)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(b)
}

// TestDashboardServing: / serves the page and /dashboard/ its assets, with their content types, a
// strict Content-Security-Policy, revalidation for the page and year-long caching for the versioned
// asset addresses it names; other methods, unknown assets and the API's own 404s stay problems.
func TestDashboardServing(t *testing.T) {
	ts := startServer(t, "")
	page, body := dashboardGet(t, "GET", ts.url+"/", nil)
	if page.StatusCode != http.StatusOK {
		t.Fatalf("GET /: %s", page.Status)
	}
	assets := regexp.MustCompile(`"(/dashboard/([a-z.]+)\?v=[0-9a-f]{16})"`).FindAllStringSubmatch(body, -1)
	if len(assets) != 3 {
		t.Fatalf("the page names %d versioned assets, want 3 (script, style, icon):\n%s", len(assets), body)
	}
	versioned := map[string]string{}
	for _, a := range assets {
		versioned[a[2]] = a[1]
	}

	security := map[string]string{
		"Content-Security-Policy": cschttp.DashboardCSP,
		"X-Content-Type-Options":  "nosniff",
		"X-Frame-Options":         "DENY",
		"Referrer-Policy":         "no-referrer",
	}
	cases := []struct {
		name, method, path string
		header             map[string]string
		status             int
		contentType        string // prefix
		cache              string
		body               string // a part of the body
	}{
		{"the page", "GET", "/", nil, 200, "text/html; charset=utf-8", "no-cache", `<main id="main"`},
		{"the page's head", "HEAD", "/", nil, 200, "text/html; charset=utf-8", "no-cache", ""},
		{"the script", "GET", versioned["app.js"], nil, 200, "text/javascript; charset=utf-8", "public, max-age=31536000, immutable", "sseLoop"},
		{"the style", "GET", versioned["app.css"], nil, 200, "text/css; charset=utf-8", "public, max-age=31536000, immutable", ".city-card"},
		{"the icon", "GET", versioned["favicon.svg"], nil, 200, "image/svg+xml", "public, max-age=31536000, immutable", "<svg"},
		{"an asset without a version", "GET", "/dashboard/app.js", nil, 200, "text/javascript; charset=utf-8", "no-cache", "sseLoop"},
		{"an asset with another version", "GET", "/dashboard/app.js?v=0000000000000000", nil, 200, "text/javascript; charset=utf-8", "no-cache", "sseLoop"},
		{"an unknown asset", "GET", "/dashboard/secrets.txt", nil, 404, "application/problem+json", "no-store", `"status":404`},
		{"the assets folder", "GET", "/dashboard/", nil, 404, "application/problem+json", "no-store", `"status":404`},
		{"a post to the page", "POST", "/", nil, 405, "application/problem+json", "no-store", `"status":405`},
		{"a path neither API nor dashboard", "GET", "/index.html", nil, 404, "application/problem+json", "no-store", `"status":404`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			resp, body := dashboardGet(t, c.method, ts.url+c.path, c.header)
			if resp.StatusCode != c.status {
				t.Fatalf("%s %s: %s: %s", c.method, c.path, resp.Status, body)
			}
			if got := resp.Header.Get("Content-Type"); !strings.HasPrefix(got, c.contentType) {
				t.Errorf("Content-Type %q, want %q", got, c.contentType)
			}
			if got := resp.Header.Get("Cache-Control"); got != c.cache {
				t.Errorf("Cache-Control %q, want %q", got, c.cache)
			}
			if !strings.Contains(body, c.body) {
				t.Errorf("the body has no %q", c.body)
			}
			if c.method == "HEAD" && body != "" {
				t.Errorf("HEAD answered a body of %d bytes", len(body))
			}
			if c.status == 200 {
				for k, want := range security {
					if got := resp.Header.Get(k); got != want {
						t.Errorf("%s: %q, want %q", k, got, want)
					}
				}
				if resp.Header.Get("ETag") == "" {
					t.Error("no ETag")
				}
			}
			if c.status == 405 && resp.Header.Get("Allow") != "GET, HEAD" {
				t.Errorf("Allow %q, want GET, HEAD", resp.Header.Get("Allow"))
			}
		})
	}

	// Revalidation: the ETag of the page and of an asset gives 304 and no body.
	for _, path := range []string{"/", versioned["app.js"]} {
		first, _ := dashboardGet(t, "GET", ts.url+path, nil)
		again, body := dashboardGet(t, "GET", ts.url+path, map[string]string{"If-None-Match": first.Header.Get("ETag")})
		if again.StatusCode != http.StatusNotModified || body != "" {
			t.Errorf("GET %s with its ETag: %s and %d bytes, want 304 and none", path, again.Status, len(body))
		}
	}

	// The dashboard is not one of the API's routes (the authorisation matrix and the OpenAPI document
	// cover those), and its requests are counted under two route labels, never their raw paths.
	for _, rt := range ts.server.Routes() {
		if rt.Path == "/" || strings.HasPrefix(rt.Path, cschttp.DashboardAssets) {
			t.Errorf("the dashboard shows up among the API's routes: %+v", rt)
		}
	}
	_, metrics := dashboardGet(t, "GET", ts.url+"/metrics", nil)
	for _, want := range []string{`route="/"`, `route="/dashboard/{asset}"`} {
		if !strings.Contains(metrics, "csc_http_requests_total{") || !strings.Contains(metrics, want) {
			t.Errorf("no request counted under %s", want)
		}
	}
	for _, raw := range []string{"app.js", "secrets.txt", "index.html"} {
		if strings.Contains(metrics, `route="/dashboard/`+raw) || strings.Contains(metrics, `route="/`+raw) {
			t.Errorf("a raw path (%s) became a route label", raw)
		}
	}
}

// TestDashboardAssetsKeepToThePolicy: the Content-Security-Policy allows no inline script or style and
// no HTML sinks (Trusted Types with no policy). These checks catch, before a browser does, markup and
// code the policy would break: inline scripts, style or event-handler attributes in the page, and the
// string-to-markup and string-to-code APIs in the script.
func TestDashboardAssetsKeepToThePolicy(t *testing.T) {
	ts := startServer(t, "")
	_, page := dashboardGet(t, "GET", ts.url+"/", nil)
	_, script := dashboardGet(t, "GET", ts.url+"/dashboard/app.js", nil)
	re := func(expr string) func(string) string { return regexp.MustCompile(expr).FindString }
	cases := []struct {
		name, text string
		find       func(string) string // returns what breaks the policy, "" when nothing does
	}{
		{"inline script", page, re(`<script(\s[^>]*)?>\s*[^<\s]`)},
		{"script without src", page, func(s string) string {
			for _, tag := range regexp.MustCompile(`<script\b[^>]*>`).FindAllString(s, -1) {
				if !strings.Contains(tag, " src=") {
					return tag
				}
			}
			return ""
		}},
		{"style element", page, re(`<style[\s>]`)},
		{"style attribute", page, re(`\sstyle=`)},
		{"event-handler attribute", page, re(`\son[a-z]+=`)},
		{"javascript: address", page + script, re(`(?i)javascript:`)},
		{"innerHTML and friends", script, re(`\.(innerHTML|outerHTML|insertAdjacentHTML)\b|document\.write`)},
		{"eval", script, re(`\beval\(|new Function\(|setTimeout\(['"]`)},
		{"style attribute set from script", script, re(`setAttribute\(['"]style['"]`)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if m := c.find(c.text); m != "" {
				t.Errorf("found %q", m)
			}
		})
	}
	// The checks can fail: each finds what it is about in a sample.
	samples := map[string]string{
		"inline script":                   `<script>alert(1)</script>`,
		"script without src":              `<script type="module">`,
		"style element":                   `<style>`,
		"style attribute":                 `<p style="color:red">`,
		"event-handler attribute":         `<a onclick="x()">`,
		"javascript: address":             `href="javascript:x()"`,
		"innerHTML and friends":           `el.innerHTML = s`,
		"eval":                            `eval(s)`,
		"style attribute set from script": `el.setAttribute('style', s)`,
	}
	for _, c := range cases {
		if c.find(samples[c.name]) == "" {
			t.Errorf("the %s check does not find %q", c.name, samples[c.name])
		}
	}
}
