package eventstore_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"slices"
	"strconv"
	"testing"

	"github.com/google/uuid"

	"github.com/metropolis/csc/eventstore"
)

// buildLog runs a few commands on two streams and returns $all:
//
//	0 a@0  1 b@0  2 a@1  3 a@2  4 a@3  5 b@1  6 b@2   (positions 1..7)
func buildLog(t *testing.T) []eventstore.RecordedEvent {
	t.Helper()
	store := newStore(t)
	e := newEngine(t, store, eventstore.EngineOptions{})
	mustExecute(t, e, "counter-a", command(1, "increment"), increment(1, 100))
	mustExecute(t, e, "counter-b", command(2, "increment"), increment(2, 100))
	mustExecute(t, e, "counter-a", command(3, "increment"), increment(3, 100))
	mustExecute(t, e, "counter-a", command(4, "reset"), emit(wasReset{}, incremented{By: 1}))
	mustExecute(t, e, "counter-b", command(5, "increment"), increment(4, 100))
	mustExecute(t, e, "counter-b", command(6, "increment"), increment(5, 100))
	events := readAll(t, store)
	if len(events) != 7 {
		t.Fatalf("log of %d events, want 7", len(events))
	}
	return events
}

func cloneLog(events []eventstore.RecordedEvent) []eventstore.RecordedEvent {
	out := slices.Clone(events)
	for i := range out {
		out[i].Data = bytes.Clone(out[i].Data)
		out[i].Metadata = bytes.Clone(out[i].Metadata)
	}
	return out
}

// rewriteMetadata changes an event's metadata, and recomputes its own hash when rehash is set (what a
// forger who knows the algorithm would do).
func rewriteMetadata(t *testing.T, ev *eventstore.RecordedEvent, rehash bool, change func(*eventstore.Metadata)) {
	t.Helper()
	md := metadataOf(t, *ev)
	change(&md)
	if rehash {
		h, err := eventstore.HashEvent(ev.Stream, ev.Revision, ev.Type, ev.Data, md)
		if err != nil {
			t.Fatal(err)
		}
		md.Hash = h
	}
	b, err := json.Marshal(md)
	if err != nil {
		t.Fatal(err)
	}
	ev.Metadata = b
}

func hashOf(t *testing.T, ev eventstore.RecordedEvent) string { return metadataOf(t, ev).Hash }

func TestVerifierFindsBrokenLinks(t *testing.T) {
	tests := []struct {
		name       string
		tamper     func(t *testing.T, log []eventstore.RecordedEvent) []eventstore.RecordedEvent
		at         int    // index of the first event that fails
		what       string // ChainError.What
		stream     string
		revision   uint64
		wantErrors int    // events that fail in all
		expected   string // ChainError.Expected when not "" ("=a@1" means the hash of a@1 in the original log)
		found      string
	}{
		{
			name: "changed data byte",
			tamper: func(t *testing.T, log []eventstore.RecordedEvent) []eventstore.RecordedEvent {
				log[2].Data = bytes.Replace(log[2].Data, []byte("3"), []byte("4"), 1)
				return log
			},
			at: 2, what: eventstore.BrokenHash, stream: "counter-a", revision: 1, wantErrors: 1, found: "=a@1",
		},
		{
			name: "changed metadata value",
			tamper: func(t *testing.T, log []eventstore.RecordedEvent) []eventstore.RecordedEvent {
				rewriteMetadata(t, &log[2], false, func(md *eventstore.Metadata) { md.Actor = "mallory" })
				return log
			},
			at: 2, what: eventstore.BrokenHash, stream: "counter-a", revision: 1, wantErrors: 1,
		},
		{
			name: "changed type",
			tamper: func(t *testing.T, log []eventstore.RecordedEvent) []eventstore.RecordedEvent {
				log[5].Type = "counter.reset"
				return log
			},
			at: 5, what: eventstore.BrokenHash, stream: "counter-b", revision: 1, wantErrors: 1,
		},
		{
			name: "unknown metadata field",
			tamper: func(t *testing.T, log []eventstore.RecordedEvent) []eventstore.RecordedEvent {
				log[2].Metadata = bytes.Replace(log[2].Metadata, []byte(`{`), []byte(`{"approvedBy":"mallory",`), 1)
				return log
			},
			at: 2, what: eventstore.BrokenMetadata, stream: "counter-a", revision: 1, wantErrors: 1,
		},
		{
			name: "metadata key in other case",
			tamper: func(t *testing.T, log []eventstore.RecordedEvent) []eventstore.RecordedEvent {
				log[2].Metadata = bytes.Replace(log[2].Metadata, []byte(`"actor"`), []byte(`"Actor"`), 1)
				return log
			},
			at: 2, what: eventstore.BrokenMetadata, stream: "counter-a", revision: 1, wantErrors: 1,
		},
		{
			name: "duplicate metadata key",
			tamper: func(t *testing.T, log []eventstore.RecordedEvent) []eventstore.RecordedEvent {
				log[2].Metadata = bytes.Replace(log[2].Metadata, []byte(`{`), []byte(`{"actor":"mallory",`), 1)
				return log
			},
			at: 2, what: eventstore.BrokenMetadata, stream: "counter-a", revision: 1, wantErrors: 1,
		},
		{
			name: "deleted event",
			tamper: func(t *testing.T, log []eventstore.RecordedEvent) []eventstore.RecordedEvent {
				return slices.Delete(log, 2, 3)
			},
			at: 2, what: eventstore.BrokenRevision, stream: "counter-a", revision: 2, wantErrors: 1, expected: "1", found: "2",
		},
		{
			name: "deleted first event of a stream",
			tamper: func(t *testing.T, log []eventstore.RecordedEvent) []eventstore.RecordedEvent {
				return slices.Delete(log, 0, 1)
			},
			at: 1, what: eventstore.BrokenRevision, stream: "counter-a", revision: 1, wantErrors: 1, expected: "0", found: "1",
		},
		{
			name: "swapped events",
			tamper: func(t *testing.T, log []eventstore.RecordedEvent) []eventstore.RecordedEvent {
				log[3], log[4] = log[4], log[3]
				return log
			},
			at: 3, what: eventstore.BrokenRevision, stream: "counter-a", revision: 3, wantErrors: 2, expected: "2", found: "3",
		},
		{
			name: "swapped events with positions renumbered",
			tamper: func(t *testing.T, log []eventstore.RecordedEvent) []eventstore.RecordedEvent {
				log[3], log[4] = log[4], log[3]
				log[3].Position, log[4].Position = log[4].Position, log[3].Position
				return log
			},
			at: 3, what: eventstore.BrokenRevision, stream: "counter-a", revision: 3, wantErrors: 2,
		},
		{
			name: "swapped contents under the same revisions and positions",
			tamper: func(t *testing.T, log []eventstore.RecordedEvent) []eventstore.RecordedEvent {
				a, b := log[3], log[4]
				log[3].ID, log[3].Type, log[3].Data, log[3].Metadata = b.ID, b.Type, b.Data, b.Metadata
				log[4].ID, log[4].Type, log[4].Data, log[4].Metadata = a.ID, a.Type, a.Data, a.Metadata
				return log
			},
			at: 3, what: eventstore.BrokenPrevHash, stream: "counter-a", revision: 2, wantErrors: 2, expected: "=a@1", found: "=a@2",
		},
		{
			name: "inserted forged event with its own hash recomputed",
			tamper: func(t *testing.T, log []eventstore.RecordedEvent) []eventstore.RecordedEvent {
				forged := log[2]
				forged.ID = uuid.NewSHA1(uuid.NameSpaceOID, []byte("forged"))
				forged.Revision = 2
				forged.Position = pos(4)
				forged.Data = []byte(`{"by":100}`)
				rewriteMetadata(t, &forged, true, func(md *eventstore.Metadata) { md.PrevHash = hashOf(t, log[2]) })
				for i := 3; i < len(log); i++ {
					log[i].Position = pos(log[i].Position.Commit + 1)
					if log[i].Stream == "counter-a" {
						log[i].Revision++
					}
				}
				return slices.Insert(log, 3, forged)
			},
			// The event after the forgery does not chain onto it; the events after that moved revision.
			at: 4, what: eventstore.BrokenPrevHash, stream: "counter-a", revision: 3, wantErrors: 2, found: "=a@1",
		},
		{
			name: "rewritten prevHash with the own hash recomputed",
			tamper: func(t *testing.T, log []eventstore.RecordedEvent) []eventstore.RecordedEvent {
				rewriteMetadata(t, &log[2], true, func(md *eventstore.Metadata) { md.PrevHash = "" })
				return log
			},
			at: 2, what: eventstore.BrokenPrevHash, stream: "counter-a", revision: 1, wantErrors: 2, expected: "=a@0", found: `""`,
		},
		{
			name: "duplicate event ID",
			tamper: func(t *testing.T, log []eventstore.RecordedEvent) []eventstore.RecordedEvent {
				log[5].ID = log[1].ID
				return log
			},
			at: 5, what: eventstore.BrokenID, stream: "counter-b", revision: 1, wantErrors: 1,
		},
		{
			name: "non-increasing position",
			tamper: func(t *testing.T, log []eventstore.RecordedEvent) []eventstore.RecordedEvent {
				log[4].Position = log[3].Position
				return log
			},
			at: 4, what: eventstore.BrokenPosition, stream: "counter-a", revision: 3, wantErrors: 1, expected: "after 4", found: "4",
		},
		{
			name: "event at the zero position",
			tamper: func(t *testing.T, log []eventstore.RecordedEvent) []eventstore.RecordedEvent {
				log[0].Position = eventstore.Position{}
				return log
			},
			at: 0, what: eventstore.BrokenPosition, stream: "counter-a", revision: 0, wantErrors: 1,
		},
	}
	original := buildLog(t)
	hashes := map[string]string{}
	for _, ev := range original {
		hashes["="+ev.Stream[len("counter-"):]+"@"+strconv.FormatUint(ev.Revision, 10)] = hashOf(t, ev)
	}
	resolve := func(s string) string {
		if h, ok := hashes[s]; ok {
			return h
		}
		return s
	}

	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			log := tt.tamper(t, cloneLog(original))
			v := eventstore.NewVerifier()
			var first error
			firstAt := -1
			for i, ev := range log {
				if err := v.Check(ev); err != nil && first == nil {
					first, firstAt = err, i
				}
			}
			if firstAt != tt.at {
				t.Fatalf("first error at event %d (%v), want at event %d", firstAt, first, tt.at)
			}
			var ce *eventstore.ChainError
			if !errors.As(first, &ce) || !errors.Is(first, eventstore.ErrBrokenChain) {
				t.Fatalf("error %v is not a *ChainError", first)
			}
			ev := log[tt.at]
			if ce.What != tt.what || ce.Stream != tt.stream || ce.Revision != tt.revision || ce.Position != ev.Position {
				t.Fatalf("ChainError %+v, want %s at %s@%d position %s", ce, tt.what, tt.stream, tt.revision, ev.Position)
			}
			if tt.expected != "" && ce.Expected != resolve(tt.expected) {
				t.Errorf("Expected %q, want %q", ce.Expected, resolve(tt.expected))
			}
			if tt.found != "" && ce.Found != resolve(tt.found) {
				t.Errorf("Found %q, want %q", ce.Found, resolve(tt.found))
			}
			if sum := v.Summary(); sum.Errors != tt.wantErrors || sum.Events != len(log) {
				t.Errorf("Summary %+v, want %d errors in %d events", sum, tt.wantErrors, len(log))
			}
		})
	}
}

// headsDigest re-implements the Digest as Summary's doc comment specifies it.
func headsDigest(heads map[string]eventstore.RecordedEvent, hash func(eventstore.RecordedEvent) string) string {
	field := func(b []byte) []byte { return append(binary.BigEndian.AppendUint64(nil, uint64(len(b))), b...) }
	buf := field([]byte("csc-heads/v1"))
	names := make([]string, 0, len(heads))
	for s := range heads {
		names = append(names, s)
	}
	slices.Sort(names)
	for _, s := range names {
		buf = append(buf, field([]byte(s))...)
		buf = append(buf, field([]byte(strconv.FormatUint(heads[s].Revision, 10)))...)
		buf = append(buf, field([]byte(hash(heads[s])))...)
	}
	sum := sha256.Sum256(buf)
	return hex.EncodeToString(sum[:])
}

func TestVerifierDigest(t *testing.T) {
	original := buildLog(t)
	base := verifyAll(t, original)
	heads := map[string]eventstore.RecordedEvent{}
	for _, ev := range original {
		heads[ev.Stream] = ev
	}
	if want := headsDigest(heads, func(ev eventstore.RecordedEvent) string { return hashOf(t, ev) }); base.Digest != want {
		t.Fatalf("Digest %s, want %s as specified", base.Digest, want)
	}
	if base.Streams != 2 || base.Events != 7 || base.Errors != 0 {
		t.Fatalf("Summary %+v, want 2 streams, 7 events, no errors", base)
	}

	tests := []struct {
		name string
		log  func(t *testing.T) []eventstore.RecordedEvent
		same bool
	}{
		{"the same log", func(t *testing.T) []eventstore.RecordedEvent { return cloneLog(original) }, true},
		{"the same commands on another store", buildLog, true},
		{
			// The chain cannot show a missing tail; the digest can.
			"last event of a stream deleted",
			func(t *testing.T) []eventstore.RecordedEvent { return cloneLog(original)[:6] },
			false,
		},
		{
			"forged event chained onto the end of a stream",
			func(t *testing.T) []eventstore.RecordedEvent {
				log := cloneLog(original)
				forged := log[4] // a@3
				forged.ID = uuid.NewSHA1(uuid.NameSpaceOID, []byte("forged"))
				forged.Revision, forged.Position = 4, pos(8)
				rewriteMetadata(t, &forged, true, func(md *eventstore.Metadata) { md.PrevHash = hashOf(t, log[4]) })
				return append(log, forged)
			},
			false,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sum := verifyAll(t, tt.log(t))
			if (sum.Digest == base.Digest) != tt.same {
				t.Fatalf("Digest %s vs original %s: want same=%v", sum.Digest, base.Digest, tt.same)
			}
		})
	}
}

func TestVerifierEmptyLog(t *testing.T) {
	sum := eventstore.NewVerifier().Summary()
	want := headsDigest(nil, nil)
	if sum.Streams != 0 || sum.Events != 0 || sum.Digest != want {
		t.Fatalf("Summary of nothing %+v, want 0 streams, 0 events, digest %s", sum, want)
	}
}

// BenchmarkVerifier measures Check per event on a log of 100 streams (events made in memory, so the
// figure is the verifier's own cost, not a store's).
func BenchmarkVerifier(b *testing.B) {
	const streams = 100
	events := make([]eventstore.RecordedEvent, 0, 10_000)
	prev := map[string]string{}
	for i := range cap(events) {
		stream := "counter-" + strconv.Itoa(i%streams)
		rev := uint64(i / streams)
		md := eventstore.Metadata{Actor: "user-1", Role: "member", City: "berlin", CommandID: uuid.NewString(),
			CommandHash: "h", SchemaVersion: 2, PrevHash: prev[stream]}
		data := []byte(`{"by":1}`)
		h, err := eventstore.HashEvent(stream, rev, "counter.incremented", data, md)
		if err != nil {
			b.Fatal(err)
		}
		md.Hash, prev[stream] = h, h
		mdJSON, err := json.Marshal(md)
		if err != nil {
			b.Fatal(err)
		}
		events = append(events, eventstore.RecordedEvent{ID: uuid.New(), Stream: stream, Revision: rev,
			Position: pos(uint64(i + 1)), Type: "counter.incremented", Data: data, Metadata: mdJSON})
	}
	b.ReportAllocs()
	v := eventstore.NewVerifier()
	i := 0
	for b.Loop() {
		if i == len(events) {
			v, i = eventstore.NewVerifier(), 0
		}
		if err := v.Check(events[i]); err != nil {
			b.Fatal(err)
		}
		i++
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}

// TestVerifierDensePositions removes a@3, the last event of its stream, from the middle of $all: the
// hash chains still hold, so only a log whose positions count its events (DensePositions) shows it.
func TestVerifierDensePositions(t *testing.T) {
	log := buildLog(t)
	removed := append(cloneLog(log[:4]), cloneLog(log[5:])...)
	for _, tc := range []struct {
		name      string
		dense     bool
		events    []eventstore.RecordedEvent
		wantError bool
	}{
		{"whole log, dense", true, log, false},
		{"a@3 removed, not dense", false, removed, false},
		{"a@3 removed, dense", true, removed, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := eventstore.NewVerifier()
			if tc.dense {
				v.DensePositions()
			}
			var errs []error
			for _, ev := range tc.events {
				if err := v.Check(ev); err != nil {
					errs = append(errs, err)
				}
			}
			if !tc.wantError {
				if len(errs) > 0 {
					t.Fatalf("want no broken link, got %v", errs)
				}
				return
			}
			var ce *eventstore.ChainError
			if len(errs) != 1 || !errors.As(errs[0], &ce) || ce.What != eventstore.BrokenGap || ce.Position != log[5].Position {
				t.Fatalf("want one gap at %v (b@1), got %v", log[5].Position, errs)
			}
		})
	}
}
