package projections

import (
	"context"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/metropolis/csc/domain"
	"github.com/metropolis/csc/eventstore"
	"github.com/metropolis/csc/eventstore/sqlite"
)

// The benchmarks read a real SQLite log written by the workload. CSC_BENCH_EVENTS sets its size
// (default 100,000; the figures in BENCHMARKS.md use 1,000,000); CSC_BENCH_DB names a file to keep
// between runs (it is written when missing or smaller), else the log lives in a temporary folder.
//
//	CSC_BENCH_EVENTS=1000000 CSC_BENCH_DB=/tmp/csc-1m.db go test -run XXX -bench . -benchtime 1x ./projections/

func benchEvents() int {
	if n, err := strconv.Atoi(os.Getenv("CSC_BENCH_EVENTS")); err == nil && n > 0 {
		return n
	}
	return 100_000
}

// benchLog returns the path of a SQLite log of at least n workload events.
func benchLog(b *testing.B, n int) string {
	b.Helper()
	path := os.Getenv("CSC_BENCH_DB")
	if path == "" {
		path = filepath.Join(b.TempDir(), "events.db")
	}
	ctx := context.Background()
	if _, err := os.Stat(path); err == nil {
		st, err := sqlite.Open(path, sqlite.Options{ReadOnly: true})
		if err != nil {
			b.Fatal(err)
		}
		h, err := st.Head(ctx)
		st.Close()
		if err != nil {
			b.Fatal(err)
		}
		if h.Commit >= uint64(n) {
			return path
		}
		if err := os.Remove(path); err != nil {
			b.Fatal(err)
		}
	}
	st, err := sqlite.Open(path, sqlite.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	start := time.Now()
	written, err := WriteWorkload(ctx, st, domain.NewCodec(), n, 1, 64)
	if err != nil {
		b.Fatal(err)
	}
	b.Logf("wrote %d events to %s in %s", written, path, time.Since(start).Round(time.Millisecond))
	return path
}

// BenchmarkRebuild measures, in the same run and on the same file, the raw scan rate of the
// SQLite file (rows read, no decoding), the store's ReadAll rate (no decoding) and the rebuild of
// every read model, with its peak heap against the models' size.
func BenchmarkRebuild(b *testing.B) {
	n := benchEvents()
	path := benchLog(b, n)
	ctx := context.Background()
	st, err := sqlite.Open(path, sqlite.Options{ReadOnly: true})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	codec := domain.NewCodec()
	perEvent := func(d time.Duration, n int) float64 { return float64(d.Nanoseconds()) / float64(n) / 1000 }
	for b.Loop() {
		c0, a0 := cpuTime(), mallocs()
		raw, err := sqlite.MeasureScan(ctx, path, "modernc")
		if err != nil {
			b.Fatal(err)
		}
		c1, a1 := cpuTime(), mallocs()
		readAll, events, err := MeasureReadAll(ctx, st)
		if err != nil {
			b.Fatal(err)
		}
		c2, a2 := cpuTime(), mallocs()
		rs, err := MeasureRebuild(ctx, st, codec)
		if err != nil {
			b.Fatal(err)
		}
		c3, a3 := cpuTime(), mallocs()
		perRow := func(a uint64, n int) float64 { return float64(a) / float64(n) }
		b.ReportMetric(perRow(a1-a0, events), "raw-allocs/row")
		b.ReportMetric(perRow(a2-a1, events), "readall-allocs/event")
		b.ReportMetric(perRow(a3-a2, int(rs.Events)), "rebuild-allocs/event")
		b.ReportMetric(raw, "raw-rows/s")
		b.ReportMetric(readAll, "readall-events/s")
		b.ReportMetric(rs.EventsPerSecond, "rebuild-events/s")
		b.ReportMetric(rs.EventsPerSecond/raw, "rebuild/raw")
		b.ReportMetric(rs.EventsPerSecond/readAll, "rebuild/readall")
		b.ReportMetric(float64(rs.PeakHeap)/(1<<20), "peak-heap-MiB")
		b.ReportMetric(float64(rs.ModelsHeap)/(1<<20), "models-MiB")
		b.Logf("%d events: raw scan %.0f rows/s, ReadAll %.0f events/s, rebuild %.0f events/s (%.0f %% of raw, %.0f %% of ReadAll) in %s; peak heap %.0f MiB, models %.0f MiB",
			rs.Events, raw, readAll, rs.EventsPerSecond, 100*rs.EventsPerSecond/raw, 100*rs.EventsPerSecond/readAll,
			rs.Duration.Round(time.Millisecond), float64(rs.PeakHeap)/(1<<20), float64(rs.ModelsHeap)/(1<<20))
		if c0 != 0 {
			b.Logf("CPU time per event (all cores): raw scan %.2f µs, ReadAll %.2f µs, rebuild %.2f µs",
				perEvent(c1-c0, events), perEvent(c2-c1, events), perEvent(c3-c2, int(rs.Events)))
			b.ReportMetric(perEvent(c1-c0, events), "raw-cpu-µs/row")
			b.ReportMetric(perEvent(c2-c1, events), "readall-cpu-µs/event")
			b.ReportMetric(perEvent(c3-c2, int(rs.Events)), "rebuild-cpu-µs/event")
		}
	}
}

// mallocs is the number of heap objects allocated so far by the process.
func mallocs() uint64 {
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.Mallocs
}

// BenchmarkProgressQuery compares the progress query on the first 1,000 events of the log with the
// query on the whole log, measured alternately so that both see the same machine.
func BenchmarkProgressQuery(b *testing.B) {
	n := benchEvents()
	path := benchLog(b, n)
	ctx := context.Background()
	st, err := sqlite.Open(path, sqlite.Options{ReadOnly: true})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	codec := domain.NewCodec()
	small, err := BuildAsOf(ctx, st, codec, AsOf{Position: eventstore.Position{Commit: 1000, Prepare: 1000}})
	if err != nil {
		b.Fatal(err)
	}
	large, err := BuildAsOf(ctx, st, codec, AsOf{})
	if err != nil {
		b.Fatal(err)
	}
	now := time.Date(2020, 6, 1, 0, 0, 0, 0, time.UTC)
	for b.Loop() {
		s, l := MeasureProgressPair(small, large, now, 20000)
		b.ReportMetric(float64(s.P99.Nanoseconds()), "p99-ns-1k")
		b.ReportMetric(float64(l.P99.Nanoseconds()), "p99-ns-all")
		b.ReportMetric(float64(l.P99)/float64(s.P99), "p99-ratio")
		b.Logf("progress query p50/p99: %s/%s on 1,000 events, %s/%s on %d events (p99 ratio %.2f)",
			s.P50, s.P99, l.P50, l.P99, large.Stats().Events+large.Stats().Skipped, float64(l.P99)/float64(s.P99))
	}
}
