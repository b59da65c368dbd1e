package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/hallgren/eventsourcing/core"
)

// TestRunWritesFigures runs both stores for real (SQLite files in a temp folder) with tiny sizes and
// checks the file: every round measured, ratios consistent with the figures, medians among the
// rounds' ratios, versions and pragmas recorded, no scratch file left. The figures themselves mean
// nothing at these sizes and are not judged.
func TestRunWritesFigures(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(t.TempDir(), "peer.json")
	var stdout, stderr bytes.Buffer
	args := []string{"--out", out, "--dir", dir, "--rounds", "2", "--bracket", "3", "--n1", "6", "--n64", "128", "--peer-n64", "64"}
	if err := run(context.Background(), args, &stdout, &stderr); err != nil {
		t.Fatalf("run: %v\nstderr:\n%s", err, stderr.String())
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var f peerFile
	if err := json.Unmarshal(b, &f); err != nil {
		t.Fatalf("decode: %v\n%s", err, b)
	}
	if f.Format != peerFormat || f.Dir != dir || f.GoVersion == "" || !strings.Contains(f.Command, "--n64 128") {
		t.Errorf("header: format %q, dir %q, go %q, command %q", f.Format, f.Dir, f.GoVersion, f.Command)
	}
	want := []module{{Path: peerStoreModule, Version: "v0.4.0"}, {Path: peerCoreModule, Version: "v0.4.0"}}
	if !slices.Equal(f.PeerModules, want) {
		t.Errorf("peer modules %+v, want %+v", f.PeerModules, want)
	}
	if f.Driver.Name != "modernc" || f.Driver.Module != driverModule || !strings.HasPrefix(f.Driver.Version, "v1.") {
		t.Errorf("driver %+v", f.Driver)
	}
	for _, p := range []string{"journal_mode(WAL)", "synchronous(FULL)", "busy_timeout(5000)"} {
		if !slices.Contains(f.Pragmas, p) {
			t.Errorf("pragmas %v lack %s", f.Pragmas, p)
		}
	}

	type shape struct{ writers, ours, peer, pool, rounds int }
	var got []shape
	for _, l := range f.Loads {
		got = append(got, shape{l.Writers, l.OursN, l.PeerN, l.PeerPool, len(l.Rounds)})
		if !strings.Contains(l.PeerSetup, "SetMaxOpenConns(1)") {
			t.Errorf("%d writers: setup %q does not say how the peer was configured", l.Writers, l.PeerSetup)
		}
		var vs, pf []float64
		for i, r := range l.Rounds {
			for _, v := range []float64{r.Ours, r.OursFsync, r.Peer, r.PeerFsync} {
				if !(v > 0) || math.IsInf(v, 0) {
					t.Errorf("%d writers, round %d: %+v: want positive finite figures", l.Writers, i+1, r)
				}
			}
			if r.OursVsPeer != r.Ours/r.Peer || r.PeerVsFsync != r.Peer/r.PeerFsync {
				t.Errorf("%d writers, round %d: ratios %+v do not match the figures", l.Writers, i+1, r)
			}
			if r.OursFirst != (i%2 == 0) {
				t.Errorf("%d writers, round %d: ours first %v, want the order to alternate", l.Writers, i+1, r.OursFirst)
			}
			vs, pf = append(vs, r.OursVsPeer), append(pf, r.PeerVsFsync)
		}
		if l.OursVsPeer != slices.Min(vs) || l.PeerVsFsync != slices.Min(pf) {
			t.Errorf("%d writers: medians %v, %v; want the lower of the two rounds' %v, %v", l.Writers, l.OursVsPeer, l.PeerVsFsync, vs, pf)
		}
	}
	if w := []shape{{1, 6, 6, 1, 2}, {64, 128, 64, 1, 2}}; !slices.Equal(got, w) {
		t.Errorf("loads %+v, want %+v", got, w)
	}
	// cmd/csc reads this layout (bench_peer.go) and tests its reading on the example file: the
	// example must have the layout the program writes.
	example, err := os.ReadFile(filepath.Join("testdata", "example.json"))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := jsonPaths(t, b), jsonPaths(t, example); !slices.Equal(got, want) {
		t.Errorf("layout differs from testdata/example.json:\nwritten: %v\nexample: %v", got, want)
	}
	if !strings.Contains(stderr.String(), "64 writers, round 2/2: ") {
		t.Errorf("progress does not report the rounds:\n%s", stderr.String())
	}
	if left, err := os.ReadDir(dir); err != nil || len(left) != 0 {
		t.Errorf("scratch folder holds %v (%v), want nothing left", left, err)
	}
}

// TestRunCommandLine checks the flags: --quick sets only the sizes not given, and bad command lines
// are refused before anything is measured.
func TestRunCommandLine(t *testing.T) {
	tests := []struct {
		name    string
		args    func(dir string) []string
		wantErr string
	}{
		{name: "quick keeps explicit sizes", args: func(dir string) []string {
			return []string{"--quick", "--out", "-", "--dir", dir, "--n1", "2", "--n64", "64", "--bracket", "2"}
		}},
		{name: "no output", args: func(dir string) []string { return []string{"--dir", dir} }, wantErr: "--out is required"},
		{name: "stray argument", args: func(dir string) []string { return []string{"--out", "-", "--dir", dir, "x"} }, wantErr: "unexpected arguments"},
		{name: "no rounds", args: func(dir string) []string { return []string{"--out", "-", "--dir", dir, "--rounds", "0"} }, wantErr: "--rounds"},
		{name: "missing folder", args: func(dir string) []string { return []string{"--out", "-", "--dir", filepath.Join(dir, "nope")} }, wantErr: "scratch folder"},
		{name: "unknown flag", args: func(dir string) []string { return []string{"--out", "-", "--fast"} }, wantErr: "flag provided but not defined"},
		{name: "too few appends", args: func(dir string) []string {
			return []string{"--out", "-", "--dir", dir, "--rounds", "1", "--bracket", "1", "--n1", "1", "--n64", "10"}
		}, wantErr: "want at least one append per writer"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			err := run(context.Background(), tt.args(t.TempDir()), &stdout, &stderr)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tt.wantErr)
				}
				if stdout.Len() != 0 {
					t.Errorf("wrote figures although it failed:\n%s", stdout.String())
				}
				return
			}
			if err != nil {
				t.Fatalf("run: %v\nstderr:\n%s", err, stderr.String())
			}
			var f peerFile
			if err := json.Unmarshal(stdout.Bytes(), &f); err != nil {
				t.Fatalf("decode stdout: %v\n%s", err, stdout.String())
			}
			if len(f.Loads) != 2 || len(f.Loads[0].Rounds) != 1 || f.Loads[0].OursN != 2 || f.Loads[1].PeerN != 64 {
				t.Errorf("loads %+v: want 1 round (quick) of the sizes given", f.Loads)
			}
		})
	}
}

// TestPeerStoreSavesTheWorkload saves the benchmark's events through the peer's store opened as the
// benchmark opens it, in a file whose name needs escaping in a URI, and reads them back with the
// peer's Get: the bodies are stored as given, and the peer's version check refuses a stale version.
func TestPeerStoreSavesTheWorkload(t *testing.T) {
	path := filepath.Join(t.TempDir(), "odd ?name#%.db")
	p, err := openPeer(context.Background(), path, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer p.close()
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("the store is not in the file named: %v", err)
	}

	var saved []core.Event
	for i := range 3 {
		e := peerEvent("agg-1", i)
		// eventstore/sqlite's benchEvent has 458 bytes of data and metadata for i < 10 (about 550
		// bytes with its ID and type); the peer's event carries the same two bodies.
		if size := len(e.Data) + len(e.Metadata); size != 458 {
			t.Errorf("event %d: %d bytes of data and metadata, want 458 like our benchmark event", i, size)
		}
		if err := p.es.Save([]core.Event{e}); err != nil {
			t.Fatalf("save %d: %v", i, err)
		}
		saved = append(saved, e)
	}
	if err := p.es.Save([]core.Event{peerEvent("agg-1", 1)}); !errors.Is(err, core.ErrConcurrency) {
		t.Errorf("saving version 2 again: err = %v, want the peer's concurrency error", err)
	}

	it, err := p.es.Get(context.Background(), "agg-1", peerAggregateType, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer it.Close()
	var got []core.Event
	for it.Next() {
		e, err := it.Value()
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, e)
	}
	if len(got) != len(saved) {
		t.Fatalf("read %d events, want %d", len(got), len(saved))
	}
	for i, e := range got {
		w := saved[i]
		if e.Version != w.Version || e.Reason != peerReason || !bytes.Equal(e.Data, w.Data) || !bytes.Equal(e.Metadata, w.Metadata) {
			t.Errorf("event %d: version %d reason %q data %q; want version %d, %q, %q", i, e.Version, e.Reason, e.Data, w.Version, peerReason, w.Data)
		}
	}
}

// jsonPaths lists the distinct paths of the JSON document b with the type of their values, array
// elements as [], in order: its layout, whatever the figures.
func jsonPaths(t *testing.T, b []byte) []string {
	t.Helper()
	var doc any
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	var paths []string
	var walk func(prefix string, v any)
	walk = func(prefix string, v any) {
		switch v := v.(type) {
		case map[string]any:
			for k, e := range v {
				walk(prefix+"."+k, e)
			}
		case []any:
			for _, e := range v {
				walk(prefix+"[]", e)
			}
		default:
			paths = append(paths, fmt.Sprintf("%s:%T", prefix, v))
		}
	}
	walk("", doc)
	slices.Sort(paths)
	return slices.Compact(paths)
}
