package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// peerExample is the example file of bench/peer (its test checks that the program writes files of
// the same layout), with made-up figures: 64 writers have the rounds 20,000 vs 1,000, 24,000 vs
// 1,600 and 18,000 vs 2,000 appends/s, the peer against 2,000 fsync/s each time.
const peerExample = "../../bench/peer/testdata/example.json"

// TestReadPeerBenchRows reads the example and checks the rows: the median round of each ratio, the
// goal at 64 writers only, and the place of the rows and of the description in a report.
func TestReadPeerBenchRows(t *testing.T) {
	p, err := readPeerBench(peerExample)
	if err != nil {
		t.Fatal(err)
	}
	type row struct {
		Key, Name, Driver, Unit, Sample string
		Value                           float64
		Base                            benchBase
		Ratios                          []float64
		Goal                            float64
	}
	fsync := func(v float64) benchBase { return benchBase{Name: "raw fsync", Value: v, Unit: "fsync/s"} }
	vsPeer := func(v float64) benchBase {
		return benchBase{Name: "the peer", Value: v, Unit: "appends/s", When: "in the same round"}
	}
	pool := ", database/sql pool of 1 (db.SetMaxOpenConns(1), as the peer's SQLite tests)"
	want := []row{
		{Key: "peer/modernc/1", Name: "peer's durable appends (hallgren/eventsourcing/eventstore/sql v0.4.0), 1 writer", Driver: "modernc",
			Unit: "appends/s", Sample: "1,500 saves" + pool, Value: 800, Base: fsync(2000), Ratios: []float64{0.4}},
		{Key: "peer/modernc/1/ours", Name: "durable appends against the peer, 1 writer", Driver: "modernc",
			Unit: "appends/s", Sample: "1,500 appends, by bench/peer in the peer's rounds", Value: 1000, Base: vsPeer(800), Ratios: []float64{1.25}},
		{Key: "peer/modernc/64", Name: "peer's durable appends (hallgren/eventsourcing/eventstore/sql v0.4.0), 64 writers", Driver: "modernc",
			Unit: "appends/s", Sample: "40,000 saves" + pool, Value: 1600, Base: fsync(2000), Ratios: []float64{0.5, 0.8, 1}},
		{Key: "peer/modernc/64/ours", Name: "durable appends against the peer, 64 writers", Driver: "modernc",
			Unit: "appends/s", Sample: "40,000 appends, by bench/peer in the peer's rounds", Value: 24000, Base: vsPeer(1600),
			Ratios: []float64{20, 15, 9}, Goal: 10},
	}
	var got []row
	for _, r := range p.rows {
		if r.Base == nil {
			t.Fatalf("row %s has no baseline", r.Key)
		}
		got = append(got, row{r.Key, r.Name, r.Driver, r.Unit, r.Sample, r.Value, *r.Base, r.Ratios, r.Goal})
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("rows (-want +got):\n%s", diff)
	}

	// In a report: after the appends rows, the description after the appends one.
	var progress bytes.Buffer
	rows := p.addRows([]benchRow{{Key: "fsync"}, {Key: "appends/modernc/1"}, {Key: "appends/modernc/64"}, {Key: "appends-ceiling/modernc/64"}, {Key: "engine/modernc/1"}}, &progress)
	var keys []string
	for _, r := range rows {
		keys = append(keys, r.Key)
	}
	wantKeys := []string{"fsync", "appends/modernc/1", "appends/modernc/64", "appends-ceiling/modernc/64", "peer/modernc/1", "peer/modernc/1/ours", "peer/modernc/64", "peer/modernc/64/ours", "engine/modernc/1"}
	if diff := cmp.Diff(wantKeys, keys); diff != "" {
		t.Errorf("row order (-want +got):\n%s", diff)
	}
	if !strings.Contains(progress.String(), "bench: durable appends against the peer, 64 writers (modernc): 24,000 appends/s over 40,000 appends") {
		t.Errorf("progress lacks the peer rows:\n%s", progress.String())
	}
	if rows := p.addRows([]benchRow{{Key: "fsync"}}, &progress); len(rows) != 5 || rows[0].Key != "fsync" {
		t.Errorf("without appends rows: %d rows, first %q; want fsync then the peer's", len(rows), rows[0].Key)
	}
	var names []string
	for _, m := range p.addMeasurement([]benchMeasurement{{name: "fsync"}, {name: "appends"}, {name: "engine"}}) {
		names = append(names, m.name)
	}
	if diff := cmp.Diff([]string{"fsync", "appends", "peer", "engine"}, names); diff != "" {
		t.Errorf("measurements (-want +got):\n%s", diff)
	}
	for _, s := range []string{"eventstore/sql v0.4.0, github.com/hallgren/eventsourcing/core v0.4.0", "`peer --out /tmp/peer.json --dir /tmp`",
		"modernc (modernc.org/sqlite v1.62.0)", "journal_mode(WAL), synchronous(FULL)", "db.SetMaxOpenConns(1)", "2026-11-28 20:00 UTC", "go1.26.8"} {
		if !strings.Contains(p.measurement.about, s) {
			t.Errorf("description lacks %q:\n%s", s, p.measurement.about)
		}
	}

	// No --peer: nothing changes.
	var none *peerBench
	if rows := none.addRows([]benchRow{{Key: "fsync"}}, &progress); len(rows) != 1 {
		t.Errorf("no peer file added rows: %v", rows)
	}
	if p, err := readPeerBench(""); p != nil || err != nil {
		t.Errorf("no path: %v, %v; want nothing", p, err)
	}
}

// TestReadPeerBenchRefusesBadFiles: a missing file, or one that is not bench/peer's layout or holds
// no usable figures, is refused with an error naming the file and the problem.
func TestReadPeerBenchRefusesBadFiles(t *testing.T) {
	example, err := os.ReadFile(peerExample)
	if err != nil {
		t.Fatal(err)
	}
	// mutate returns the example with f applied to its decoded JSON.
	mutate := func(f func(file map[string]any, load64 map[string]any)) *string {
		var file map[string]any
		if err := json.Unmarshal(example, &file); err != nil {
			t.Fatal(err)
		}
		f(file, file["loads"].([]any)[1].(map[string]any))
		b, err := json.Marshal(file)
		if err != nil {
			t.Fatal(err)
		}
		return new(string(b))
	}
	tests := []struct {
		name    string
		content *string // nil: no file
		wantErr string
	}{
		{name: "missing", wantErr: "no such file or directory"},
		{name: "empty", content: new(""), wantErr: "decode: EOF"},
		{name: "not JSON", content: new("| raw fsync | — |"), wantErr: "decode: invalid character"},
		{name: "trailing data", content: new(string(example) + "{}"), wantErr: "data after the JSON object"},
		{name: "other format", content: mutate(func(f, _ map[string]any) { f["format"] = "csc-bench-peer/2" }),
			wantErr: `format "csc-bench-peer/2", want "csc-bench-peer/1"`},
		{name: "unknown field", content: mutate(func(_, l map[string]any) { l["extra"] = 1 }), wantErr: `unknown field "extra"`},
		{name: "no loads", content: mutate(func(f, _ map[string]any) { f["loads"] = []any{} }), wantErr: "no figures"},
		{name: "no modules", content: mutate(func(f, _ map[string]any) { delete(f, "peer_modules") }),
			wantErr: "the peer's modules, the driver or the pragmas are missing"},
		{name: "no driver", content: mutate(func(f, _ map[string]any) { f["driver"] = map[string]any{} }),
			wantErr: "the peer's modules, the driver or the pragmas are missing"},
		{name: "no rounds", content: mutate(func(_, l map[string]any) { l["rounds"] = []any{} }),
			wantErr: "load of 64 writers: 40000 and 40000 appends, 0 rounds"},
		{name: "fewer appends than writers", content: mutate(func(_, l map[string]any) { l["peer_n"] = 10 }),
			wantErr: "load of 64 writers: 40000 and 10 appends"},
		{name: "zero figure", content: mutate(func(_, l map[string]any) {
			l["rounds"].([]any)[1].(map[string]any)["peer_appends_per_s"] = 0
		}), wantErr: "64 writers, round 2: figure 0, want positive and finite"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "peer.json")
			if tt.content != nil {
				if err := os.WriteFile(path, []byte(*tt.content), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			p, err := readPeerBench(path)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), "peer figures") {
				t.Fatalf("err = %v, want one about the peer figures containing %q", err, tt.wantErr)
			}
			if p != nil {
				t.Errorf("got figures %+v from a bad file", p)
			}
		})
	}
}

// TestRunBenchWithPeer runs the command as `make bench` does, with the fsync measurement only: the
// peer's rows are in the table and the goals, its description under "What is measured"; a bad
// --peer file stops the run before anything is measured or written.
func TestRunBenchWithPeer(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "BENCH.md")
	var stdout, stderr bytes.Buffer
	err := runBench(context.Background(), []string{"--quick", "--only", "fsync", "--dir", dir, "--out", out, "--peer", peerExample}, &stdout, &stderr)
	if err != nil {
		t.Fatalf("run: %v\nstderr:\n%s", err, stderr.String())
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{
		"| peer's durable appends (hallgren/eventsourcing/eventstore/sql v0.4.0), 64 writers | modernc | 1,600 appends/s | 40,000 saves, database/sql pool of 1 (db.SetMaxOpenConns(1), as the peer's SQLite tests) | raw fsync, 2,000 fsync/s around it | 0.80× (median of 3 rounds: 0.50×–1.00×) | — | — |",
		"| durable appends against the peer, 64 writers | modernc | 24,000 appends/s | 40,000 appends, by bench/peer in the peer's rounds | the peer, 1,600 appends/s in the same round | 15.0× (median of 3 rounds: 9.00×–20.0×) | ≥ 10.0× | yes |",
		"| durable appends against the peer, 1 writer | modernc | 1,000 appends/s | 1,500 appends, by bench/peer in the peer's rounds | the peer, 800 appends/s in the same round | 1.25× | — | — |",
		"- durable appends against the peer, 64 writers (modernc): 15.0× the peer (median of 3 rounds: 9.00×–20.0×), goal ≥ 10.0×: met\n",
		"- **peer**: The same append workload on the peer github.com/hallgren/eventsourcing's SQL event store",
		"--peer " + peerExample + "`",
	} {
		if !strings.Contains(string(b), s) {
			t.Errorf("report lacks %q:\n%s", s, b)
		}
	}

	missing := filepath.Join(dir, "nope.json")
	out2 := filepath.Join(dir, "BENCH2.md")
	err = runBench(context.Background(), []string{"--quick", "--only", "fsync", "--dir", dir, "--out", out2, "--peer", missing}, &stdout, &stderr)
	if err == nil || !strings.Contains(err.Error(), "peer figures") || !strings.Contains(err.Error(), missing) {
		t.Fatalf("err = %v, want one naming the missing peer file", err)
	}
	if _, err := os.Stat(out2); err == nil {
		t.Errorf("a report was written although the peer file is missing")
	}
}
