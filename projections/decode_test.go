package projections

import (
	"bytes"
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/metropolis/csc/domain"
	"github.com/metropolis/csc/eventstore"
	"github.com/metropolis/csc/eventstore/memstore"
)

// changeCmp compares changes: byte slices by content (nil and empty alike), empty lists alike.
var changeCmp = []cmp.Option{
	cmp.AllowUnexported(change{}, launch{}),
	cmp.Comparer(bytes.Equal),
	cmp.FilterPath(func(p cmp.Path) bool { return p.Last().Type() != reflect.TypeFor[[]byte]() }, cmpopts.EquateEmpty()),
}

// reference decodes a payload through the codec, the reference the fast path must agree with.
func reference(codec *domain.Codec, typ string, data []byte) (change, error) {
	v, _ := codec.SchemaVersion(typ)
	ev, err := codec.Decode(typ, v, data)
	if err != nil {
		return change{}, err
	}
	return changeOf(ev), nil
}

// workloadEvents returns the events of a workload (every event type occurs).
func workloadEvents(t testing.TB, n int, seed uint64) []eventstore.RecordedEvent {
	t.Helper()
	st := memstore.New(memstore.Options{})
	if _, err := WriteWorkload(context.Background(), st, domain.NewCodec(), n, seed, 1); err != nil {
		t.Fatal(err)
	}
	var out []eventstore.RecordedEvent
	for e, err := range st.ReadAll(context.Background(), eventstore.Position{}) {
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, e)
	}
	return out
}

func TestFastPathAgreesWithCodecOnEveryEventType(t *testing.T) {
	codec := domain.NewCodec()
	seen := map[string]int{}
	for _, e := range workloadEvents(t, 6000, 7) {
		want, err := reference(codec, e.Type, e.Data)
		if err != nil {
			t.Fatalf("%s at %s: codec: %v", e.Type, e.Position, err)
		}
		got, ok := fastChange(e.Type, e.Data)
		if !ok {
			t.Fatalf("%s at %s: the fast path gave up on an event the engine wrote: %s", e.Type, e.Position, e.Data)
		}
		if !cmp.Equal(want, got, changeCmp...) {
			t.Fatalf("%s at %s (-codec +fast):\n%s", e.Type, e.Position, cmp.Diff(want, got, changeCmp...))
		}
		seen[e.Type]++
	}
	for _, typ := range codec.Types() {
		if seen[typ] == 0 {
			t.Errorf("the workload never produced %s", typ)
		}
	}
}

func TestFastPathEdgeCases(t *testing.T) {
	codec := domain.NewCodec()
	const item = `"itemId":"3f2b8c1e-5d4a-4c6b-9e7f-0a1b2c3d4e5f","city":"berlin"`
	tests := []struct {
		name string
		typ  string
		data string
		fast bool // whether the fast path must accept it (when false it must give up)
	}{
		{"plain", domain.TypeRoadmapItemApproved, `{` + item + `,"at":"2026-03-14T09:30:00Z"}`, true},
		{"white space everywhere", domain.TypeRoadmapItemApproved, " {\n\t" + item + ` , "at" : "2026-03-14T09:30:00Z" } `, true},
		{"no at", domain.TypeRoadmapItemApproved, `{` + item + `}`, true},
		{"null values", domain.TypeRoadmapItemApproved, `{"itemId":null,"city":null,"at":null}`, true},
		{"empty object", domain.TypeRoadmapItemCompleted, `{}`, true},
		{"escapes in a reason", domain.TypeItemPutOnHold, `{` + item + `,"reason":"line\nnext \"quoted\" \u00e9\u20ac \ud83d\ude00 \/ \\ \t"}`, true},
		{"html escapes as json.Marshal writes them", domain.TypeChangesRequested, `{` + item + `,"comment":"a \u003c b \u0026 c \u003e d"}`, true},
		{"raw UTF-8", domain.TypeRoadmapItemRejected, `{` + item + `,"reason":"Montréal – ok ✓"}`, true},
		{"escaped id", domain.TypeRoadmapItemApproved, `{"itemId":"3f2b8c1e\u002d5d4a","city":"berl\u0069n"}`, true},
		{"unknown key", domain.TypeRoadmapItemApproved, `{` + item + `,"extra":1}`, false},
		{"key in another case", domain.TypeRoadmapItemApproved, `{"ItemId":"x","city":"berlin"}`, false},
		{"repeated key", domain.TypeRoadmapItemApproved, `{` + item + `,"city":"madrid"}`, false},
		{"escape in a key", domain.TypeRoadmapItemApproved, `{"item\u0049d":"x","city":"berlin"}`, false},
		{"control character in a key", domain.TypeRoadmapItemApproved, "{\"itemId\t:\"x\",\"city\":\"berlin\"}", false},
		{"invalid escape in a key", domain.TypeRoadmapItemApproved, `{"itemId\:"x","city":"berlin"}`, false},
		{"unterminated key", domain.TypeRoadmapItemApproved, `{"itemId`, false},
		{"lone surrogate", domain.TypeItemPutOnHold, `{` + item + `,"reason":"\ud83d"}`, false},
		{"invalid UTF-8", domain.TypeItemPutOnHold, "{" + item + ",\"reason\":\"\xff\"}", false},
		{"bad escape", domain.TypeItemPutOnHold, `{` + item + `,"reason":"\x"}`, false},
		{"control character", domain.TypeItemPutOnHold, "{" + item + ",\"reason\":\"a\x01b\"}", false},
		{"trailing data", domain.TypeRoadmapItemApproved, `{` + item + `} x`, false},
		{"not an object", domain.TypeRoadmapItemApproved, `null`, false},
		{"wrong type", domain.TypeRoadmapItemApproved, `{"itemId":7}`, false},
		{"bad time", domain.TypeRoadmapItemApproved, `{` + item + `,"at":"yesterday"}`, false},
		{"truncated", domain.TypeRoadmapItemApproved, `{` + item, false},
		{"update in full", domain.TypeRoadmapUpdateSubmitted, `{` + item + `,"updateId":"u1","progressPercent":40,"measurement":{"value":-12.5e2,"period":"2026-Q1"},"milestonesReached":["m1","m2"],"narrative":"done","evidence":[{"uri":"https://x.org/a.pdf","sha256":"ab"},null],"at":"2026-03-14T09:30:00.123456789Z"}`, true},
		{"update with nulls", domain.TypeRoadmapUpdateSubmitted, `{` + item + `,"updateId":"u1","progressPercent":null,"measurement":null,"milestonesReached":null,"narrative":null,"evidence":null}`, true},
		{"update with a null milestone", domain.TypeRoadmapUpdateSubmitted, `{` + item + `,"milestonesReached":[null,"m1"]}`, true},
		{"fractional percentage", domain.TypeRoadmapUpdateSubmitted, `{` + item + `,"progressPercent":40.5}`, false},
		{"exponent percentage", domain.TypeRoadmapUpdateSubmitted, `{` + item + `,"progressPercent":4e1}`, false},
		{"percentage overflow", domain.TypeRoadmapUpdateSubmitted, `{` + item + `,"progressPercent":99999999999999999999}`, false},
		{"value out of range", domain.TypeRoadmapUpdateSubmitted, `{` + item + `,"measurement":{"value":1e999,"period":"2026"}}`, false},
		{"leading zero", domain.TypeRoadmapUpdateSubmitted, `{` + item + `,"measurement":{"value":01,"period":"2026"}}`, false},
		{"bad escape in the narrative, which is not kept", domain.TypeRoadmapUpdateSubmitted, `{` + item + `,"narrative":"a\x"}`, false},
		{"short unicode escape in an evidence uri", domain.TypeRoadmapUpdateSubmitted, `{` + item + `,"evidence":[{"uri":"\u12"}]}`, false},
		{"control character in the narrative", domain.TypeRoadmapUpdateSubmitted, "{" + item + ",\"narrative\":\"a\tb\"}", false},
		{"escaped narrative", domain.TypeRoadmapUpdateSubmitted, `{` + item + `,"narrative":"a\tb \u00e9 \ud800"}`, true},
		{"unknown evidence key", domain.TypeRoadmapUpdateSubmitted, `{` + item + `,"evidence":[{"url":"x"}]}`, false},
		{"correction", domain.TypeMeasurementCorrected, `{` + item + `,"updateId":"u1","oldValue":1,"newValue":2.5,"reason":"typo"}`, true},
		{"cancelled", domain.TypeRoadmapItemCancelled, `{` + item + `,"reason":"r","from":"in_progress"}`, true},
		{"proposal", domain.TypeRoadmapItemProposed, `{` + item + `,"title":"T","description":"D","theme":"ecology","sdgTargets":["11.1","11.a"],"indicator":{"name":"n","unit":"u","direction":"decrease","baseline":{"value":10,"year":2020},"target":{"value":5,"year":2030}},"milestones":[{"id":"m1","title":"M","due":"2026-05-01"},null],"budget":{"amount":1.5e6,"currency":"EUR","fundingSource":"EU"},"startDate":"2026-01-01","dueDate":"2026-12-31"}`, true},
		{"proposal with null parts", domain.TypeRoadmapItemRevised, `{` + item + `,"indicator":null,"budget":null,"milestones":null,"sdgTargets":null,"startDate":null,"dueDate":""}`, true},
		{"proposal with empty indicator", domain.TypeRoadmapItemProposed, `{` + item + `,"indicator":{},"budget":{}}`, true},
		{"proposal with a bad date", domain.TypeRoadmapItemProposed, `{` + item + `,"startDate":"2026-02-30"}`, false},
		{"member registered", domain.TypeMemberRegistered, `{"collaboratory":"csc","memberId":"m-1","city":"dakar","name":"Awa Ndiaye","expertise":"finance","at":"2026-01-01T00:00:00Z"}`, true},
		{"member removed", domain.TypeMemberRemoved, `{"collaboratory":"csc","memberId":"m-1","city":"dakar","reason":"left"}`, true},
		{"member removed with an expertise", domain.TypeMemberRemoved, `{"memberId":"m-1","expertise":"finance"}`, false},
		{"city joined", domain.TypeCityJoined, `{"collaboratory":"csc","city":{"id":"seoul","name":"Seoul","country":"KR"},"founding":false}`, true},
		{"city joined with a null city", domain.TypeCityJoined, `{"city":null,"founding":null}`, true},
		{"launched", domain.TypeCollaboratoryLaunched, `{"collaboratory":"csc","name":"CSC","phase":"2018-2020","foundingCities":[{"id":"berlin","name":"Berlin","country":"DE"},null]}`, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := fastChange(tt.typ, []byte(tt.data))
			if ok != tt.fast {
				t.Fatalf("fast path accepted = %v, want %v", ok, tt.fast)
			}
			want, err := reference(codec, tt.typ, []byte(tt.data))
			if !ok {
				return // the codec decides, whatever it decides
			}
			if err != nil {
				t.Fatalf("the fast path accepted what the codec refuses: %v", err)
			}
			if d := cmp.Diff(want, got, changeCmp...); d != "" {
				t.Errorf("(-codec +fast):\n%s", d)
			}
		})
	}
}

func TestDecoder(t *testing.T) {
	codec := domain.NewCodec()
	dec := newDecoder(codec)
	approved := `{"itemId":"i1","city":"berlin","at":"2026-03-14T09:30:00Z"}`
	recorded := time.Date(2026, 3, 14, 10, 0, 0, 0, time.UTC)
	original := time.Date(2019, 5, 1, 12, 0, 0, 0, time.UTC)
	event := func(typ, data, md string) eventstore.RecordedEvent {
		return eventstore.RecordedEvent{Stream: "roadmap-i1", Revision: 3, Position: eventstore.Position{Commit: 42, Prepare: 42},
			Type: typ, Data: []byte(data), Metadata: []byte(md), Recorded: recorded}
	}
	v1 := `{"itemId":"i1","city":"berlin","title":"T","description":"D","theme":"culture","sdgTarget":"11.4","milestones":[],"startDate":"2026-01-01","dueDate":"2026-12-31"}`
	tests := []struct {
		name     string
		in       eventstore.RecordedEvent
		want     fact
		errParts []string // an error naming all of these
	}{
		{
			name: "fast path with metadata",
			in:   event(domain.TypeRoadmapItemApproved, approved, `{"actor":"m-1","role":"member","city":"berlin","commandId":"c","schemaVersion":1,"prevHash":"","hash":"h"}`),
			want: fact{typ: domain.TypeRoadmapItemApproved, actor: []byte("m-1"), role: []byte("member"),
				change: change{kind: kindApproved, item: []byte("i1"), city: []byte("berlin")}},
		},
		{
			name: "the original recorded time of a copied event",
			in:   event(domain.TypeRoadmapItemApproved, approved, `{"schemaVersion":1,"recorded":"2019-05-01T14:00:00+02:00"}`),
			want: fact{typ: domain.TypeRoadmapItemApproved, recorded: original,
				change: change{kind: kindApproved, item: []byte("i1"), city: []byte("berlin")}},
		},
		{
			name: "metadata keys in another case go through encoding/json",
			in:   event(domain.TypeRoadmapItemApproved, approved, `{"Actor":"m-2","SchemaVersion":1}`),
			want: fact{typ: domain.TypeRoadmapItemApproved, actor: []byte("m-2"),
				change: change{kind: kindApproved, item: []byte("i1"), city: []byte("berlin")}},
		},
		{
			name: "an older schema version is upcast by the codec",
			in:   event(domain.TypeRoadmapItemProposed, v1, `{"schemaVersion":1}`),
			want: fact{typ: domain.TypeRoadmapItemProposed, change: change{kind: kindProposed, item: []byte("i1"), city: []byte("berlin"),
				fields: &domain.ItemFields{Title: "T", Description: "D", Theme: domain.ThemeCulture, SDGTargets: []string{"11.4"},
					Milestones: []domain.Milestone{}, StartDate: day("2026-01-01"), DueDate: day("2026-12-31")}}},
		},
		{
			name: "an unknown type is no error",
			in:   event("csc.roadmap.item_teleported", `{"anything":true}`, `not even json`),
			want: fact{typ: "csc.roadmap.item_teleported"},
		},
		{
			name:     "a known type that does not decode",
			in:       event(domain.TypeRoadmapItemApproved, `{"itemId":`, `{"schemaVersion":1}`),
			errParts: []string{"position 42", "stream roadmap-i1", "revision 3", domain.TypeRoadmapItemApproved},
		},
		{
			name:     "a schema version newer than this build",
			in:       event(domain.TypeRoadmapItemApproved, approved, `{"schemaVersion":9}`),
			errParts: []string{"position 42", "stream roadmap-i1", "schema version"},
		},
		{
			name:     "missing metadata means no schema version",
			in:       event(domain.TypeRoadmapItemApproved, approved, ``),
			errParts: []string{"position 42", "stream roadmap-i1"},
		},
		{
			name:     "metadata that is not JSON",
			in:       event(domain.TypeRoadmapItemApproved, approved, `{"schemaVersion":`),
			errParts: []string{"position 42", "stream roadmap-i1", "metadata"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := dec.decode(tt.in)
			if tt.errParts != nil {
				if err == nil {
					t.Fatalf("decode succeeded: %+v", got)
				}
				for _, p := range tt.errParts {
					if !strings.Contains(err.Error(), p) {
						t.Errorf("error %q does not name %q", err, p)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tt.want.pos, tt.want.stream, tt.want.revision = tt.in.Position, tt.in.Stream, tt.in.Revision
			if tt.want.recorded.IsZero() {
				tt.want.recorded = recorded
			}
			if d := cmp.Diff(tt.want, got, append(changeCmp, cmp.AllowUnexported(fact{}))...); d != "" {
				t.Errorf("(-want +got):\n%s", d)
			}
		})
	}
}

func TestDecodeErrorIsTheCodecs(t *testing.T) {
	dec := newDecoder(domain.NewCodec())
	_, err := dec.decode(eventstore.RecordedEvent{Stream: "roadmap-x", Type: domain.TypeRoadmapItemApproved,
		Data: []byte(`[]`), Metadata: []byte(`{"schemaVersion":1}`)})
	var de *domain.DecodeError
	if !errors.Is(err, domain.ErrDecode) || !errors.As(err, &de) || de.Type != domain.TypeRoadmapItemApproved {
		t.Errorf("error %v is not the codec's *DecodeError for the type", err)
	}
}
