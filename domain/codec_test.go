package domain

import (
	"encoding/json"
	"errors"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// declaredTypesWithMethod returns, sorted, the names of the types of this package (non-test files)
// that declare a method with the given name. The tests use it to notice a new event or command type
// that a table forgot.
func declaredTypesWithMethod(t testing.TB, method string) []string {
	t.Helper()
	fset := token.NewFileSet()
	entries, err := os.ReadDir(".")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".go") || strings.HasSuffix(e.Name(), "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, e.Name(), nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, decl := range f.Decls {
			fn, ok := decl.(*ast.FuncDecl)
			if !ok || fn.Recv == nil || fn.Name.Name != method {
				continue
			}
			typ := fn.Recv.List[0].Type
			if star, ok := typ.(*ast.StarExpr); ok {
				typ = star.X
			}
			names = append(names, typ.(*ast.Ident).Name)
		}
	}
	slices.Sort(names)
	return names
}

func typeName(v any) string { return reflect.TypeOf(v).Name() }

// sampleEvents has one event of every type, with every optional field set, so that a round trip
// exercises every field.
func sampleEvents() []Event {
	p := proposedEvent()
	f := validFields()
	return []Event{
		launchedCSC()[0],
		CityJoined{Collaboratory: "csc", City: City{ID: "montreal", Name: "Montréal", Country: "CA"}, At: t0},
		MemberRegistered{Collaboratory: "csc", MemberID: memberID, City: "berlin", Name: "Jana Schulz",
			Expertise: ExpertiseFinance, At: t0},
		MemberRemoved{Collaboratory: "csc", MemberID: memberID, City: "berlin", Reason: "left", At: t0},
		p,
		RoadmapItemRevised{ItemID: itemID, City: "berlin", Title: "t2", Description: f.Description, Theme: ThemeCulture,
			SDGTargets: []string{"11.4"}, Indicator: f.Indicator, Milestones: f.Milestones, Budget: f.Budget,
			StartDate: f.StartDate, DueDate: f.DueDate, At: t0},
		RoadmapItemApproved{ItemID: itemID, City: "berlin", At: t0},
		ChangesRequested{ItemID: itemID, City: "berlin", Comment: "c", At: t0},
		RoadmapItemRejected{ItemID: itemID, City: "berlin", Reason: "r", At: t0},
		ImplementationStarted{ItemID: itemID, City: "berlin", At: t0},
		measuredUpdate(),
		MeasurementCorrected{ItemID: itemID, City: "berlin", UpdateID: updateID1, OldValue: 5000, NewValue: 5200.5,
			Reason: "r", At: t0},
		ItemPutOnHold{ItemID: itemID, City: "berlin", Reason: "r", At: t0},
		ItemResumed{ItemID: itemID, City: "berlin", At: t0},
		RoadmapItemCompleted{ItemID: itemID, City: "berlin", At: t0},
		RoadmapItemCancelled{ItemID: itemID, City: "berlin", Reason: "r", From: StageOnHold, At: t0},
	}
}

// TestCodec_EveryEventTypeRoundTrips fails when an event type of the package has no sample, is not
// registered, or does not survive encode/decode unchanged.
func TestCodec_EveryEventTypeRoundTrips(t *testing.T) {
	c := NewCodec()
	samples := sampleEvents()
	declared := declaredTypesWithMethod(t, "EventType")
	var sampled []string
	for _, e := range samples {
		sampled = append(sampled, typeName(e))
	}
	slices.Sort(sampled)
	if diff := cmp.Diff(declared, sampled); diff != "" {
		t.Fatalf("event types declared vs sampled (-declared +sampled):\n%s", diff)
	}
	if len(c.Types()) != len(declared) {
		t.Fatalf("codec knows %d types, the package declares %d", len(c.Types()), len(declared))
	}
	camel := regexp.MustCompile(`^[a-z][a-zA-Z0-9]*$`)
	for _, e := range samples {
		t.Run(e.EventType(), func(t *testing.T) {
			if !c.Known(e.EventType()) {
				t.Fatalf("%s is not registered", e.EventType())
			}
			typ, data, v, err := c.Encode(e)
			if err != nil {
				t.Fatal(err)
			}
			if want, _ := c.SchemaVersion(typ); typ != e.EventType() || v != want {
				t.Fatalf("encoded as %s v%d", typ, v)
			}
			got, err := c.Decode(typ, v, data)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(e, got); diff != "" {
				t.Fatalf("round trip (-sent +got):\n%s", diff)
			}
			var raw any
			if err := json.Unmarshal(data, &raw); err != nil {
				t.Fatal(err)
			}
			checkKeys(t, raw, camel, "")
			if _, ok := raw.(map[string]any)["at"]; !ok {
				t.Errorf("no \"at\" in %s", data)
			}
		})
	}
}

func checkKeys(t *testing.T, v any, re *regexp.Regexp, path string) {
	switch v := v.(type) {
	case map[string]any:
		for k, x := range v {
			if !re.MatchString(k) {
				t.Errorf("key %q at %q is not camelCase", k, path)
			}
			checkKeys(t, x, re, path+"."+k)
		}
	case []any:
		for _, x := range v {
			checkKeys(t, x, re, path+"[]")
		}
	}
}

// TestCodec_WireFormat pins the exact JSON of an event: these names are stored forever.
func TestCodec_WireFormat(t *testing.T) {
	_, data, v, err := NewCodec().Encode(RoadmapItemProposed{ItemID: itemID, City: "berlin", Title: "T",
		Description: "D", Theme: ThemePolitics, SDGTargets: []string{"11.3"}, Milestones: []Milestone{},
		StartDate: d("2026-01-01"), DueDate: d("2026-11-28"), At: t0})
	if err != nil {
		t.Fatal(err)
	}
	want := `{"itemId":"` + itemID + `","city":"berlin","title":"T","description":"D","theme":"politics",` +
		`"sdgTargets":["11.3"],"milestones":[],"startDate":"2026-01-01","dueDate":"2026-11-28",` +
		`"at":"2026-03-14T09:30:00.123456789Z"}`
	if string(data) != want || v != 2 {
		t.Fatalf("got v%d %s\nwant v2 %s", v, data, want)
	}
}

// TestCodec_UpcastsItemProposedV1 reads a version-1 payload (one "sdgTarget") as the current type.
func TestCodec_UpcastsItemProposedV1(t *testing.T) {
	c := NewCodec()
	v1 := []byte(`{"itemId":"` + itemID + `","city":"madrid","title":"Superblocks","description":"Calm streets",` +
		`"theme":"ecology","sdgTarget":"11.2","milestones":[{"id":"m1","title":"Pilot","due":"2019-06-30"}],` +
		`"startDate":"2018-09-01","dueDate":"2020-12-31","at":"2018-09-01T10:00:00Z"}`)
	got, err := c.Decode(TypeRoadmapItemProposed, 1, v1)
	if err != nil {
		t.Fatal(err)
	}
	want := RoadmapItemProposed{ItemID: itemID, City: "madrid", Title: "Superblocks", Description: "Calm streets",
		Theme: ThemeEcology, SDGTargets: []string{"11.2"},
		Milestones: []Milestone{{ID: "m1", Title: "Pilot", Due: d("2019-06-30")}},
		StartDate:  d("2018-09-01"), DueDate: d("2020-12-31"), At: mustTime(t, "2018-09-01T10:00:00Z")}
	if diff := cmp.Diff(Event(want), got); diff != "" {
		t.Fatalf("upcast v1 (-want +got):\n%s", diff)
	}
	// A v1 payload without a target upcasts to an empty list.
	got, err = c.Decode(TypeRoadmapItemProposed, 1, []byte(`{"itemId":"`+itemID+`","sdgTarget":null}`))
	if err != nil {
		t.Fatal(err)
	}
	if ts := got.(RoadmapItemProposed).SDGTargets; ts == nil || len(ts) != 0 {
		t.Fatalf("sdgTargets = %#v, want []", ts)
	}
	// The same payload read as v2 keeps no target: the version decides, not the content.
	got, err = c.Decode(TypeRoadmapItemProposed, 2, v1)
	if err != nil {
		t.Fatal(err)
	}
	if ts := got.(RoadmapItemProposed).SDGTargets; len(ts) != 0 {
		t.Fatalf("v2 read of a v1 payload: sdgTargets = %v", ts)
	}
}

func TestCodec_Errors(t *testing.T) {
	c := NewCodec()
	_, err := c.Decode("csc.roadmap.item_teleported", 1, []byte(`{}`))
	var unknown *UnknownEventTypeError
	if !errors.Is(err, ErrUnknownEventType) || !errors.As(err, &unknown) || unknown.Type != "csc.roadmap.item_teleported" ||
		Code(err) != CodeUnknownEventType {
		t.Fatalf("unknown type: %v", err)
	}
	if c.Known("csc.roadmap.item_teleported") || !c.Known(TypeItemResumed) {
		t.Fatal("Known is wrong")
	}
	for _, tc := range []struct {
		name    string
		version int
		data    string
	}{
		{"bad json", 1, `{"itemId":`},
		{"wrong field type", 1, `{"itemId":42}`},
		{"bad date", 1, `{"startDate":"2026-02-30"}`},
		{"version from the future", 2, `{}`},
		{"version zero", 0, `{}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			typ := TypeRoadmapItemRevised
			_, err := c.Decode(typ, tc.version, []byte(tc.data))
			var de *DecodeError
			if !errors.Is(err, ErrDecode) || !errors.As(err, &de) || de.Type != typ || !strings.Contains(err.Error(), typ) {
				t.Fatalf("err = %v, want a decode error naming %s", err, typ)
			}
			if errors.Is(err, ErrUnknownEventType) {
				t.Fatal("a known type reported as unknown")
			}
		})
	}
	if _, _, _, err := c.Encode(nil); err == nil {
		t.Fatal("encoding nil succeeded")
	}
	// A broken v1 payload fails in the upcaster and names the type.
	_, err = c.Decode(TypeRoadmapItemProposed, 1, []byte(`{"sdgTarget":7}`))
	if !errors.Is(err, ErrDecode) || !strings.Contains(err.Error(), TypeRoadmapItemProposed) {
		t.Fatalf("broken v1: %v", err)
	}
}

func TestCodec_RegisterRefusesMistakes(t *testing.T) {
	for _, tc := range []struct {
		name string
		reg  func(c *Codec)
	}{
		{"wrong wire name", func(c *Codec) { register[ItemResumed](c, "csc.roadmap.item_paused", 1) }},
		{"twice", func(c *Codec) {
			register[ItemResumed](c, TypeItemResumed, 1)
			register[ItemResumed](c, TypeItemResumed, 1)
		}},
		{"missing upcaster", func(c *Codec) { register[ItemResumed](c, TypeItemResumed, 2) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Fatal("no panic")
				}
			}()
			tc.reg(&Codec{entries: map[string]codecEntry{}})
		})
	}
}

// BenchmarkDecode measures Codec.Decode over a realistic mix of stored events (mostly roadmap
// updates) and reports events per second, for the projections' rebuild budget.
func BenchmarkDecode(b *testing.B) {
	c := NewCodec()
	type wire struct {
		typ  string
		v    int
		data []byte
	}
	encode := func(e Event) wire {
		typ, data, v, err := c.Encode(e)
		if err != nil {
			b.Fatal(err)
		}
		return wire{typ, v, data}
	}
	mix := []wire{
		encode(proposedEvent()),
		encode(RoadmapItemApproved{ItemID: itemID, City: "berlin", At: t0}),
		encode(ImplementationStarted{ItemID: itemID, City: "berlin", At: t0}),
		encode(measuredUpdate()), encode(measuredUpdate()), encode(measuredUpdate()), encode(measuredUpdate()),
		encode(MeasurementCorrected{ItemID: itemID, City: "berlin", UpdateID: updateID1, OldValue: 1, NewValue: 2, Reason: "r", At: t0}),
		encode(RoadmapItemCompleted{ItemID: itemID, City: "berlin", At: t0}),
		encode(MemberRegistered{Collaboratory: "csc", MemberID: memberID, City: "berlin", Name: "J", Expertise: ExpertiseStaff, At: t0}),
	}
	run := func(b *testing.B, ws []wire) {
		b.ReportAllocs()
		n := 0
		for b.Loop() {
			w := ws[n%len(ws)]
			if _, err := c.Decode(w.typ, w.v, w.data); err != nil {
				b.Fatal(err)
			}
			n++
		}
		b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "events/s")
	}
	b.Run("mix", func(b *testing.B) { run(b, mix) })
	b.Run("item_proposed", func(b *testing.B) { run(b, mix[:1]) })
	b.Run("update_submitted", func(b *testing.B) { run(b, mix[3:4]) })
	b.Run("item_completed", func(b *testing.B) { run(b, mix[8:9]) })
}
