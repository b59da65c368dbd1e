package sqlite

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/metropolis/csc/eventstore"
)

// Run with: go test -run '^$' -bench . -benchtime 20000x ./eventstore/sqlite/ (add -tags csc_mattn for
// the cgo driver). The appends/s, fsync/s and rows/s figures are the ones to compare.

func BenchmarkFsync(b *testing.B) {
	rate, err := MeasureFsync(b.TempDir(), max(b.N, 1))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(rate, "fsync/s")
}

func BenchmarkAppend1Writer(b *testing.B)   { benchAppends(b, 1, false) }
func BenchmarkAppend64Writers(b *testing.B) { benchAppends(b, 64, false) }

// BenchmarkAppendCeiling is BenchmarkAppend64Writers with the writer's fsync skipped (Options.noFsync):
// the same statements, transactions and WAL writes, none of it durable. It is the most any group
// commit can reach with this schema on this CPU, whatever the disk; compare it with BenchmarkFsync of
// the same run (BENCHMARKS.md, "Sixth pass").
func BenchmarkAppendCeiling(b *testing.B) { benchAppends(b, 64, true) }

// benchAppends measures one-event appends by writers concurrent goroutines, b.N in all, durable
// unless noFsync. Beside appends/s it reports the mean appends per transaction, COMMIT time per
// transaction, and bytes written per append.
func benchAppends(b *testing.B, writers int, noFsync bool) {
	for _, drv := range Drivers() {
		b.Run(drv, func(b *testing.B) {
			reg := prometheus.NewRegistry()
			s := openTemp(b, Options{Driver: drv, Registerer: reg, noFsync: noFsync})
			n := max(b.N, writers)
			b.ResetTimer()
			w0 := ioBytes()
			start := time.Now()
			if err := appendConcurrently(context.Background(), s, writers, n); err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(float64(ioBytes()-w0)/float64(n), "B/append")
			b.ReportMetric(float64(n)/time.Since(start).Seconds(), "appends/s")
			txs, appends := histogram(b, reg, "csc_eventstore_sqlite_batch_appends")
			b.ReportMetric(appends/float64(txs), "appends/tx")
			_, commitSeconds := histogram(b, reg, "csc_eventstore_sqlite_commit_duration_seconds")
			b.ReportMetric(commitSeconds*1000/float64(txs), "commit-ms/tx")
		})
	}
}

// BenchmarkScan reads a 200,000-event log: raw rows (MeasureScan) and decoded events (ReadAll).
func BenchmarkScan(b *testing.B) {
	const size = 200_000
	path := filepath.Join(b.TempDir(), "events.db")
	s, err := Open(path, Options{})
	if err != nil {
		b.Fatal(err)
	}
	for i := 0; i < size; i += 1000 {
		evs := make([]eventstore.EventData, 1000)
		for j := range evs {
			evs[j] = benchEvent(i + j)
		}
		if _, err := s.Append(context.Background(), fmt.Sprintf("scan-%d", i), eventstore.NoStream(), evs); err != nil {
			b.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		b.Fatal(err)
	}
	if info, err := os.Stat(path); err == nil {
		b.Logf("log of %d events: %.1f MiB", size, float64(info.Size())/(1<<20))
	}
	for _, drv := range Drivers() {
		b.Run("raw/"+drv, func(b *testing.B) {
			var rate float64
			for b.Loop() {
				if rate, err = MeasureScan(context.Background(), path, drv); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(rate, "rows/s")
		})
		b.Run("ReadAll/"+drv, func(b *testing.B) {
			s := openAt(b, path, Options{Driver: drv, ReadOnly: true})
			var n int
			start := time.Now()
			for b.Loop() {
				n = 0
				for _, err := range s.ReadAll(context.Background(), eventstore.Position{}) {
					if err != nil {
						b.Fatal(err)
					}
					n++
				}
			}
			if n != size {
				b.Fatalf("ReadAll: want %d events, got %d", size, n)
			}
			b.ReportMetric(float64(n*b.N)/time.Since(start).Seconds(), "events/s")
		})
	}
}

// TestMeasure runs the Measure functions at a small size: they work and refuse what they cannot do.
func TestMeasure(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	if rate, err := MeasureFsync(dir, 5); err != nil || rate <= 0 {
		t.Fatalf("MeasureFsync: want a positive rate, got %v, %v", rate, err)
	}
	for _, drv := range Drivers() {
		if rate, err := MeasureAppends(ctx, dir, drv, 4, 40); err != nil || rate <= 0 {
			t.Fatalf("MeasureAppends(%s): want a positive rate, got %v, %v", drv, rate, err)
		}
	}
	if _, err := MeasureAppends(ctx, dir, DriverModernc, 8, 4); err == nil {
		t.Fatal("MeasureAppends with more writers than appends: want an error")
	}
	if left, _ := os.ReadDir(dir); len(left) != 0 {
		t.Fatalf("Measure functions: want their files removed, %d left in %s", len(left), dir)
	}

	path := tempPath(t)
	s := openAt(t, path, Options{})
	mustAppend(t, s, "s", eventstore.NoStream(), []eventstore.EventData{benchEvent(1), benchEvent(2)})
	if rate, err := MeasureScan(ctx, path, DriverModernc); err != nil || rate <= 0 {
		t.Fatalf("MeasureScan: want a positive rate, got %v, %v", rate, err)
	}
	garbage := filepath.Join(dir, "garbage.db")
	if err := os.WriteFile(garbage, []byte(uuid.NewString()+uuid.NewString()+uuid.NewString()), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := MeasureScan(ctx, garbage, DriverModernc); err == nil {
		t.Fatal("MeasureScan of a garbage file: want an error")
	} else {
		mentions(t, err, garbage)
	}
}

// ioBytes is the number of bytes the process has written so far (wchar of /proc/self/io: WAL frames
// and checkpoints), or 0 where that file does not exist.
func ioBytes() int64 {
	raw, _ := os.ReadFile("/proc/self/io")
	for _, l := range strings.Split(string(raw), "\n") {
		if v, ok := strings.CutPrefix(l, "wchar: "); ok {
			n, _ := strconv.ParseInt(v, 10, 64)
			return n
		}
	}
	return 0
}
