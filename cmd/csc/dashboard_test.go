package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"

	cschttp "github.com/metropolis/csc/http"
	"github.com/metropolis/csc/projections"
)

// The dashboard's browser test: headless Chromium, driven with chromedp, against a real csc serve
// --demo on 127.0.0.1:0. Screenshots go to $CSC_SCREENSHOTS when it is set, else to a temporary
// folder; the test logs where.

// dashboardTimeout bounds the whole browser session.
const dashboardTimeout = 4 * time.Minute

// findChromium returns the browser to drive: $CSC_CHROMIUM, or the first of the usual names on PATH.
// Without one the test is skipped, except in CI (CI=true), where it fails: the dashboard must be
// tested there.
func findChromium(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("CSC_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome", "headless-shell"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	const msg = "no Chromium to drive: install it (apt-get install chromium) or set CSC_CHROMIUM"
	if os.Getenv("CI") == "true" {
		t.Fatal(msg + "; in CI the dashboard's browser test must run")
	}
	t.Skip(msg)
	return ""
}

// browserSession is a headless Chromium tab and what the page printed to its console.
type browserSession struct {
	t     *testing.T
	ctx   context.Context
	shots string

	mu      sync.Mutex
	console []chromedp.ConsoleMessage
}

func startBrowser(t *testing.T, exe string) *browserSession {
	t.Helper()
	parent, cancelParent := context.WithTimeout(context.Background(), dashboardTimeout)
	t.Cleanup(cancelParent)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(parent,
		chromedp.ExecPath(exe),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("lang", "en-US"),
		chromedp.WindowSize(1280, 800),
		chromedp.UserDataDir(t.TempDir()),
	)
	t.Cleanup(cancelAlloc)
	ctx, cancel := chromedp.NewContext(allocCtx)
	t.Cleanup(cancel)
	if err := chromedp.Do(ctx); err != nil { // starts the browser and the tab
		t.Fatalf("start %s: %v", exe, err)
	}
	b := &browserSession{t: t, ctx: ctx}
	b.shots = os.Getenv("CSC_SCREENSHOTS")
	if b.shots == "" {
		b.shots = t.TempDir()
	}
	if err := os.MkdirAll(b.shots, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Logf("dashboard screenshots in %s", b.shots)

	messages := chromedp.Console(ctx)
	go func() {
		for m, err := range messages {
			if err != nil {
				return
			}
			b.mu.Lock()
			b.console = append(b.console, m)
			b.mu.Unlock()
		}
	}()
	// Fixed time zone and language, so that the as-of picker's day and the formatted numbers do not
	// depend on the machine.
	if _, err := chromedp.Call(ctx, emulation.SetTimezoneOverride, emulation.SetTimezoneOverrideParams{TimezoneID: "UTC"}); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Call(ctx, emulation.SetLocaleOverride, emulation.SetLocaleOverrideParams{Locale: "en_US"}); err != nil {
		t.Fatal(err)
	}
	b.do(chromedp.EmulateViewport(1280, 800))
	return b
}

func (b *browserSession) do(steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	if err := chromedp.Do(b.ctx, steps...); err != nil {
		b.t.Fatalf("browser: %v\n%s", err, b.consoleText())
	}
}

// eval evaluates a JavaScript expression in the page and decodes its value into T.
func eval[T any](b *browserSession, expr string) T {
	b.t.Helper()
	v, err := chromedp.Run(b.ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		b.t.Fatalf("evaluate %s: %v\n%s", expr, err, b.consoleText())
	}
	return v
}

// waitFor polls a JavaScript predicate until it holds.
func (b *browserSession) waitFor(what, predicate string) {
	b.t.Helper()
	if _, err := chromedp.Run(b.ctx, chromedp.Poll[chromedp.Void](predicate,
		chromedp.WithPollingTimeout(20*time.Second), chromedp.WithPollingInterval(50*time.Millisecond))); err != nil {
		state := eval[string](b, `JSON.stringify({hash: location.hash, main: {...document.querySelector('#main')?.dataset},
			banner: document.querySelector('#banner')?.textContent,
			form: [...document.querySelectorAll('.form-summary, [data-error-for]')].map((e) => e.textContent).filter(Boolean),
			values: [...document.querySelectorAll('form input, form textarea')].filter((e) => e.value).map((e) => e.name + '=' + e.value)})`)
		b.t.Fatalf("waiting for %s: %v\npage: %s\n%s", what, err, state, b.consoleText())
	}
}

// waitView waits until the view named is loaded (and, when asOf is set, loaded as of that moment).
func (b *browserSession) waitView(view, asOf string) {
	b.t.Helper()
	b.waitFor("the "+view+" view", fmt.Sprintf(
		`(() => { const m = document.querySelector('#main'); return m && m.dataset.view === %q && m.dataset.state === 'ready' && (m.dataset.asof || '') === %q; })()`,
		view, asOf))
}

// goTo changes the page's address within the page (a hash route: no reload).
func (b *browserSession) goTo(hash string) {
	b.t.Helper()
	b.do(chromedp.Evaluate[chromedp.Void](`location.hash = ` + strconv.Quote(hash)))
}

func (b *browserSession) screenshot(name string) {
	b.t.Helper()
	// Let fonts and layout settle (two frames).
	b.waitFor("a quiet frame", `new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(() => r(true))))`)
	png, err := chromedp.Run(b.ctx, chromedp.CaptureScreenshot())
	if err != nil {
		b.t.Fatalf("screenshot %s: %v", name, err)
	}
	if err := os.WriteFile(filepath.Join(b.shots, name), png, 0o644); err != nil {
		b.t.Fatal(err)
	}
}

func (b *browserSession) consoleText() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	var sb strings.Builder
	for _, m := range b.console {
		sb.WriteString("console " + m.String() + "\n")
	}
	return sb.String()
}

// checkConsole fails on uncaught exceptions and on anything the Content-Security-Policy or Trusted
// Types refused. (Failed requests, such as the 422 of a bad form, are logged by the browser as errors
// too: those are expected.)
func (b *browserSession) checkConsole() {
	b.t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, m := range b.console {
		if m.IsException() || strings.Contains(m.Text, "Content Security Policy") || strings.Contains(m.Text, "Trusted Type") {
			b.t.Errorf("the page logged: %s", m)
		}
	}
}

func (b *browserSession) signIn(url, token string) {
	b.t.Helper()
	b.do(chromedp.Navigate(url+"/"),
		chromedp.WaitVisible(chromedp.ID("token")),
		chromedp.SetValue(chromedp.ID("token"), token),
		chromedp.Click(chromedp.ID("signin-submit")))
	b.waitView("overview", "")
}

// cardField is what the page shows of one number of a city card.
type cardField struct {
	Value string `json:"value"`
	Text  string `json:"text"`
}

// cards reads every city card: city -> field -> value and text.
func (b *browserSession) cards() map[string]map[string]cardField {
	b.t.Helper()
	return eval[map[string]map[string]cardField](b, `Object.fromEntries([...document.querySelectorAll('.city-card')].map((c) =>
		[c.dataset.city, Object.fromEntries([...c.querySelectorAll('[data-field]')].map((e) =>
			[e.dataset.field, {value: e.dataset.value ?? '', text: e.textContent.trim()}]))]))`)
}

// cardWant is a progress row as the card's fields: every number of the row.
func cardWant(r projections.CityProgress) map[string]float64 {
	s := r.Stages
	h := r.Health
	want := map[string]float64{
		"completion": r.Completion, "overdue": float64(r.Overdue),
		"milestones.reached": float64(r.Milestones.Reached), "milestones.total": float64(r.Milestones.Total),
		"stages.proposed": float64(s.Proposed), "stages.changes_requested": float64(s.ChangesRequested),
		"stages.approved": float64(s.Approved), "stages.in_progress": float64(s.InProgress),
		"stages.on_hold": float64(s.OnHold), "stages.completed": float64(s.Completed),
		"stages.rejected": float64(s.Rejected), "stages.cancelled": float64(s.Cancelled),
		"health.not_started": float64(h.NotStarted), "health.on_track": float64(h.OnTrack),
		"health.behind": float64(h.Behind), "health.at_risk": float64(h.AtRisk), "health.achieved": float64(h.Achieved),
	}
	for _, b := range r.Budget {
		want["budget."+b.Currency] = b.Amount
	}
	return want
}

// checkCard compares a card with a progress row: every number exactly, the completion as a person
// reads it, and the time of the last update.
func checkCard(t *testing.T, got map[string]cardField, r projections.CityProgress) {
	t.Helper()
	for key, want := range cardWant(r) {
		f, ok := got[key]
		if !ok {
			t.Errorf("%s: the card shows no %s", r.City, key)
			continue
		}
		v, err := strconv.ParseFloat(f.Value, 64)
		if err != nil || v != want {
			t.Errorf("%s: the card has %s = %q, the API %v", r.City, key, f.Value, want)
		}
	}
	if want := fmt.Sprintf("%.0f%%", math.Round(r.Completion*100)); got["completion"].Text != want {
		t.Errorf("%s: the card shows completion %q, want %q", r.City, got["completion"].Text, want)
	}
	if lu, err := time.Parse(time.RFC3339Nano, got["lastUpdate"].Value); err != nil || !lu.Equal(r.LastUpdate) {
		t.Errorf("%s: the card's last update is %q, the API's %s", r.City, got["lastUpdate"].Value, r.LastUpdate)
	}
}

// apiGet reads a JSON answer of the API (not through the page).
func apiGet[T any](t *testing.T, url, token string) T {
	t.Helper()
	var v T
	call(t, "GET", url, token, nil, &v)
	return v
}

// waitReadyz waits until the server's read models have caught up.
func waitReadyz(t *testing.T, url string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(url + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the read models did not catch up: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// inProgress returns the ids of a city's items in progress that are not done yet.
func inProgress(t *testing.T, url, token, city string) []cschttp.ItemView {
	t.Helper()
	list := apiGet[cschttp.ItemList](t, url+"/v1/roadmap-items?stage=in_progress&city="+city, token)
	var out []cschttp.ItemView
	for _, it := range list.Items {
		if it.Progress < 1 {
			out = append(out, apiGet[cschttp.ItemView](t, url+"/v1/roadmap-items/"+it.ID, token))
		}
	}
	if len(out) < 2 {
		t.Fatalf("the demo has %d unfinished items in progress in %s, want 2", len(out), city)
	}
	return out
}

// TestDashboard drives the dashboard in headless Chromium against csc serve --demo: the coordinator's
// cards show exactly /v1/progress; the keyboard reaches and follows a card's link; an update submitted
// through the API changes a card live (SSE); the as-of picker shows the earlier numbers; the matrix,
// the item list and an item's chart (with a correction), the roster and the activity feed render the
// API's data; the page fits a phone's width. A member sees their city only, submits an update through
// the form (first a bad one: the API's field errors appear next to the fields and nothing is
// recorded), proposes an item through the form and sees a change made elsewhere without a reload; the
// coordinator approves the proposal with its button; an auditor sees no writing controls. No page
// raises an exception or trips the Content-Security-Policy.
func TestDashboard(t *testing.T) {
	exe := findChromium(t)
	dir := filepath.Join(t.TempDir(), "data")
	m, _, _ := testMain(map[string]string{"CSC_DATA": dir, "CSC_ADDR": "127.0.0.1:0"})
	url := serve(t, m, "--demo")
	tf := readTokens(t, dir)
	waitReadyz(t, url)
	coordinator, member := tf.Coordinator, tf.Members["berlin"]

	b := startBrowser(t, exe)
	defer b.checkConsole()

	// The page and its assets carry a strict Content-Security-Policy (the rest of its headers are
	// http/dashboard_test.go's).
	resp, err := http.Get(url + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") || !strings.Contains(csp, "default-src 'none'") {
		t.Errorf("GET / has Content-Security-Policy %q", csp)
	}

	// --- The coordinator signs in: the cards are /v1/progress. ---
	b.signIn(url, coordinator)
	if got := eval[string](b, `sessionStorage.getItem('csc.token')`); got != coordinator {
		t.Error("the token is not kept in sessionStorage")
	}
	if strings.Contains(eval[string](b, `location.href`), coordinator) {
		t.Error("the token is in the address")
	}
	progress := apiGet[cschttp.Progress](t, url+"/v1/progress", coordinator)
	cards := b.cards()
	if len(cards) != len(progress.Cities) {
		t.Fatalf("%d city cards, /v1/progress has %d cities", len(cards), len(progress.Cities))
	}
	before := map[string]projections.CityProgress{}
	for _, row := range progress.Cities {
		checkCard(t, cards[row.City], row)
		before[row.City] = row
	}
	b.waitFor("the live feed", `document.querySelector('#live').dataset.mode === 'live'`)
	b.screenshot("overview.png")

	// Keyboard: a view starts with the focus on its content; Tab reaches the first card's link and
	// Enter follows it.
	b.do(chromedp.KeyEvent("\t"))
	active := `(document.activeElement.dataset.key || document.activeElement.tagName + '#' + document.activeElement.id)`
	if got := eval[string](b, active); got != "card-"+progress.Cities[0].City {
		t.Errorf("the first Tab focuses %q, want the first card's link", got)
	}
	b.do(chromedp.KeyEvent("\r"))
	b.waitView("items", "")
	if got := eval[string](b, `location.hash`); got != "#/items?city="+progress.Cities[0].City {
		t.Errorf("Enter on the first card's link went to %q", got)
	}
	b.goTo("#/overview")
	b.waitView("overview", "")

	// --- An update through the API changes Berlin's card live. ---
	// asOf is a whole second after every demo event and before the update (the as-of picker has
	// seconds).
	asOf := time.Now().UTC().Truncate(time.Second).Add(time.Second)
	time.Sleep(time.Until(asOf) + 50*time.Millisecond)
	items := inProgress(t, url, coordinator, "berlin")
	live, formItem := items[0], items[1]
	upd := map[string]any{"progressPercent": 100, "narrative": "Finished ahead of plan.", "milestonesReached": []string{}}
	if live.Indicator != nil {
		upd["measurement"] = map[string]any{"value": live.Indicator.Target.Value, "period": time.Now().UTC().Format("2006-01")}
	}
	var res cschttp.WriteResult
	call(t, "POST", url+"/v1/roadmap-items/"+live.ID+"/updates", member, upd, &res)
	after := apiGet[cschttp.CityProgress](t, url+"/v1/progress/berlin?minPosition="+res.Position, coordinator)
	if after.Completion == before["berlin"].Completion {
		t.Fatalf("the update did not change Berlin's completion (%v): the test proves nothing", after.Completion)
	}
	b.waitFor("Berlin's card to change", fmt.Sprintf(
		`Number(document.querySelector('.city-card[data-city="berlin"] [data-field="completion"]')?.dataset.value) === %s`,
		strconv.FormatFloat(after.Completion, 'g', -1, 64)))
	checkCard(t, b.cards()["berlin"], after.CityProgress)
	if got := eval[string](b, `location.hash`); got != "#/overview" {
		t.Errorf("the live update navigated to %q", got)
	}

	// --- As of: the picker shows the numbers from before the update. ---
	iso := asOf.Format("2006-01-02T15:04:05.000Z")
	b.do(chromedp.SetValue(chromedp.ID("asof-date"), asOf.Format("2006-01-02")),
		chromedp.SetValue(chromedp.ID("asof-time"), asOf.Format("15:04:05")),
		chromedp.Click(chromedp.ID("asof-apply")))
	b.waitView("overview", iso)
	then := apiGet[cschttp.CityProgress](t, url+"/v1/progress/berlin?asOf="+iso, coordinator)
	if then.Completion != before["berlin"].Completion {
		t.Errorf("as of %s the API has Berlin at %v, before the update it was %v", iso, then.Completion, before["berlin"].Completion)
	}
	checkCard(t, b.cards()["berlin"], then.CityProgress)
	b.screenshot("overview-as-of.png")
	b.do(chromedp.Click(chromedp.ID("asof-now")))
	b.waitView("overview", "")
	checkCard(t, b.cards()["berlin"], after.CityProgress)

	// --- Every view renders. ---
	matrix := apiGet[cschttp.Matrix](t, url+"/v1/matrix", coordinator)
	b.do(chromedp.Click(chromedp.CSS(`.tabs a[data-view="matrix"]`)))
	b.waitView("matrix", "")
	wantCells := len(matrix.Rows) * (len(matrix.Themes) + len(matrix.Targets))
	if got := eval[int](b, `document.querySelectorAll('.heat-cell').length`); got != wantCells {
		t.Errorf("the matrix has %d cells, want %d", got, wantCells)
	}
	if got := eval[string](b, `document.querySelector('.heat-cell[data-city="berlin"][data-col="ecology"]')?.dataset.value ?? ''`); got != strconv.FormatFloat(matrix.Rows[0].Themes["ecology"].Completion, 'g', -1, 64) {
		t.Errorf("Berlin × ecology shows %q, the API %v", got, matrix.Rows[0].Themes["ecology"].Completion)
	}
	b.screenshot("matrix.png")

	berlinItems := apiGet[cschttp.ItemList](t, url+"/v1/roadmap-items?city=berlin", coordinator)
	b.goTo("#/items?city=berlin")
	b.waitView("items", "")
	if got := eval[int](b, `document.querySelectorAll('table.list tbody tr').length`); got != len(berlinItems.Items) {
		t.Errorf("the item list of Berlin has %d rows, the API %d items", got, len(berlinItems.Items))
	}
	b.screenshot("items.png")

	// The item's detail: its indicator chart shows every measurement and a correction.
	if live.Indicator == nil || len(live.Indicator.Measurements) == 0 {
		t.Fatalf("the demo item %s has no measured indicator", live.ID)
	}
	first := live.Indicator.Measurements[0]
	call(t, "POST", url+"/v1/roadmap-items/"+live.ID+"/corrections", member,
		map[string]any{"updateId": first.UpdateID, "value": first.Value * 0.9, "reason": "Double-counted one assembly."}, &res)
	b.do(chromedp.Click(chromedp.CSS(`a[data-key="item-` + live.ID + `"]`)))
	b.waitView("items", "")
	b.waitFor("the item's detail", `!!document.querySelector('.item-head h1')`)
	b.waitFor("the correction", `document.querySelectorAll('svg.chart .correction').length === 1`)
	if n, want := eval[int](b, `document.querySelectorAll('svg.chart .measured-point').length`), len(live.Indicator.Measurements)+1; n != want {
		t.Errorf("the indicator chart has %d measurements, want %d", n, want)
	}
	if n := eval[int](b, `document.querySelectorAll('svg.chart .point-baseline').length`); n != 2 {
		t.Errorf("the indicator chart has %d baseline and target marks, want 2", n)
	}
	b.screenshot("item.png")

	for _, v := range []string{"roster", "activity"} {
		b.do(chromedp.Click(chromedp.CSS(`.tabs a[data-view="` + v + `"]`)))
		b.waitView(v, "")
		b.screenshot(v + ".png")
	}
	if got := eval[string](b, `document.querySelector('.feed li')?.dataset.position ?? ''`); got != res.Position {
		t.Errorf("the activity feed starts at position %q, want the update's %s", got, res.Position)
	}

	// --- Phone width: one column, nothing wider than the screen. ---
	b.do(chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile))
	b.goTo("#/overview")
	b.waitView("overview", "")
	if w := eval[int](b, `document.documentElement.scrollWidth - window.innerWidth`); w > 0 {
		t.Errorf("at phone width the page is %d px wider than the screen", w)
	}
	b.screenshot("overview-phone.png")
	b.do(chromedp.EmulateViewport(1280, 800))
	b.goTo("#/overview")
	b.waitView("overview", "")

	// --- A member sees their city and submits an update through the form. ---
	b.do(chromedp.Click(chromedp.ID("signout")), chromedp.WaitVisible(chromedp.ID("token")))
	if got := eval[string](b, `sessionStorage.getItem('csc.token') ?? ''`); got != "" {
		t.Error("signing out left the token in sessionStorage")
	}
	b.signIn(url, member)
	if got := eval[[]string](b, `[...document.querySelectorAll('.city-card')].map((c) => c.dataset.city)`); len(got) != 1 || got[0] != "berlin" {
		t.Errorf("the Berlin member sees the cards of %v", got)
	}
	b.goTo("#/items/" + formItem.ID)
	b.waitView("items", "")
	b.waitFor("the update form", `!!document.querySelector('#update-form')`)

	// A bad update: the API's field errors appear next to their fields, and nothing is recorded.
	b.do(chromedp.SendKeys(chromedp.ID("upd-progress"), "150"),
		chromedp.Click(chromedp.ID("update-submit")))
	b.waitFor("the field errors", `document.querySelector('#update-form [data-error-for="progressPercent"]').textContent !== ''`)
	errs := eval[map[string]string](b, `Object.fromEntries([...document.querySelectorAll('#update-form [data-error-for]')].filter((e) => e.textContent).map((e) => [e.dataset.errorFor, e.textContent]))`)
	if !strings.Contains(errs["progressPercent"], "0..100") || !strings.Contains(errs["narrative"], "Required") {
		t.Errorf("field errors shown: %v; want progressPercent (0..100) and narrative (required)", errs)
	}
	if got := eval[string](b, `document.querySelector('#upd-progress').getAttribute('aria-invalid') ?? ''`); got != "true" {
		t.Errorf("the progress field is not marked invalid (aria-invalid %q)", got)
	}
	b.screenshot("update-form-errors.png")
	if got := apiGet[cschttp.ItemView](t, url+"/v1/roadmap-items/"+formItem.ID, coordinator); got.Revision != formItem.Revision {
		t.Fatalf("a refused update moved the item from revision %d to %d", formItem.Revision, got.Revision)
	}

	// A good one.
	b.do(chromedp.Evaluate[chromedp.Void](`document.querySelector('#upd-progress').value = ''`),
		chromedp.SendKeys(chromedp.ID("upd-progress"), "60"),
		chromedp.SendKeys(chromedp.ID("upd-narrative"), "Second phase delivered in four districts."),
		chromedp.Click(chromedp.ID("update-submit")))
	b.waitFor("the update to be recorded", `document.querySelector('#update-form .form-status').textContent === 'Update recorded.'`)
	got := apiGet[cschttp.ItemView](t, url+"/v1/roadmap-items/"+formItem.ID, coordinator)
	if got.Revision != formItem.Revision+1 || got.ProgressPercent == nil || *got.ProgressPercent != 60 {
		t.Fatalf("after the form: revision %d (was %d), progress %v; want one update of 60 %%", got.Revision, formItem.Revision, got.ProgressPercent)
	}
	b.waitFor("the item to show its new revision", fmt.Sprintf(`document.querySelector('[data-field="revision"]')?.dataset.value === '%d'`, got.Revision))
	if n := eval[int](b, `document.querySelectorAll('#update-form [data-error-for]:not(:empty)').length`); n != 0 {
		t.Errorf("%d field errors still shown after a good update", n)
	}
	b.screenshot("update-form-done.png")

	// The member proposes an item through the form: an empty one shows the API's field errors, a
	// complete one is recorded and opens.
	b.do(chromedp.Click(chromedp.CSS(`.tabs a[data-view="propose"]`)))
	b.waitView("propose", "")
	b.do(chromedp.Click(chromedp.ID("propose-submit")))
	b.waitFor("the proposal's field errors", `document.querySelector('#propose-form [data-error-for="title"]').textContent !== ''`)
	perrs := eval[[]string](b, `[...document.querySelectorAll('#propose-form [data-error-for]')].filter((e) => e.textContent).map((e) => e.dataset.errorFor)`)
	for _, f := range []string{"title", "description", "theme", "sdgTargets", "startDate", "dueDate"} {
		if !strings.Contains(strings.Join(perrs, " "), f) {
			t.Errorf("no field error next to %s (errors next to %v)", f, perrs)
		}
	}
	b.screenshot("propose-errors.png")
	b.do(chromedp.SendKeys(chromedp.ID("p-title"), "School streets"),
		chromedp.SendKeys(chromedp.ID("p-description"), "Close the streets in front of schools to cars at the start and end of the school day."),
		chromedp.SetValue(chromedp.ID("p-theme"), "ecology"),
		chromedp.Click(chromedp.CSS(`#propose-form input[name="sdgTargets"][value="11.2"]`)),
		chromedp.SetValue(chromedp.ID("p-start"), "2027-03-01"),
		chromedp.SetValue(chromedp.ID("p-due"), "2028-02-28"),
		chromedp.SendKeys(chromedp.ID("p-ms-0-title"), "First ten schools"),
		chromedp.SetValue(chromedp.ID("p-ms-0-due"), "2027-09-30"),
		chromedp.SendKeys(chromedp.ID("p-b-amount"), "450000"),
		chromedp.SendKeys(chromedp.ID("p-b-src"), "Berlin mobility fund"),
		chromedp.Click(chromedp.ID("propose-submit")))
	b.waitFor("the new item", `location.hash.startsWith('#/items/') && document.querySelector('.item-head h1')?.textContent === 'School streets'`)
	newID := strings.TrimPrefix(eval[string](b, `location.hash`), "#/items/")
	proposed := apiGet[cschttp.ItemView](t, url+"/v1/roadmap-items/"+newID, coordinator)
	if proposed.City != "berlin" || proposed.Stage != "proposed" || len(proposed.MilestoneList) != 1 || proposed.Budget == nil || proposed.Budget.Amount != 450000 {
		t.Errorf("the form proposed %+v", proposed.ItemSummary)
	}

	// The member's live view: an update made elsewhere reaches the page without a reload.
	b.goTo("#/overview")
	b.waitView("overview", "")
	var res2 cschttp.WriteResult
	call(t, "POST", url+"/v1/roadmap-items/"+formItem.ID+"/updates", coordinator,
		map[string]any{"progressPercent": 100, "narrative": "Done.", "milestonesReached": []string{}}, &res2)
	now := apiGet[cschttp.CityProgress](t, url+"/v1/progress/berlin?minPosition="+res2.Position, coordinator)
	b.waitFor("the member's card to change", fmt.Sprintf(
		`Number(document.querySelector('.city-card[data-city="berlin"] [data-field="completion"]')?.dataset.value) === %s`,
		strconv.FormatFloat(now.Completion, 'g', -1, 64)))

	// The coordinator approves the member's proposal with the item's action button.
	b.do(chromedp.Click(chromedp.ID("signout")), chromedp.WaitVisible(chromedp.ID("token")))
	b.signIn(url, coordinator)
	b.goTo("#/items/" + newID)
	b.waitView("items", "")
	b.waitFor("the proposal's actions", `!!document.querySelector('button[data-action="approve"]')`)
	b.do(chromedp.Click(chromedp.CSS(`button[data-action="approve"]`)))
	b.waitFor("the approval", `!!document.querySelector('.item-head .stage-approved')`)
	if got := apiGet[cschttp.ItemView](t, url+"/v1/roadmap-items/"+newID, coordinator); got.Stage != "approved" {
		t.Errorf("after Approve the item is %s", got.Stage)
	}

	// An auditor sees everything and writes nothing.
	b.do(chromedp.Click(chromedp.ID("signout")), chromedp.WaitVisible(chromedp.ID("token")))
	b.signIn(url, tf.Auditor)
	if n := eval[int](b, `document.querySelectorAll('.city-card').length`); n != len(progress.Cities) {
		t.Errorf("the auditor sees %d cards, want %d", n, len(progress.Cities))
	}
	b.goTo("#/items/" + formItem.ID)
	b.waitView("items", "")
	b.waitFor("the item's detail", `!!document.querySelector('.item-head h1')`)
	if n := eval[int](b, `[...document.querySelectorAll('#update-form, .write-only')].filter((e) => e.offsetParent !== null).length`); n != 0 {
		t.Errorf("the auditor sees %d writing controls", n)
	}
}

// TestDashboardSignInRefusesBadTokens: a token the server refuses, or no token at all, leaves the
// user at the sign-in form with the reason, and nothing in sessionStorage.
func TestDashboardSignInRefusesBadTokens(t *testing.T) {
	exe := findChromium(t)
	dir := filepath.Join(t.TempDir(), "data")
	m, _, _ := testMain(map[string]string{"CSC_DATA": dir, "CSC_ADDR": "127.0.0.1:0"})
	url := serve(t, m)
	tf := readTokens(t, dir)
	waitReadyz(t, url)
	b := startBrowser(t, exe)
	defer b.checkConsole()

	// A token signed with another secret: well formed, so only the server can refuse it.
	other, err := cschttp.NewTokens([]byte(strings.Repeat("x", 40)), nil)
	if err != nil {
		t.Fatal(err)
	}
	forged, err := other.Issue(cschttp.Principal{Subject: "mallory", Role: "coordinator"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, token, want string
	}{
		{"not a token", "hello", "not a token"},
		{"another server's token", forged, "signature"},
		{"an edited token", tf.Coordinator[:len(tf.Coordinator)-4] + "AAAA", "signature"},
	}
	b.do(chromedp.Navigate(url + "/"))
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b.do(chromedp.WaitVisible(chromedp.ID("token")),
				chromedp.SetValue(chromedp.ID("token"), c.token),
				chromedp.Click(chromedp.ID("signin-submit")))
			b.waitFor("the refusal", `document.querySelector('#token-error').textContent !== ''`)
			msg := eval[string](b, `document.querySelector('#token-error').textContent`)
			if !strings.Contains(msg, c.want) {
				t.Errorf("the page says %q, want it to mention %q", msg, c.want)
			}
			if eval[bool](b, `!document.querySelector('#app').hidden || !!sessionStorage.getItem('csc.token')`) {
				t.Error("a refused token signed in")
			}
			b.do(chromedp.Evaluate[chromedp.Void](`document.querySelector('#token-error').textContent = ''`))
		})
	}
	// The problem body of a refused token is JSON the page could read.
	r, err := http.NewRequest("GET", url+"/v1/cities", nil)
	if err != nil {
		t.Fatal(err)
	}
	r.Header.Set("Authorization", "Bearer "+forged)
	resp, err := http.DefaultClient.Do(r)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var p cschttp.Problem
	if err := json.NewDecoder(resp.Body).Decode(&p); err != nil || resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("GET /v1/cities with a forged token: %d %+v %v", resp.StatusCode, p, err)
	}
}
