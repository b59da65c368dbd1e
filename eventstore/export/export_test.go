package export_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"

	"github.com/metropolis/csc/eventstore"
	"github.com/metropolis/csc/eventstore/export"
	"github.com/metropolis/csc/eventstore/sqlite"
)

// The test aggregate: a note that gets lines. eventstore does not import the domain, so the log of
// these tests is written by the real command engine with this small event family; the hash chains
// are the engine's, as in production.

type noteEvent struct {
	Text string `json:"text"`
}

type noteCodec struct{}

func (noteCodec) Encode(e noteEvent) (string, []byte, int, error) {
	b, err := json.Marshal(e)
	return "note.line", b, 1, err
}

func (noteCodec) Decode(typ string, _ int, data []byte) (noteEvent, error) {
	if typ != "note.line" {
		return noteEvent{}, fmt.Errorf("decode %s: unknown type", typ)
	}
	var e noteEvent
	err := json.Unmarshal(data, &e)
	return e, err
}

func evolveNote(n int, _ noteEvent) int { return n + 1 }

// clock is a fake clock for the store's recorded times: each reading is a minute after the previous.
type clock struct{ t time.Time }

func (c *clock) now() time.Time {
	c.t = c.t.Add(time.Minute)
	return c.t
}

func start() time.Time { return time.Date(2019, 3, 1, 9, 0, 0, 0, time.UTC) }

// openStore opens a fresh SQLite store in the test's temporary folder, recording times from clk.
func openStore(t *testing.T, clk *clock) *sqlite.Store {
	t.Helper()
	st, err := sqlite.Open(filepath.Join(t.TempDir(), "events.db"), sqlite.Options{Now: clk.now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// writeNotes appends, through the engine, one line per command to the streams in order (a stream
// named twice gets two lines). The texts include characters that JSON escapes.
func writeNotes(t *testing.T, st eventstore.Store, streams ...string) {
	t.Helper()
	e, err := eventstore.NewEngine[int, noteEvent](st, noteCodec{}, 0, evolveNote, eventstore.EngineOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for i, s := range streams {
		text := fmt.Sprintf("line %d of %s: <tag> & \"quotes\" \u00e9\u2028", i, s)
		_, err := e.Execute(context.Background(), s, eventstore.Command{
			ID: uuid.NewSHA1(uuid.NameSpaceOID, fmt.Appendf(nil, "cmd-%d", i)), Name: "write",
			Actor: "member-berlin", Role: "member", City: "berlin",
		}, func(int, bool) ([]noteEvent, error) { return []noteEvent{{Text: text}}, nil })
		if err != nil {
			t.Fatal(err)
		}
	}
}

func collect(t *testing.T, seq iter.Seq2[eventstore.RecordedEvent, error]) []eventstore.RecordedEvent {
	t.Helper()
	var out []eventstore.RecordedEvent
	for ev, err := range seq {
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, ev)
	}
	return out
}

func exportAll(t *testing.T, format export.Format, events []eventstore.RecordedEvent) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := export.NewWriter(&buf, format)
	if err != nil {
		t.Fatal(err)
	}
	for _, ev := range events {
		if err := w.Write(ev); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if w.Events() != len(events) {
		t.Fatalf("Events() = %d, want %d", w.Events(), len(events))
	}
	return buf.Bytes()
}

func verify(seq iter.Seq2[eventstore.RecordedEvent, error]) (eventstore.VerifySummary, []error) {
	v := eventstore.NewVerifier()
	var errs []error
	for ev, err := range seq {
		if err != nil {
			return v.Summary(), append(errs, err)
		}
		if err := v.Check(ev); err != nil {
			errs = append(errs, err)
		}
	}
	return v.Summary(), errs
}

func TestJSONLRoundTripVerifies(t *testing.T) {
	st := openStore(t, &clock{t: start()})
	writeNotes(t, st, "note-a", "note-b", "note-a", "note-c", "note-b", "note-a")
	ctx := context.Background()
	live := collect(t, st.ReadAll(ctx, eventstore.Position{}))

	file := exportAll(t, export.JSONL, live)
	if n := bytes.Count(file, []byte("\n")); n != len(live) {
		t.Fatalf("export has %d lines, want %d", n, len(live))
	}
	back := collect(t, export.ReadJSONL(bytes.NewReader(file)))
	if diff := cmp.Diff(live, back); diff != "" {
		t.Fatalf("events read back differ (-store +export):\n%s", diff)
	}

	want, errs := verify(st.ReadAll(ctx, eventstore.Position{}))
	if len(errs) > 0 {
		t.Fatalf("the store does not verify: %v", errs)
	}
	got, errs := verify(export.ReadJSONL(bytes.NewReader(file)))
	if len(errs) > 0 {
		t.Fatalf("the export does not verify: %v", errs)
	}
	if got != want || got.Events != 6 || got.Streams != 3 {
		t.Fatalf("export summary %+v, store summary %+v (want 3 streams, 6 events)", got, want)
	}

	// Every line has the stable columns, in order, and data and metadata embedded as JSON.
	first, _, _ := bytes.Cut(file, []byte("\n"))
	dec := json.NewDecoder(bytes.NewReader(first))
	dec.Token()
	var keys []string
	for dec.More() {
		tok, _ := dec.Token()
		keys = append(keys, tok.(string))
		var skip json.RawMessage
		dec.Decode(&skip)
	}
	if diff := cmp.Diff(export.Columns(), keys); diff != "" {
		t.Fatalf("keys of a line (-want +got):\n%s", diff)
	}
}

// TestPayloadsKeepTheirBytes exports payloads that JSON would reformat, or that are not JSON at all,
// and checks that reading back gives the stored bytes (the hash covers them).
func TestPayloadsKeepTheirBytes(t *testing.T) {
	md := []byte(`{"actor":"a","schemaVersion":1,"prevHash":"","hash":"h"}`)
	tests := []struct {
		name       string
		data, meta []byte
		base64     bool // the data goes to dataBase64
	}{
		{"compact JSON", []byte(`{"text":"hi"}`), md, false},
		{"inner white space and unescaped HTML", []byte(`{ "text" : "<b>&</b>" ,"n":[1, 2] }`), md, false},
		{"unicode line separators", []byte("{\"text\":\"\u2028\u2029\"}"), md, false},
		{"JSON null", []byte(`null`), md, false},
		{"a newline in white space", []byte("{\"a\":1,\n\"b\":2}"), md, true},
		{"leading white space", []byte(` {"a":1}`), md, true},
		{"trailing newline", []byte("{\"a\":1}\n"), md, true},
		{"empty", nil, md, true},
		{"not JSON", []byte(`{"a":`), md, true},
		{"not UTF-8", []byte{'"', 0xff, 0xfe, '"'}, md, true},
		{"metadata with white space", []byte(`{}`), []byte(`{ "actor": "a",  "hash":"h" }`), false},
		{"metadata not JSON", []byte(`{}`), []byte(`oops`), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev := eventstore.RecordedEvent{
				ID: uuid.New(), Stream: "s-1", Revision: 3, Position: eventstore.Position{Commit: 9, Prepare: 7},
				Type: "t", Data: tt.data, Metadata: tt.meta, Recorded: start(),
			}
			file := exportAll(t, export.JSONL, []eventstore.RecordedEvent{ev})
			if got := bytes.Contains(file, []byte(`"dataBase64":`)); got != tt.base64 {
				t.Fatalf("dataBase64 used: %v, want %v in %s", got, tt.base64, file)
			}
			back := collect(t, export.ReadJSONL(bytes.NewReader(file)))
			if len(back) != 1 {
				t.Fatalf("read %d events, want 1", len(back))
			}
			if diff := cmp.Diff(ev, back[0]); diff != "" {
				t.Fatalf("read back (-want +got):\n%s\nline: %s", diff, file)
			}
		})
	}
}

func TestCSV(t *testing.T) {
	st := openStore(t, &clock{t: start()})
	writeNotes(t, st, "note-a", "note-b", "note-a")
	events := collect(t, st.ReadAll(context.Background(), eventstore.Position{}))

	records, err := csv.NewReader(bytes.NewReader(exportAll(t, export.CSV, events))).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(records) != 1+len(events) {
		t.Fatalf("%d records, want a header and %d events", len(records), len(events))
	}
	if diff := cmp.Diff(export.Columns(), records[0]); diff != "" {
		t.Fatalf("header (-want +got):\n%s", diff)
	}
	for i, ev := range events {
		var md eventstore.Metadata
		if err := json.Unmarshal(ev.Metadata, &md); err != nil {
			t.Fatal(err)
		}
		want := []string{ev.Position.String(), ev.Stream, fmt.Sprint(ev.Revision), ev.ID.String(), ev.Type,
			ev.Recorded.Format(time.RFC3339Nano), "member-berlin", "member", "berlin", md.CommandID, md.Hash, md.PrevHash,
			string(ev.Data), string(ev.Metadata)}
		if diff := cmp.Diff(want, records[i+1]); diff != "" {
			t.Fatalf("row %d (-want +got):\n%s", i+1, diff)
		}
	}

	// An empty export is its header row.
	empty := exportAll(t, export.CSV, nil)
	if got, want := string(empty), strings.Join(export.Columns(), ",")+"\n"; got != want {
		t.Fatalf("empty CSV export = %q, want %q", got, want)
	}
}

func TestFilter(t *testing.T) {
	clk := &clock{t: start()}
	st := openStore(t, clk)
	// One event per command, each committed at a later time: positions 1..6.
	writeNotes(t, st, "note-a", "other-b", "note-a", "note-c", "other-b", "note-a")
	log := collect(t, st.ReadAll(context.Background(), eventstore.Position{}))
	at := func(pos int) time.Time {
		if pos == 0 {
			return log[0].Recorded.Add(-time.Nanosecond)
		}
		return log[pos-1].Recorded
	}
	tests := []struct {
		name   string
		filter export.Filter
		want   []uint64 // positions
	}{
		{"everything", export.Filter{}, []uint64{1, 2, 3, 4, 5, 6}},
		{"after", export.Filter{After: eventstore.Position{Commit: 4, Prepare: 4}}, []uint64{5, 6}},
		{"after the end", export.Filter{After: eventstore.Position{Commit: 6, Prepare: 6}}, nil},
		{"until a commit time (inclusive)", export.Filter{Until: at(3)}, []uint64{1, 2, 3}},
		{"until between commits", export.Filter{Until: at(3).Add(30 * time.Second)}, []uint64{1, 2, 3}},
		{"until before the first", export.Filter{Until: at(0)}, nil},
		{"stream prefix", export.Filter{StreamPrefix: "note-"}, []uint64{1, 3, 4, 6}},
		{"all three", export.Filter{After: eventstore.Position{Commit: 1, Prepare: 1}, Until: at(5), StreamPrefix: "other-"}, []uint64{2, 5}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []uint64
			for _, ev := range collect(t, tt.filter.Apply(st.ReadAll(context.Background(), tt.filter.After))) {
				got = append(got, ev.Position.Commit)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Fatalf("positions (-want +got):\n%s", diff)
			}
		})
	}
}

// TestUntilUsesTheOriginalRecordedTime: an event copied from another store keeps its original time in
// its metadata; the recorded column and Until use it.
func TestUntilUsesTheOriginalRecordedTime(t *testing.T) {
	original := start().Add(-48 * time.Hour)
	md, _ := json.Marshal(eventstore.Metadata{Hash: "h", Recorded: &original})
	ev := eventstore.RecordedEvent{ID: uuid.New(), Stream: "s", Position: eventstore.Position{Commit: 1, Prepare: 1},
		Type: "t", Data: []byte(`{}`), Metadata: md, Recorded: start()}
	if got := export.RecordedAt(ev); !got.Equal(original) {
		t.Fatalf("RecordedAt = %v, want the original %v", got, original)
	}
	seq := func(yield func(eventstore.RecordedEvent, error) bool) { yield(ev, nil) }
	if got := collect(t, export.Filter{Until: original.Add(time.Hour)}.Apply(seq)); len(got) != 1 {
		t.Fatalf("Until after the original time: %d events, want 1", len(got))
	}
	if got := collect(t, export.Filter{Until: original.Add(-time.Hour)}.Apply(seq)); len(got) != 0 {
		t.Fatalf("Until before the original time: %d events, want 0", len(got))
	}
	if !bytes.Contains(exportAll(t, export.JSONL, []eventstore.RecordedEvent{ev}), []byte(`"recorded":"`+original.Format(time.RFC3339Nano)+`"`)) {
		t.Fatal("the recorded column does not hold the original time")
	}
}

func TestFilterPassesErrorsOn(t *testing.T) {
	boom := errors.New("boom")
	seq := func(yield func(eventstore.RecordedEvent, error) bool) {
		if yield(eventstore.RecordedEvent{Stream: "s", Position: eventstore.Position{Commit: 1, Prepare: 1}}, nil) {
			yield(eventstore.RecordedEvent{}, boom)
		}
	}
	var errs []error
	for _, err := range (export.Filter{StreamPrefix: "x"}).Apply(seq) {
		errs = append(errs, err)
	}
	if len(errs) != 1 || !errors.Is(errs[0], boom) {
		t.Fatalf("got %v, want the source's error", errs)
	}
}

// TestReadJSONLRefusesBadLines: every line that is not exactly an exported event is refused with
// its line number, whatever is wrong with it.
func TestReadJSONLRefusesBadLines(t *testing.T) {
	st := openStore(t, &clock{t: start()})
	writeNotes(t, st, "note-a", "note-a")
	events := collect(t, st.ReadAll(context.Background(), eventstore.Position{}))
	lines := strings.SplitAfter(string(exportAll(t, export.JSONL, events)), "\n")
	good, second := lines[0], lines[1]

	// edit changes the second line: the error must name line 2.
	edit := func(f func(string) string) string { return good + f(second) }
	replace := func(old, new string) string {
		return edit(func(l string) string {
			if !strings.Contains(l, old) {
				t.Fatalf("line has no %q: %s", old, l)
			}
			return strings.Replace(l, old, new, 1)
		})
	}
	var md eventstore.Metadata
	if err := json.Unmarshal(events[1].Metadata, &md); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, file, want string
	}{
		{"not JSON", good + "hello\n", "not a JSON object"},
		{"empty line", good + "\n" + second, "not a JSON object"},
		{"an array", edit(func(string) string { return "[1]\n" }), "not a JSON object"},
		{"unknown key", replace(`{"position"`, `{"extra":1,"position"`), `unknown key "extra"`},
		{"key in another case", replace(`"stream":`, `"Stream":`), `unknown key "Stream"`},
		{"repeated key", replace(`"type":"note.line"`, `"type":"note.line","type":"x"`), `key "type" twice`},
		{"data twice", replace(`"data":`, `"dataBase64":"","data":`), "data is given twice"},
		{"missing key", replace(`"role":"member",`, ``), `no "role"`},
		{"trailing data", edit(func(l string) string { return strings.TrimSuffix(l, "\n") + "{}\n" }), "data after the object"},
		{"number as a string", replace(`"revision":1`, `"revision":"1"`), "revision"},
		{"revision not an integer", replace(`"revision":1`, `"revision":1.5`), "not a revision"},
		{"revision with a leading zero", replace(`"revision":1`, `"revision":01`), "invalid character"},
		{"position not a position", replace(`"position":"2"`, `"position":"two"`), "not a position"},
		{"position zero", replace(`"position":"2"`, `"position":"0"`), "not a position"},
		{"null column", replace(`"city":"berlin"`, `"city":null`), "not a string"},
		{"UUID not canonical", replace(events[1].ID.String(), strings.ToUpper(events[1].ID.String())), "canonical"},
		{"recorded not a time", replace(`"recorded":"2019`, `"recorded":"x2019`), "not an RFC 3339 time"},
		{"actor column not the metadata's", replace(`"actor":"member-berlin"`, `"actor":"coordinator"`), "column actor"},
		{"hash column not the metadata's", replace(`"hash":"`+md.Hash, `"hash":"0`+md.Hash[1:]), "column hash"},
		{"bad base64", replace(`"data":{"text":"line 1`, `"dataBase64":"!!","x":{"text":"line 1`), "dataBase64"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var read int
			var got error
			for _, err := range export.ReadJSONL(strings.NewReader(tt.file)) {
				if err != nil {
					got = err
					break
				}
				read++
			}
			var le *export.LineError
			if !errors.As(got, &le) || !errors.Is(got, export.ErrBadLine) {
				t.Fatalf("got %v (after %d events), want a *LineError", got, read)
			}
			if le.Line != 2 || read != 1 || !strings.Contains(got.Error(), tt.want) {
				t.Fatalf("got %q at line %d after %d events; want line 2 after 1 event, saying %q", got, le.Line, read, tt.want)
			}
		})
	}
}

// TestExportStreamsInBoundedMemory exports a log far larger than the heap the export may use, sampling
// the live heap while it writes: the log is never materialised.
func TestExportStreamsInBoundedMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("writes a 25 MB log")
	}
	const (
		events  = 6_000
		payload = 4 << 10 // bytes of data per event: the log holds about 24 MiB of data
		bound   = 12 << 20
	)
	st := openStore(t, &clock{t: start()})
	filler := strings.Repeat("x", payload)
	ctx := context.Background()
	for i := 0; i < events; i += 500 {
		batch := make([]eventstore.EventData, 500)
		for j := range batch {
			batch[j] = eventstore.EventData{ID: uuid.New(), Type: "note.line",
				Data:     fmt.Appendf(nil, `{"n":%d,"text":%q}`, i+j, filler),
				Metadata: []byte(`{"schemaVersion":1,"prevHash":"","hash":""}`)}
		}
		if _, err := st.Append(ctx, fmt.Sprintf("big-%d", i), eventstore.NoStream(), batch); err != nil {
			t.Fatal(err)
		}
	}

	var peak, base uint64
	sample := func() uint64 {
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return ms.HeapAlloc
	}
	base = sample()
	out := &sampler{every: 500 * (payload + 300), sample: func() { peak = max(peak, sample()) }}
	w, err := export.NewWriter(out, export.JSONL)
	if err != nil {
		t.Fatal(err)
	}
	for ev, err := range (export.Filter{}).Apply(st.ReadAll(ctx, eventstore.Position{})) {
		if err != nil {
			t.Fatal(err)
		}
		if err := w.Write(ev); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if w.Events() != events || out.n < events*payload {
		t.Fatalf("exported %d events, %d bytes; want %d events, over %d bytes", w.Events(), out.n, events, events*payload)
	}
	if out.samples < 10 {
		t.Fatalf("only %d heap samples", out.samples)
	}
	if grew := int64(peak) - int64(base); grew > bound {
		t.Fatalf("live heap grew by %d bytes while exporting %d bytes (bound %d): the export holds the log", grew, out.n, bound)
	}
	t.Logf("exported %d bytes; live heap grew by at most %d bytes over %d samples", out.n, int64(peak)-int64(base), out.samples)
}

// sampler is the export's destination: it counts bytes and calls sample every so many.
type sampler struct {
	n, next, every int
	samples        int
	sample         func()
}

func (s *sampler) Write(p []byte) (int, error) {
	s.n += len(p)
	if s.n >= s.next {
		s.next = s.n + s.every
		s.samples++
		s.sample()
	}
	return len(p), nil
}
