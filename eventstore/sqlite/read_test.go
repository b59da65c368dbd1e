package sqlite

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"
	"pgregory.net/rapid"

	"github.com/metropolis/csc/eventstore"
)

// TestParseRecorded: the recorded column parses exactly as time.Parse(time.RFC3339Nano) would (in
// UTC), whether it has the layout the store writes (read by hand) or another RFC 3339 form.
func TestParseRecorded(t *testing.T) {
	cases := []string{
		"2026-03-14T15:09:26.535897932Z",
		"2024-02-29T00:00:00.000000000Z", // leap day
		"2000-02-29T23:59:59.999999999Z", // leap day of a century divisible by 400
		"2026-12-31T23:59:59.000000001Z",
		"0001-01-01T00:00:00.000000000Z",
		"2026-01-31T12:00:00.000000000Z",
		"2026-03-14T15:09:26Z",                // no fraction
		"2026-03-14T15:09:26.5Z",              // a short fraction
		"2026-03-14T17:09:26.535897932+02:00", // an offset: the time is the same instant in UTC
		"2026-03-14t15:09:26.535897932z",      // lower-case T and Z
		"2023-02-29T00:00:00.000000000Z",      // not a leap year
		"1900-02-29T00:00:00.000000000Z",      // a century not divisible by 400
		"2026-04-31T00:00:00.000000000Z",      // April has 30 days
		"2026-13-01T00:00:00.000000000Z",
		"2026-00-01T00:00:00.000000000Z",
		"2026-01-00T00:00:00.000000000Z",
		"2026-01-01T24:00:00.000000000Z",
		"2026-01-01T23:60:00.000000000Z",
		"2026-01-01T23:59:60.000000000Z",
		"2026-01-01T23:59:59.00000000xZ",
		"2026-01-01T23:59:59.000000000+",
		"2026-01-01 23:59:59.000000000Z",
		"+026-01-01T23:59:59.000000000Z",
		"yesterday",
		"",
	}
	for _, s := range cases {
		t.Run(s, func(t *testing.T) { sameAsTimeParse(t, s) })
	}
}

// TestParseRecordedProperty: every time the store can write reads back as itself, and any string of
// the store's layout with arbitrary digits parses as time.Parse decides.
func TestParseRecordedProperty(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		at := time.Unix(rapid.Int64Range(-62135596800, 253402300799).Draw(t, "seconds"), rapid.Int64Range(0, 999999999).Draw(t, "nanos")).UTC()
		got, err := parseRecorded(at.Format(recordedLayout))
		if err != nil || !got.Equal(at) || got.Location() != time.UTC {
			t.Fatalf("parseRecorded(%s) = %v, %v; want %v", at.Format(recordedLayout), got, err, at)
		}
		digits := []byte(recordedLayout)
		for i, c := range digits {
			if c >= '0' && c <= '9' {
				digits[i] = byte('0' + rapid.IntRange(0, 9).Draw(t, fmt.Sprint("digit ", i)))
			}
		}
		sameAsTimeParse(t, string(digits))
	})
}

func sameAsTimeParse(t interface{ Fatalf(string, ...any) }, s string) {
	got, err := parseRecorded(s)
	want, wantErr := time.Parse(time.RFC3339Nano, s)
	switch {
	case (err != nil) != (wantErr != nil):
		t.Fatalf("parseRecorded(%q): error %v, time.Parse error %v", s, err, wantErr)
	case err == nil && (!got.Equal(want) || got.Location() != time.UTC):
		t.Fatalf("parseRecorded(%q) = %v, want %v in UTC", s, got, want.UTC())
	}
}

// TestReadPayloadsAreTheCallers: the Data and Metadata of every event read are the caller's own. The
// events share buffers (a batch's payloads are copied into arena chunks), so this checks that
// appending to one event's payload or writing into it changes no other event, in the same read or in
// a later one, over payloads that span several chunks, one larger than a chunk's share, and NULLs.
func TestReadPayloadsAreTheCallers(t *testing.T) {
	s := openTemp(t, Options{})
	var want []eventstore.EventData
	for i := range 40 {
		size := 100 + i*997%9000
		if i == 7 {
			size = arenaChunk // more than a quarter of a chunk: a buffer of its own
		}
		e := eventstore.EventData{ID: uuid.New(), Type: "Sized",
			Data:     fmt.Appendf(nil, `{"i":%d,"pad":%q}`, i, strings.Repeat("x", size)),
			Metadata: fmt.Appendf(nil, `{"schemaVersion":1,"n":%d}`, i)}
		if i%5 == 4 {
			e.Metadata = nil // stored as NULL
		}
		want = append(want, e)
	}
	mustAppend(t, s, "sized", eventstore.NoStream(), want[:20])
	mustAppend(t, s, "sized", eventstore.Exact(19), want[20:])

	reads := []struct {
		name string
		read func() []eventstore.RecordedEvent
	}{
		{"ReadAll", func() []eventstore.RecordedEvent { return readAll(t, s) }},
		{"ReadStream", func() []eventstore.RecordedEvent {
			var out []eventstore.RecordedEvent
			for e, err := range s.ReadStream(context.Background(), "sized", 0) {
				if err != nil {
					t.Fatalf("ReadStream: %v", err)
				}
				out = append(out, e)
			}
			return out
		}},
	}
	for _, r := range reads {
		t.Run(r.name, func(t *testing.T) {
			// same checks event i of a read against what was appended: its data, or its metadata.
			same := func(when string, e eventstore.RecordedEvent, i int, data bool) {
				t.Helper()
				got, w := e.Metadata, want[i].Metadata
				if data {
					got, w = e.Data, want[i].Data
				}
				if !bytes.Equal(got, w) || (got == nil) != (w == nil) {
					t.Fatalf("%s: event %d has %.60q, want %.60q", when, i, got, w)
				}
			}
			check := func(when string, got []eventstore.RecordedEvent, from int) {
				t.Helper()
				if len(got) != len(want) {
					t.Fatalf("%s: read %d events, want %d", when, len(got), len(want))
				}
				for i := from; i < len(got); i++ {
					same(when, got[i], i, true)
					same(when, got[i], i, false)
				}
			}
			got := r.read()
			check("first read", got, 0)
			for i := range got {
				got[i].Data = append(got[i].Data, "appended"...)
				same(fmt.Sprintf("after appending to event %d's data", i), got[i], i, false)
				got[i].Metadata = append(got[i].Metadata, "appended"...)
				got[i].Data[0], got[i].Metadata[0] = '!', '!'
				check(fmt.Sprintf("after appending to and writing into event %d", i), got, i+1)
			}
			check("a later read", r.read(), 0)
		})
	}
}

// TestReadRecordedInAnotherForm: a recorded time in another RFC 3339 form than the one the store
// writes (a file written by hand or by another tool) reads as the same instant, in UTC.
func TestReadRecordedInAnotherForm(t *testing.T) {
	path := tempPath(t)
	s := openAt(t, path, Options{})
	mustAppend(t, s, "s", eventstore.NoStream(), events("E", 2))
	if _, err := rawDB(t, path, DriverModernc).Exec("UPDATE events SET recorded = '2026-03-14T17:09:26.5+02:00' WHERE position = 2"); err != nil {
		t.Fatal(err)
	}
	got := readAll(t, s)
	want := time.Date(2026, 3, 14, 15, 9, 26, 500000000, time.UTC)
	if len(got) != 2 || !got[1].Recorded.Equal(want) || got[1].Recorded.Location() != time.UTC {
		t.Fatalf("ReadAll: want the second event recorded at %v (UTC), got %+v", want, got)
	}
}

// TestReadAllViews: ReadAllViews and SubscribeAllViews yield exactly what ReadAll yields, for every
// driver, across more than one query batch, and each view's capacity ends with it, so an append to
// one payload cannot write into the bytes of another.
func TestReadAllViews(t *testing.T) {
	for _, drv := range Drivers() {
		t.Run(drv, func(t *testing.T) {
			s := openTemp(t, Options{Driver: drv})
			n := readBatch + 7
			evs := make([]eventstore.EventData, n)
			for i := range evs {
				evs[i] = eventstore.EventData{ID: uuid.New(), Type: "Viewed", Data: fmt.Appendf(nil, `{"i":%d}`, i), Metadata: fmt.Appendf(nil, `{"m":%d}`, i)}
			}
			evs[3].Data, evs[3].Metadata = nil, nil // an empty payload
			mustAppend(t, s, "viewed", eventstore.NoStream(), evs)
			want := readAll(t, s)

			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			for name, seq := range map[string]func() []eventstore.RecordedEvent{
				"ReadAllViews": func() []eventstore.RecordedEvent {
					var got []eventstore.RecordedEvent
					for e, err := range s.ReadAllViews(ctx, eventstore.Position{}) {
						if err != nil {
							t.Fatalf("ReadAllViews: error after %d events: %v", len(got), err)
						}
						got = append(got, e)
					}
					return got
				},
				"SubscribeAllViews": func() []eventstore.RecordedEvent {
					var got []eventstore.RecordedEvent
					for e, err := range s.SubscribeAllViews(ctx, eventstore.Position{}) {
						if err != nil {
							t.Fatalf("SubscribeAllViews: error after %d events: %v", len(got), err)
						}
						if got = append(got, e); len(got) == len(want) {
							break
						}
					}
					return got
				},
			} {
				got := seq()
				if len(got) != len(want) {
					t.Fatalf("%s: want %d events, got %d", name, len(want), len(got))
				}
				for i := range want {
					if diff := cmp.Diff(want[i], got[i]); diff != "" {
						t.Fatalf("%s: event %d differs from ReadAll's (-ReadAll +views):\n%s", name, i, diff)
					}
					for _, b := range [][]byte{got[i].Data, got[i].Metadata} {
						if cap(b) != len(b) {
							t.Fatalf("%s: event %d: a view of %d bytes has capacity %d", name, i, len(b), cap(b))
						}
					}
				}
			}
		})
	}
}
