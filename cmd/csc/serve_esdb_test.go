package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/metropolis/csc/domain"
	"github.com/metropolis/csc/eventstore/esdb"
	"github.com/metropolis/csc/eventstore/esdb/esdbfixture"
	cschttp "github.com/metropolis/csc/http"
)

// esdbSecret is the token secret both instances share (CSC_TOKEN_SECRET), so that a token made by one
// is accepted by the other.
const esdbSecret = "0123456789abcdef0123456789abcdef-shared-by-both-instances"

// TestServeESDBTwoInstances runs two csc serve instances on one EventStoreDB (the in-process protocol
// fixture: a fake of the gRPC protocol, since no EventStoreDB server runs here) with separate data
// folders and one token secret. The first start launches the collaboratory, the second does not launch
// it again; each instance's reads include the writes made through the other (their projections follow
// $all through a catch-up subscription); a conflicting write through both with the same If-Match
// succeeds once; and after the fixture drops every subscription both instances resubscribe and still
// see every write.
func TestServeESDBTwoInstances(t *testing.T) {
	f := esdbfixture.Start(t, esdbfixture.Options{})
	startInstance := func(name string) (string, *syncBuffer, TokensFile) {
		dir := filepath.Join(t.TempDir(), name)
		m, logs, _ := testMain(map[string]string{
			"CSC_DATA": dir, "CSC_ADDR": "127.0.0.1:0", "CSC_STORE": f.URL(), "CSC_TOKEN_SECRET": esdbSecret,
		})
		url := serve(t, m)
		return url, logs, readTokens(t, dir)
	}
	urlA, logsA, tf := startInstance("a")
	urlB, logsB, tfB := startInstance("b")

	if !strings.Contains(logsA.String(), "first start") {
		t.Errorf("the first instance does not say it launched the collaboratory:\n%s", logsA)
	}
	if strings.Contains(logsB.String(), "first start") {
		t.Errorf("the second instance launched the collaboratory again:\n%s", logsB)
	}
	if n := launches(t, f.URL()); n != 1 {
		t.Errorf("the collaboratory stream holds %d launch events, want 1", n)
	}
	// One secret: B's tokens work on A (and A's on B, used throughout below).
	call(t, "GET", urlA+"/v1/progress/berlin", tfB.Coordinator, nil, nil)

	// Through A: Berlin proposes, the coordinator approves, Berlin starts and reports.
	var itemA cschttp.WriteResult
	call(t, "POST", urlA+"/v1/roadmap-items", tf.Members["berlin"], proposal("berlin", "Green roofs on public buildings"), &itemA)
	call(t, "POST", urlA+"/v1/roadmap-items/"+itemA.ID+"/approve", tf.Coordinator, nil, nil)
	call(t, "POST", urlA+"/v1/roadmap-items/"+itemA.ID+"/start", tf.Members["berlin"], nil, nil)
	var updA cschttp.WriteResult
	call(t, "POST", urlA+"/v1/roadmap-items/"+itemA.ID+"/updates", tf.Members["berlin"], update(20, "Survey done."), &updA)

	// Through B: Madrid proposes an item.
	var itemB cschttp.WriteResult
	call(t, "POST", urlB+"/v1/roadmap-items", tf.Members["madrid"], proposal("madrid", "Superblocks in Arganzuela"), &itemB)

	// Each instance reads what was written through the other.
	checkProgress(t, urlB, tf.Coordinator, "berlin", updA.Position, func(p cschttp.CityProgress) error {
		if p.Stages.InProgress != 1 {
			return fmt.Errorf("stages %+v, want 1 in progress", p.Stages)
		}
		return nil
	})
	checkItem(t, urlB, tf.Coordinator, itemA.ID, updA.Position, updA.Revision, domain.StageInProgress, 20)
	checkProgress(t, urlA, tf.Coordinator, "madrid", itemB.Position, func(p cschttp.CityProgress) error {
		if p.Stages.Proposed != 1 {
			return fmt.Errorf("stages %+v, want 1 proposed", p.Stages)
		}
		return nil
	})
	checkItem(t, urlA, tf.Coordinator, itemB.ID, itemB.Position, itemB.Revision, domain.StageProposed, -1)

	// A conflicting write through both at once, with the same If-Match: exactly one succeeds.
	ifMatch := fmt.Sprintf("%q", fmt.Sprint(updA.Revision))
	var (
		wg       sync.WaitGroup
		statuses [2]int
		bodies   [2]string
		results  [2]cschttp.WriteResult
	)
	for i, url := range []string{urlA, urlB} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			statuses[i], bodies[i] = send("POST", url+"/v1/roadmap-items/"+itemA.ID+"/updates", tf.Members["berlin"],
				map[string]string{"If-Match": ifMatch}, update(30+10*i, fmt.Sprintf("Report %d.", i)))
			if statuses[i]/100 == 2 {
				_ = json.Unmarshal([]byte(bodies[i]), &results[i])
			}
		}()
	}
	wg.Wait()
	var winner cschttp.WriteResult
	ok := 0
	for i, s := range statuses {
		switch {
		case s/100 == 2:
			ok++
			winner = results[i]
		case s != http.StatusPreconditionFailed:
			t.Errorf("conflicting write %d: %d %s, want 2xx or 412", i, s, bodies[i])
		}
	}
	if ok != 1 {
		t.Fatalf("conflicting writes with If-Match %s: statuses %v, want exactly one 2xx:\n%s\n%s", ifMatch, statuses, bodies[0], bodies[1])
	}
	if winner.Revision != updA.Revision+1 {
		t.Errorf("the winning write is at revision %d, want %d", winner.Revision, updA.Revision+1)
	}
	for _, url := range []string{urlA, urlB} {
		checkItem(t, url, tf.Coordinator, itemA.ID, winner.Position, winner.Revision, domain.StageInProgress, -1)
	}

	// The fixture drops every subscription (as when the node goes away): both instances resubscribe
	// from where they were and see the writes made after the drop, through either instance.
	startedBefore := f.SubscriptionsStarted()
	if n := f.DropSubscriptions(); n < 2 {
		t.Fatalf("dropped %d subscriptions, want at least one per instance", n)
	}
	var itemA2, itemB2 cschttp.WriteResult
	call(t, "POST", urlA+"/v1/roadmap-items", tf.Members["berlin"], proposal("berlin", "Cycle lanes on the ring"), &itemA2)
	call(t, "POST", urlB+"/v1/roadmap-items", tf.Members["madrid"], proposal("madrid", "Solar on school roofs"), &itemB2)
	for _, c := range []struct {
		url, city string
		item      cschttp.WriteResult
	}{
		{urlB, "berlin", itemA2}, {urlA, "berlin", itemA2}, {urlA, "madrid", itemB2}, {urlB, "madrid", itemB2},
	} {
		checkProgress(t, c.url, tf.Coordinator, c.city, c.item.Position, func(p cschttp.CityProgress) error {
			// Berlin: the started item and the new proposal; Madrid: two proposals.
			want := map[string][2]int{"berlin": {1, 1}, "madrid": {2, 0}}[c.city]
			if p.Stages.Proposed != want[0] || p.Stages.InProgress != want[1] {
				return fmt.Errorf("stages %+v, want %d proposed and %d in progress", p.Stages, want[0], want[1])
			}
			return nil
		})
		checkItem(t, c.url, tf.Coordinator, c.item.ID, c.item.Position, c.item.Revision, domain.StageProposed, -1)
	}
	if got := f.SubscriptionsStarted() - startedBefore; got < 2 {
		t.Errorf("%d subscriptions started after the drop, want at least one per instance", got)
	}
	// The adapter resubscribed (the projections did not stop and start over).
	for name, logs := range map[string]*syncBuffer{"A": logsA, "B": logsB} {
		if !strings.Contains(logs.String(), "subscribing again") || strings.Contains(logs.String(), "projections stopped") {
			t.Errorf("instance %s does not log a resubscription, or its projections stopped:\n%s", name, logs)
		}
	}
}

// launches counts the launch events in the pilot collaboratory's stream, read straight from the store.
func launches(t *testing.T, url string) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st, err := esdb.Open(ctx, url, esdb.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	n := 0
	for e, err := range st.ReadStream(ctx, domain.CollaboratoryStream(domain.PilotSlug), 0) {
		if err != nil {
			t.Fatalf("read the collaboratory stream: %v", err)
		}
		if e.Type == domain.TypeCollaboratoryLaunched {
			n++
		}
	}
	return n
}

// proposal is the body of a roadmap item proposal for city.
func proposal(city, title string) map[string]any {
	return map[string]any{
		"city": city, "title": title, "description": title + ", as planned by the city council.",
		"theme": "ecology", "sdgTargets": []string{"11.6", "11.7"},
		"indicator":  map[string]any{"name": "Area", "unit": "m2", "direction": "increase", "baseline": map[string]any{"value": 1200, "year": 2025}, "target": map[string]any{"value": 40000, "year": 2028}},
		"milestones": []map[string]any{{"id": "m1", "title": "Survey", "due": "2026-09-30"}},
		"budget":     map[string]any{"amount": 2500000, "currency": "EUR", "fundingSource": "City budget"},
		"startDate":  "2026-04-01", "dueDate": "2028-12-31",
	}
}

// update is the body of a progress update.
func update(percent int, narrative string) map[string]any {
	return map[string]any{
		"progressPercent": percent, "measurement": map[string]any{"value": 100 * percent, "period": "2026-Q3"},
		"narrative": narrative,
	}
}

// send sends a JSON request with a bearer token and extra headers and returns the status and body. It
// reports transport errors as status 0 (it runs in goroutines, where t.Fatal may not be called).
func send(method, url, token string, headers map[string]string, body any) (int, string) {
	b, err := json.Marshal(body)
	if err != nil {
		return 0, err.Error()
	}
	r, err := http.NewRequest(method, url, bytes.NewReader(b))
	if err != nil {
		return 0, err.Error()
	}
	r.Header.Set("Content-Type", "application/json")
	r.Header.Set("Authorization", "Bearer "+token)
	for k, v := range headers {
		r.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(r)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, err.Error()
	}
	return resp.StatusCode, string(out)
}

// checkProgress reads a city's progress at url with ?minPosition=position and checks it with check.
func checkProgress(t *testing.T, url, token, city, position string, check func(cschttp.CityProgress) error) {
	t.Helper()
	var p cschttp.CityProgress
	call(t, "GET", url+"/v1/progress/"+city+"?minPosition="+position, token, nil, &p)
	if p.City != city {
		t.Errorf("%s: progress of %s answers city %q", url, city, p.City)
	}
	if err := check(p); err != nil {
		t.Errorf("%s: progress of %s at %s: %v", url, city, position, err)
	}
}

// checkItem reads an item at url with ?minPosition=position and checks its revision, stage and (unless
// percent < 0) its latest reported progress percentage.
func checkItem(t *testing.T, url, token, id, position string, revision uint64, stage domain.Stage, percent int) {
	t.Helper()
	var v cschttp.ItemView
	resp := call(t, "GET", url+"/v1/roadmap-items/"+id+"?minPosition="+position, token, nil, &v)
	if v.ID != id || v.Revision != revision || v.Stage != stage {
		t.Errorf("%s: item %s is %s at revision %d, want %s at revision %d", url, id, v.Stage, v.Revision, stage, revision)
	}
	if want := fmt.Sprintf("%q", fmt.Sprint(revision)); resp.Header.Get("ETag") != want {
		t.Errorf("%s: item %s has ETag %s, want %s", url, id, resp.Header.Get("ETag"), want)
	}
	if percent >= 0 && (v.ProgressPercent == nil || *v.ProgressPercent != percent) {
		t.Errorf("%s: item %s reports progress %v, want %d", url, id, v.ProgressPercent, percent)
	}
}
