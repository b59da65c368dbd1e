package eventstore_test

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/metropolis/csc/eventstore"
)

// TestNewStream: a command with NewStream on a stream the store does not hold is decided without
// reading it; on a stream that exists after all (a wrong hint), the engine reads it and decides
// again, with the result, the log and the metrics of a command without the hint.
func TestNewStream(t *testing.T) {
	type outcome struct {
		Result      eventstore.Result
		Err         string
		Values      []int // the counter's value after each event of the stream
		Revision    uint64
		StreamReads int64
		Retries     float64
	}
	run := func(t *testing.T, hint bool, prepare func(*counterEngine), decide func(counter, bool) ([]counterEvent, error), cmd eventstore.Command) outcome {
		store := &countingStore{Store: newStore(t)}
		reg := prometheus.NewRegistry()
		e := newEngine(t, store, eventstore.EngineOptions{Name: "counter", Registerer: reg, CacheSize: -1})
		if prepare != nil {
			prepare(e)
		}
		store.streamReads.Store(0)
		cmd.NewStream = hint
		var o outcome
		res, err := e.Execute(t.Context(), "counter-1", cmd, decide)
		o.Result = res
		if err != nil {
			o.Err = err.Error()
		}
		o.StreamReads = store.streamReads.Load()
		st, rev, _, err := e.Load(t.Context(), "counter-1")
		if err != nil {
			t.Fatal(err)
		}
		o.Values, o.Revision = []int{st.Value}, rev
		o.Retries = counterTotal(t, reg, "csc_engine_retries_total")
		return o
	}
	existing := func(e *counterEngine) { mustExecute(t, e, "counter-1", command(1, "add"), increment(5, 100)) }
	tests := []struct {
		name      string
		prepare   func(*counterEngine)
		decide    func(counter, bool) ([]counterEvent, error)
		cmd       eventstore.Command
		wantReads int64 // reads by the hinted command
	}{
		{"new stream", nil, increment(3, 100), command(2, "add"), 0},
		{"the stream exists", existing, increment(3, 100), command(2, "add"), 1},
		{"the stream exists and refuses", existing, increment(99, 100), command(2, "add"), 1},
		{"the command is recorded", existing, increment(3, 100), command(1, "add"), 1},
		{"the command is recorded with other input", existing, increment(3, 100), eventstore.Command{ID: id(1), Name: "add", Hash: "other"}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			with := run(t, true, tt.prepare, tt.decide, tt.cmd)
			without := run(t, false, tt.prepare, tt.decide, tt.cmd)
			if with.StreamReads != tt.wantReads {
				t.Errorf("the hinted command read the stream %d times, want %d", with.StreamReads, tt.wantReads)
			}
			with.StreamReads, without.StreamReads = 0, 0
			if diff := cmp.Diff(without, with); diff != "" {
				t.Errorf("with NewStream, the outcome differs from without (-without +with):\n%s", diff)
			}
		})
	}
}

// counterTotal returns the sum of the series of the counter vector name in reg.
func counterTotal(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var total float64
	for _, mf := range mfs {
		if mf.GetName() == name {
			for _, m := range mf.GetMetric() {
				total += m.GetCounter().GetValue()
			}
		}
	}
	return total
}
