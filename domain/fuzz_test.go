package domain

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// The fuzz targets of the package. A plain `go test` runs each target on its f.Add seeds and on the
// files in testdata/fuzz/<FuzzName>/; `go test -run '^$' -fuzz '^FuzzDecode$' ./domain/` explores.
//
// FuzzItemLifecycle and FuzzCollaboratory read their []byte input as a program: a sequence of
// steps, each [n, command, actor, clock, payload...] where n counts the bytes after it. Within a step
// every byte is one small choice (fuzzInput); past the step's end every choice reads 0, and 0 is
// always the ordinary, valid choice, so that short steps stay meaningful and a mutation of one step
// does not shift the others. The payload of each command is read by readItemCommand /
// readCollaboratoryCommand, in the order written there.

// ---- FuzzDecode ----

// unknownEventType is what FuzzDecode decodes when its type index points past the codec's types.
const unknownEventType = "csc.roadmap.item_teleported"

// FuzzDecode feeds the codec a type (an index into Codec.Types, one past the end meaning an unknown
// type), a schema version and a payload. It must never panic. It either refuses with the documented
// error (ErrUnknownEventType for an unknown type, ErrDecode for anything else, never both) or returns
// an event of that type that re-encodes, at the current version, into a payload that decodes to an
// equal event and re-encodes to the same bytes (the encoding is a fixed point).
func FuzzDecode(f *testing.F) {
	c := NewCodec()
	types := c.Types()
	index := func(typ string) uint8 { return uint8(slices.Index(types, typ)) }
	for _, e := range sampleEvents() {
		typ, data, v, err := c.Encode(e)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(index(typ), v, data)
	}
	proposed := index(TypeRoadmapItemProposed)
	for _, seed := range []struct {
		typ     uint8
		version int
		data    string
	}{
		// Version 1 of a proposal: one "sdgTarget", upcast to a list.
		{proposed, 1, `{"itemId":"` + itemID + `","city":"madrid","title":"Superblocks","theme":"ecology",` +
			`"sdgTarget":"11.2","milestones":[{"id":"m1","title":"Pilot","due":"2019-06-30"}],` +
			`"startDate":"2018-09-01","dueDate":"2020-12-31","at":"2018-09-01T10:00:00+02:00"}`},
		{proposed, 1, `{"sdgTarget":null}`},
		{proposed, 1, `{"sdgTarget":7}`},
		{proposed, 1, `null`}, // found by FuzzDecode: the upcaster wrote into a nil map (panic)
		{proposed, 1, `[]`},
		{proposed, 2, ` null`}, // read as the zero event before the fix
		{proposed, 3, `{}`},
		{proposed, 0, `{}`},
		{index(TypeRoadmapItemRevised), 1, `{"startDate":"2026-02-29","at":"2026-03-14T09:30:00Z"}`},
		{index(TypeRoadmapUpdateSubmitted), 1, `{"progressPercent":1e3,"measurement":{"value":-0,"period":"2026"}}`},
		{index(TypeMeasurementCorrected), 1, `{"oldValue":1e308,"newValue":-1e-308,"at":"0001-01-01T00:00:00Z"}`},
		{uint8(len(types)), 1, `{}`}, // an unknown type
	} {
		f.Add(seed.typ, seed.version, []byte(seed.data))
	}
	f.Fuzz(func(t *testing.T, typeIndex uint8, version int, data []byte) {
		typ := unknownEventType
		if i := int(typeIndex) % (len(types) + 1); i < len(types) {
			typ = types[i]
		}
		original := bytes.Clone(data)
		e, err := c.Decode(typ, version, data)
		if !bytes.Equal(data, original) {
			t.Fatalf("Decode wrote into its input: %q became %q", original, data)
		}
		if err != nil {
			checkDecodeRefusal(t, typ, version, e, err)
			return
		}
		if e == nil || e.EventType() != typ {
			t.Fatalf("Decode(%s) returned %T", typ, e)
		}
		typ2, data2, v2, err := c.Encode(e)
		current, _ := c.SchemaVersion(typ)
		if err != nil || typ2 != typ || v2 != current {
			t.Fatalf("re-encode of %#v: %s v%d, %v", e, typ2, v2, err)
		}
		e2, err := c.Decode(typ2, v2, data2)
		if err != nil {
			t.Fatalf("decode of the re-encoded %s: %v\npayload %s", typ, err, data2)
		}
		if diff := cmp.Diff(e, e2); diff != "" {
			t.Fatalf("round trip of %s (-decoded +re-decoded):\n%s\npayload %s", typ, diff, data2)
		}
		if _, data3, _, err := c.Encode(e2); err != nil || !bytes.Equal(data2, data3) {
			t.Fatalf("encoding is not a fixed point: %s then %s (%v)", data2, data3, err)
		}
		if typ == TypeRoadmapItemProposed && version == 1 {
			checkUpcastKeepsTarget(t, data, e.(RoadmapItemProposed))
		}
	})
}

func checkDecodeRefusal(t *testing.T, typ string, version int, e Event, err error) {
	t.Helper()
	if e != nil {
		t.Fatalf("Decode returned both %#v and %v", e, err)
	}
	if typ == unknownEventType {
		var u *UnknownEventTypeError
		if !errors.Is(err, ErrUnknownEventType) || errors.Is(err, ErrDecode) || !errors.As(err, &u) ||
			u.Type != typ || Code(err) != CodeUnknownEventType {
			t.Fatalf("unknown type: %v, want an *UnknownEventTypeError", err)
		}
		return
	}
	var de *DecodeError
	if !errors.Is(err, ErrDecode) || errors.Is(err, ErrUnknownEventType) || !errors.As(err, &de) ||
		de.Type != typ || de.SchemaVersion != version || Code(err) != CodeDecode || !strings.Contains(err.Error(), typ) {
		t.Fatalf("known type %s v%d: %v, want a *DecodeError naming it", typ, version, err)
	}
}

// checkUpcastKeepsTarget: a version-1 proposal with one non-empty "sdgTarget" and nothing that reads
// as "sdgTargets" decodes with exactly that target.
func checkUpcastKeepsTarget(t *testing.T, data []byte, e RoadmapItemProposed) {
	t.Helper()
	var m map[string]json.RawMessage
	if json.Unmarshal(data, &m) != nil {
		return
	}
	var target string
	if json.Unmarshal(m["sdgTarget"], &target) != nil || target == "" {
		return
	}
	for k := range m {
		if k != "sdgTarget" && (strings.EqualFold(k, "sdgTarget") || strings.EqualFold(k, "sdgTargets")) {
			return // a key that encoding/json would also match: which one wins is not the upcaster's doing
		}
	}
	if !slices.Equal(e.SDGTargets, []string{target}) {
		t.Fatalf("v1 target %q upcast to %q", target, e.SDGTargets)
	}
}

// TestDecode_RefusesNonObjects: a payload that is not a JSON object is a *DecodeError at every
// version of every type, not a panic (FuzzDecode found a v1 proposal "null" writing into a nil map)
// nor a zero event ("null" used to decode as one).
func TestDecode_RefusesNonObjects(t *testing.T) {
	c := NewCodec()
	for _, typ := range c.Types() {
		current, _ := c.SchemaVersion(typ)
		for v := 1; v <= current; v++ {
			for _, data := range []string{"null", " null ", "[]", `"x"`, "1", "true", "", " "} {
				t.Run(fmt.Sprintf("%s/v%d/%q", typ, v, data), func(t *testing.T) {
					e, err := c.Decode(typ, v, []byte(data))
					var de *DecodeError
					if e != nil || !errors.As(err, &de) || !errors.Is(err, ErrDecode) {
						t.Fatalf("Decode = %#v, %v; want a *DecodeError", e, err)
					}
				})
			}
		}
	}
	// White space before the object is still JSON.
	if _, err := c.Decode(TypeItemResumed, 1, []byte(" \t\r\n{}")); err != nil {
		t.Fatal(err)
	}
}

// ---- reading programs ----

// fuzzInput reads a fuzzer's byte string as a stream of small choices; past its end it reads zeros.
type fuzzInput struct{ b []byte }

func (r *fuzzInput) more() bool { return len(r.b) > 0 }

func (r *fuzzInput) byte() byte {
	if len(r.b) == 0 {
		return 0
	}
	v := r.b[0]
	r.b = r.b[1:]
	return v
}

// step returns the next step: n (the next byte) bytes, fewer at the end of the input.
func (r *fuzzInput) step() *fuzzInput {
	n := min(int(r.byte()), len(r.b))
	s := &fuzzInput{b: r.b[:n]}
	r.b = r.b[n:]
	return s
}

func (r *fuzzInput) bytes(n int) []byte {
	out := make([]byte, n)
	k := copy(out, r.b)
	r.b = r.b[k:]
	return out
}

func pick[T any](r *fuzzInput, vs ...T) T { return vs[int(r.byte())%len(vs)] }

// raw returns 0..31 bytes of the input as a string: any bytes, often not UTF-8.
func (r *fuzzInput) raw() string { return string(r.bytes(int(r.byte() % 32))) }

// text chooses a reason, comment, title or name: 0 is an ordinary one.
func (r *fuzzInput) text() string {
	switch r.byte() % 8 {
	case 1:
		return ""
	case 2:
		return " \t\n"
	case 3:
		return strings.Repeat("é", MaxReasonLen+1) // too long for every field but descriptions
	case 4:
		return r.raw()
	}
	return "because"
}

// fuzzIDs are the ids a program names by choices 0..3, so that commands meet each other's ids.
var fuzzIDs = []string{updateID1, updateID2, "aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee", itemID2}

// uuid chooses an id: one of fuzzIDs, one derived from two more bytes, or a malformed one.
func (r *fuzzInput) uuid() string {
	switch b := r.byte() % 8; b {
	case 4:
		return fmt.Sprintf("%08x-0000-4000-8000-%012x", r.byte(), r.byte())
	case 5:
		return "not-a-uuid"
	case 6:
		return strings.ToUpper(itemID2)
	case 7:
		return "00000000-0000-0000-0000-000000000000"
	default:
		return fuzzIDs[b]
	}
}

// float chooses a number: 0 is a small one from the next byte; 1 is any 64 bits (NaN, Inf, -0 ...).
func (r *fuzzInput) float() float64 {
	switch r.byte() % 3 {
	case 1:
		return math.Float64frombits(binary.LittleEndian.Uint64(r.bytes(8)))
	case 2:
		return float64(int8(r.byte())) * 1e14 // up to and past MaxBudgetAmount
	}
	return float64(int8(r.byte())) / 4
}

// fuzzActors are the actors of a program, by choice.
var fuzzActors = []Context{
	{Actor: "coord-1", Role: RoleCoordinator},
	{Actor: memberID, Role: RoleMember, City: "berlin"},
	{Actor: memberID2, Role: RoleMember, City: "madrid"},
	{Actor: "root", Role: RoleAdmin},
	{Actor: "aud", Role: RoleAuditor},
	{Actor: "x", Role: RoleMember}, // a member without a city
	{Actor: "x"},                   // no role
	{Actor: "x", Role: "superuser"},
}

// readStep reads the command-independent part of a step: the actor and the clock. The clock moves
// forward by the byte's value in minutes; an odd byte gives Now in another zone (the events must
// still say UTC), 255 gives a zero Now (the events leave "at" out).
func (r *fuzzInput) readStep(now *time.Time) Context {
	ctx := pick(r, fuzzActors...)
	switch c := r.byte(); {
	case c == 255:
		return ctx
	case c%2 == 1:
		*now = now.Add(time.Duration(c) * time.Minute)
		ctx.Now = now.In(time.FixedZone("UTC+05:30", 5*3600+1800))
	default:
		*now = now.Add(time.Duration(c) * time.Minute)
		ctx.Now = *now
	}
	return ctx
}

// The item commands, by choice.
const (
	opPropose byte = iota
	opRevise
	opApprove
	opRequestChanges
	opReject
	opStart
	opSubmitUpdate
	opCorrect
	opHold
	opResume
	opComplete
	opCancel
	numItemOps
)

// itemFields reads [milestones, flaws, flaw...]: n milestones m1..mn (n = 0..4), then 0..2 flaws,
// each a kind and its arguments. No flaw gives valid fields.
func (r *fuzzInput) itemFields() ItemFields {
	f := validFields()
	f.Milestones = nil
	n := int(r.byte() % 5)
	for i := 1; i <= n; i++ {
		f.Milestones = append(f.Milestones, Milestone{ID: fmt.Sprintf("m%d", i), Title: "Step", Due: f.DueDate})
	}
	for range int(r.byte() % 3) {
		switch r.byte() % 13 {
		case 0:
			f.Title = r.text()
		case 1:
			f.Description = r.text()
		case 2:
			f.Theme = pick(r, ThemeCulture, "", "sports")
		case 3:
			mask := r.byte()
			f.SDGTargets = nil
			for i, target := range SDGTargets()[:7] {
				if mask&(1<<i) != 0 {
					f.SDGTargets = append(f.SDGTargets, target)
				}
			}
			if mask&0x80 != 0 {
				f.SDGTargets = append(f.SDGTargets, "12.1", "11.1")
			}
		case 4:
			f.Indicator = nil
		case 5:
			if f.Indicator != nil {
				f.Indicator.Direction = pick(r, DirectionDecrease, "", "sideways")
			}
		case 6:
			if f.Indicator != nil {
				f.Indicator.Target.Value = r.float()
			}
		case 7:
			if f.Indicator != nil {
				f.Indicator.Baseline.Year = 1890 + int(r.byte())
			}
		case 8:
			f.Budget = nil
		case 9:
			if f.Budget != nil {
				f.Budget.Amount = r.float()
			}
		case 10:
			if f.Budget != nil {
				f.Budget.Currency = pick(r, "USD", "eur", "", "EURO")
			}
		case 11:
			f.StartDate, f.DueDate = f.DueDate, f.StartDate
		case 12:
			if len(f.Milestones) > 0 {
				m := &f.Milestones[int(r.byte())%len(f.Milestones)]
				switch r.byte() % 4 {
				case 0:
					m.ID = pick(r, "", "m 1", "m1", strings.Repeat("m", MaxMilestoneIDLen+1))
				case 1:
					m.Title = r.text()
				case 2:
					m.Due = f.StartDate
				default:
					m.Due = Date{Year: 1890 + int(r.byte()), Month: time.Month(r.byte() % 14), Day: int(r.byte() % 33)}
				}
			}
		}
	}
	return f
}

func (r *fuzzInput) period() string {
	switch r.byte() % 9 {
	case 1:
		return "2026"
	case 2:
		return "2026-07"
	case 3:
		return "2026-07-15"
	case 4:
		return "2026-Q5"
	case 5:
		return "2026-13"
	case 6:
		return ""
	case 7:
		return "1899"
	case 8:
		return r.raw()
	}
	return "2026-Q3"
}

// readItemCommand reads one item command's payload (the op is already read).
func (r *fuzzInput) readItemCommand(op byte) ItemCommand {
	switch op {
	case opPropose:
		id := r.uuid()
		city := pick(r, "berlin", "madrid", "lagos", "Berlin", "")
		return ProposeRoadmapItem{ItemID: id, City: city, ItemFields: r.itemFields()}
	case opRevise:
		return ReviseRoadmapItem{ItemFields: r.itemFields()}
	case opApprove:
		return ApproveRoadmapItem{}
	case opRequestChanges:
		return RequestChanges{Comment: r.text()}
	case opReject:
		return RejectRoadmapItem{Reason: r.text()}
	case opStart:
		return StartImplementation{}
	case opSubmitUpdate:
		u := SubmitRoadmapUpdate{UpdateID: r.uuid()}
		if r.byte()%2 == 1 {
			p := int(r.byte())%111 - 5 // -5..105
			u.ProgressPercent = &p
		}
		if r.byte()%2 == 1 {
			u.Measurement = &Measurement{Value: r.float(), Period: r.period()}
		}
		for range int(r.byte() % 4) {
			u.MilestonesReached = append(u.MilestonesReached, pick(r, "m1", "m2", "m3", "m4", "mX", ""))
		}
		u.Narrative = r.text()
		n := int(r.byte() % 4)
		if n == 3 {
			n = MaxEvidence + 1
		}
		for range n {
			u.Evidence = append(u.Evidence, Evidence{
				URI:    pick(r, "https://berlin.de/roofs.pdf", "roofs.pdf", "", "https://[::1"),
				SHA256: pick(r, sha, "", strings.ToUpper(sha)),
			})
		}
		return u
	case opCorrect:
		return CorrectMeasurement{UpdateID: r.uuid(), Value: r.float(), Reason: r.text()}
	case opHold:
		return PutOnHold{Reason: r.text()}
	case opResume:
		return Resume{}
	case opComplete:
		return CompleteRoadmapItem{}
	default:
		return CancelRoadmapItem{Reason: r.text()}
	}
}

// ---- checks shared by the deciders' targets ----

// wire is an event as the store keeps it.
type wire struct {
	typ     string
	version int
	data    []byte
}

func encodeWire(t *testing.T, c *Codec, e Event) wire {
	t.Helper()
	typ, data, v, err := c.Encode(e)
	if err != nil {
		t.Fatalf("encode %#v: %v", e, err)
	}
	return wire{typ, v, data}
}

func decodeWire(t *testing.T, c *Codec, w wire) Event {
	t.Helper()
	e, err := c.Decode(w.typ, w.version, w.data)
	if err != nil {
		t.Fatalf("decode %s v%d %s: %v", w.typ, w.version, w.data, err)
	}
	return e
}

var fieldCodesKnown = []string{FieldRequired, FieldOneOf, FieldRange, FieldUnknownTarget, FieldFormat, FieldDuplicate,
	FieldTooLong, FieldTooMany, FieldUnknownCity, FieldUnknownMilestone, FieldAlreadyReached, FieldNoIndicator,
	FieldNoMeasurement, FieldUnchanged}

// checkRefusal checks that a refused command returned no events and exactly one of the deciders'
// typed errors, and that its code is one of allowed.
func checkRefusal(t *testing.T, cmd string, events []Event, err error, allowed ...string) {
	t.Helper()
	if events != nil {
		t.Fatalf("%s refused (%v) with events %v", cmd, err, events)
	}
	var (
		ve *ValidationError
		le *LifecycleError
		fe *ForbiddenError
		ne *NotFoundError
		ae *AlreadyExistsError
	)
	kinds := []struct {
		code     string
		sentinel error
		typed    bool
	}{
		{CodeValidation, ErrValidation, errors.As(err, &ve)},
		{CodeLifecycle, ErrLifecycle, errors.As(err, &le)},
		{CodeForbidden, ErrForbidden, errors.As(err, &fe)},
		{CodeNotFound, ErrNotFound, errors.As(err, &ne)},
		{CodeAlreadyExists, ErrAlreadyExists, errors.As(err, &ae)},
	}
	matched := 0
	for _, k := range kinds {
		if errors.Is(err, k.sentinel) {
			matched++
			if !k.typed || Code(err) != k.code {
				t.Fatalf("%s: %v (%T) matches %v but has code %q", cmd, err, err, k.sentinel, Code(err))
			}
		}
	}
	if matched != 1 || errors.Is(err, ErrDecode) || errors.Is(err, ErrUnknownEventType) {
		t.Fatalf("%s: %v (%T) is not exactly one of the deciders' errors", cmd, err, err)
	}
	if !slices.Contains(allowed, Code(err)) {
		t.Fatalf("%s refused with %q (%v), want one of %q", cmd, Code(err), err, allowed)
	}
	if ve != nil {
		if len(ve.Fields) == 0 {
			t.Fatalf("%s: a validation error without fields", cmd)
		}
		for _, fe := range ve.Fields {
			if fe.Field == "" || !slices.Contains(fieldCodesKnown, fe.Code) || !strings.HasPrefix(fe.Message, fe.Field+": ") {
				t.Fatalf("%s: malformed field error %+v", cmd, fe)
			}
		}
	}
	if le != nil && le.Command != cmd {
		t.Fatalf("lifecycle error names %q, the command was %q", le.Command, cmd)
	}
}

// traceOf is how a trace shows a refusal: "name:code", with the fields for a validation error, e.g.
// "revise:validation(title=required)".
func traceOf(name string, err error) string {
	out := name + ":" + Code(err)
	var ve *ValidationError
	if errors.As(err, &ve) {
		fields := make([]string, len(ve.Fields))
		for i, f := range ve.Fields {
			fields[i] = f.Field + "=" + f.Code
		}
		out += "(" + strings.Join(fields, " ") + ")"
	}
	return out
}

// checkDeterministic decides again and wants the same answer. It and the probes compare with
// reflect.DeepEqual, which is much faster than cmp.Equal, on values built the same way (times from
// Context.at, lists from the same appends); the fold through the codec is compared with cmp.Equal,
// which compares times with Time.Equal.
func checkDeterministic[S, C any](t *testing.T, decide func(S, C, Context) ([]Event, error), s S, c C, ctx Context,
	events []Event, err error) {
	t.Helper()
	events2, err2 := decide(s, c, ctx)
	if !reflect.DeepEqual(events, events2) || fmt.Sprint(err) != fmt.Sprint(err2) {
		t.Fatalf("the same decision twice differs: %v vs %v\n%s", err, err2, cmp.Diff(events, events2))
	}
}

// wantAt is the "at" a decision at ctx must stamp on its events.
func wantAt(ctx Context) time.Time {
	if ctx.Now.IsZero() {
		return time.Time{}
	}
	return ctx.Now.UTC()
}

// maxFuzzSteps bounds the commands a program runs, so that every input runs quickly.
const maxFuzzSteps = 200

// ---- FuzzItemLifecycle ----

// itemEventOf is the event type each item command records.
var itemEventOf = map[string]string{
	CmdPropose: TypeRoadmapItemProposed, CmdRevise: TypeRoadmapItemRevised, CmdApprove: TypeRoadmapItemApproved,
	CmdRequestChanges: TypeChangesRequested, CmdReject: TypeRoadmapItemRejected, CmdStart: TypeImplementationStarted,
	CmdSubmitUpdate: TypeRoadmapUpdateSubmitted, CmdCorrectMeasurement: TypeMeasurementCorrected,
	CmdPutOnHold: TypeItemPutOnHold, CmdResume: TypeItemResumed, CmdComplete: TypeRoadmapItemCompleted,
	CmdCancel: TypeRoadmapItemCancelled,
}

// forcedItemRefusal is the refusal that the documented order of checks (role, existence, the
// actor's city, the stage, then the fields) imposes before the fields are looked at, or "" when the
// fields decide. The stages come from lifecycleSpec, written independently of the decider.
func forcedItemRefusal(s RoadmapItem, c ItemCommand, ctx Context) string {
	cmd := c.CommandName()
	if Authorize(ctx, cmd, "") != nil {
		return CodeForbidden
	}
	if p, ok := c.(ProposeRoadmapItem); ok {
		switch {
		case Authorize(ctx, cmd, p.City) != nil:
			return CodeForbidden
		case s.Stage != "":
			return CodeAlreadyExists
		}
		return ""
	}
	switch {
	case s.Stage == "":
		return CodeNotFound
	case Authorize(ctx, cmd, s.City) != nil:
		return CodeForbidden
	case !slices.Contains(lifecycleSpec[cmd].from, s.Stage):
		return CodeLifecycle
	}
	return ""
}

// FuzzItemLifecycle runs a program of item commands against one item stream. After each accepted
// command the lifecycle invariants must hold (checkItemStep) and the model of measured values and
// reached milestones must agree; each refusal must be one of the deciders' typed errors, the one the
// documented order of checks imposes; every state reached is probed with every kind of command
// (probeItem); at the end, folding every recorded event from scratch, through the codec, must give
// back every state the commands went through.
func FuzzItemLifecycle(f *testing.F) {
	for _, seed := range itemSeeds {
		f.Add(seed.program)
	}
	c := NewCodec()
	f.Fuzz(func(t *testing.T, program []byte) {
		runItemProgram(t, c, program)
	})
}

// runItemProgram runs program and returns its trace, per command "name:ok" or a refusal as traceOf
// writes it, and the final state.
func runItemProgram(t *testing.T, c *Codec, program []byte) ([]string, RoadmapItem) {
	t.Helper()
	r := &fuzzInput{b: program}
	var (
		state   RoadmapItem
		trace   []string
		stored  []wire
		states  []RoadmapItem          // states[i] is the state after stored[i]
		values  = map[string]float64{} // a model: update id -> measured value in force
		reached []string               // a model: milestones reached, in order
		now     = t0
	)
	probeItem(t, state, now)
	for step := 0; r.more() && step < maxFuzzSteps; step++ {
		st := r.step()
		op := st.byte() % numItemOps
		ctx := st.readStep(&now)
		cmd := st.readItemCommand(op)
		outcome, e, after := decideItemChecked(t, state, cmd, ctx)
		trace = append(trace, outcome)
		if e == nil {
			continue
		}
		state = after
		stored = append(stored, encodeWire(t, c, e))
		states = append(states, state)
		probeItem(t, state, now)

		switch cmd := cmd.(type) {
		case SubmitRoadmapUpdate:
			if cmd.Measurement != nil {
				values[cmd.UpdateID] = cmd.Measurement.Value
			}
			reached = append(reached, cmd.MilestonesReached...)
		case CorrectMeasurement:
			values[cmd.UpdateID] = cmd.Value
		}
		got := map[string]float64{}
		for _, u := range state.Updates {
			if u.Measured {
				got[u.ID] = u.Value
			}
		}
		if !maps.Equal(values, got) {
			t.Fatalf("step %d: measured values %v, model %v", step, got, values)
		}
		if !slices.Equal(reached, state.MilestonesReached) {
			t.Fatalf("step %d: reached %v, model %v", step, state.MilestonesReached, reached)
		}
	}
	var refold RoadmapItem
	for i, w := range stored {
		refold = EvolveItem(refold, decodeWire(t, c, w))
		if !cmp.Equal(states[i], refold) {
			t.Fatalf("state after event %d (%s) differs from the fold from scratch (-decided +refolded):\n%s",
				i, w.typ, cmp.Diff(states[i], refold))
		}
	}
	return trace, state
}

// decideItemChecked decides cmd in state s and checks the answer: a refusal must be a typed error,
// the one the documented order of checks imposes (or one the command's fields may cause); an
// acceptance must record one event of the command's type and keep the lifecycle invariants. It returns
// the trace entry, the event (nil when refused) and the state after it.
func decideItemChecked(t *testing.T, s RoadmapItem, cmd ItemCommand, ctx Context) (string, Event, RoadmapItem) {
	t.Helper()
	name := cmd.CommandName()
	events, err := DecideItem(s, cmd, ctx)
	checkDeterministic(t, DecideItem, s, cmd, ctx, events, err)
	forced := forcedItemRefusal(s, cmd, ctx)
	if err != nil {
		switch {
		case forced != "":
			checkRefusal(t, name, events, err, forced)
		case name == CmdSubmitUpdate:
			checkRefusal(t, name, events, err, CodeValidation, CodeAlreadyExists)
		case name == CmdCorrectMeasurement:
			checkRefusal(t, name, events, err, CodeValidation, CodeNotFound)
		default:
			checkRefusal(t, name, events, err, CodeValidation)
		}
		return traceOf(name, err), nil, s
	}
	if forced != "" {
		t.Fatalf("%s accepted, want %s (stage %q, %s of %q)", name, forced, s.Stage, ctx.Role, ctx.City)
	}
	if len(events) != 1 || events[0].EventType() != itemEventOf[name] {
		t.Fatalf("%s recorded %v", name, events)
	}
	after := EvolveItem(s, events[0])
	checkItemStep(t, s, after, cmd, events[0].(ItemEvent), ctx)
	return name + ":ok", events[0], after
}

// probeItem gives every kind of item command, as a coordinator, to a state a program reached, with
// the same checks as the program's own commands. So every stage reached is checked against the whole
// lifecycle table, whichever commands the fuzzer happens to pick: a command allowed in a stage it must
// not be is found as soon as a program reaches that stage. The probes decide on a copy of s whose
// slices have room to grow, and two of them (the updates) append to the same state: an Evolve that
// wrote into memory its input shares would change the other's result (states are shared between
// goroutines, see EvolveItem).
func probeItem(t *testing.T, s RoadmapItem, now time.Time) {
	t.Helper()
	ctx := Context{Now: now, Actor: "probe", Role: RoleCoordinator}
	shared := itemWithRoom(s)
	type result struct {
		e     Event
		after RoadmapItem
	}
	var results []result
	for _, cmd := range itemProbes(s) {
		if _, e, after := decideItemChecked(t, shared, cmd, ctx); e != nil {
			results = append(results, result{e, after})
		}
	}
	if !reflect.DeepEqual(s, shared) {
		t.Fatalf("deciding and evolving changed the state they were given:\n%s", cmp.Diff(s, shared))
	}
	for _, r := range results {
		if want := EvolveItem(itemWithRoom(s), r.e); !reflect.DeepEqual(want, r.after) {
			t.Fatalf("the state after %s was overwritten by another Evolve of the same state (-alone +shared):\n%s",
				r.e.EventType(), cmp.Diff(want, r.after))
		}
	}
}

// itemProbes are one command of each kind, valid where the stage allows it: the samples, two
// updates (fresh ids, each reaching another milestone not reached yet, measured when the item has an
// indicator) and a correction of the first measured update.
func itemProbes(s RoadmapItem) []ItemCommand {
	samples := sampleItemCommands()
	var probes []ItemCommand
	for _, name := range slices.Sorted(maps.Keys(samples)) {
		if name != CmdSubmitUpdate && name != CmdCorrectMeasurement {
			probes = append(probes, samples[name])
		}
	}
	var unreached []string
	for _, m := range s.Milestones {
		if !s.MilestoneReached(m.ID) {
			unreached = append(unreached, m.ID)
		}
	}
	for i := range 2 {
		u := SubmitRoadmapUpdate{UpdateID: fmt.Sprintf("ffffffff-ffff-4fff-8fff-%012d", i+1), Narrative: "probe"}
		if i < len(unreached) {
			u.MilestonesReached = []string{unreached[i]}
		}
		if s.Indicator != nil {
			u.Measurement = &Measurement{Value: float64(i), Period: "2026"}
		}
		probes = append(probes, u)
	}
	correction := samples[CmdCorrectMeasurement]
	if i := slices.IndexFunc(s.Updates, func(u UpdateRecord) bool { return u.Measured }); i >= 0 {
		correction = CorrectMeasurement{UpdateID: s.Updates[i].ID, Value: s.Updates[i].Value + 1, Reason: "probe"}
	}
	return append(probes, correction)
}

// itemWithRoom returns s with its growing slices copied into arrays with spare capacity (nil stays nil).
func itemWithRoom(s RoadmapItem) RoadmapItem {
	s.Updates = withRoom(s.Updates)
	s.MilestonesReached = withRoom(s.MilestonesReached)
	return s
}

func withRoom[T any](s []T) []T {
	if s == nil {
		return nil
	}
	return append(make([]T, 0, len(s)+4), s...)
}

// checkItemStep checks the lifecycle invariants after an accepted command.
func checkItemStep(t *testing.T, before, after RoadmapItem, cmd ItemCommand, e ItemEvent, ctx Context) {
	t.Helper()
	name := cmd.CommandName()
	switch {
	case !after.Stage.Valid():
		t.Fatalf("%s: invalid stage %q", name, after.Stage)
	case before.Stage.Terminal() && after.Stage != before.Stage:
		t.Fatalf("%s left the terminal stage %s for %s", name, before.Stage, after.Stage)
	case lifecycleSpec[name].to != "" && after.Stage != lifecycleSpec[name].to,
		lifecycleSpec[name].to == "" && after.Stage != before.Stage:
		t.Fatalf("%s moved %q -> %q", name, before.Stage, after.Stage)
	}
	wantID, wantCity := before.ID, before.City
	if p, ok := cmd.(ProposeRoadmapItem); ok {
		wantID, wantCity = p.ItemID, p.City
	}
	if id, city := e.Item(); after.ID != wantID || after.City != wantCity || id != wantID || city != wantCity {
		t.Fatalf("%s: identity %s/%s, event %s/%s, want %s/%s", name, after.ID, after.City, id, city, wantID, wantCity)
	}
	if !IsUUID(after.ID) || !IsSlug(after.City) {
		t.Fatalf("%s: malformed identity %q/%q", name, after.ID, after.City)
	}
	if at := wantAt(ctx); after.ChangedAt != at || eventAt(e) != at {
		t.Fatalf("%s: at %v, event at %v, want %v", name, after.ChangedAt, eventAt(e), at)
	}
	if after.ProgressReported && (after.ProgressPercent < 0 || after.ProgressPercent > 100) {
		t.Fatalf("%s: progress %d", name, after.ProgressPercent)
	}
	for i, id := range after.MilestonesReached {
		if !hasMilestone(after.Milestones, id) || slices.Index(after.MilestonesReached, id) != i {
			t.Fatalf("%s: reached milestones %v are not distinct milestones of %v", name, after.MilestonesReached, after.Milestones)
		}
	}
	for i, u := range after.Updates {
		if !IsUUID(u.ID) || slices.IndexFunc(after.Updates, func(v UpdateRecord) bool { return v.ID == u.ID }) != i {
			t.Fatalf("%s: bad or repeated update id %q", name, u.ID)
		}
		if u.Measured && (math.IsNaN(u.Value) || math.IsInf(u.Value, 0)) {
			t.Fatalf("%s: update %s measured %v", name, u.ID, u.Value)
		}
	}
	if len(after.Updates) > 0 && !slices.Contains([]Stage{StageInProgress, StageOnHold, StageCompleted, StageCancelled}, after.Stage) {
		t.Fatalf("%s: updates in stage %s", name, after.Stage)
	}
	if len(after.Updates) < len(before.Updates) || len(after.MilestonesReached) < len(before.MilestonesReached) {
		t.Fatalf("%s forgot updates or reached milestones", name)
	}
}

// ---- FuzzCollaboratory ----

// The collaboratory commands, by choice.
const (
	opLaunch byte = iota
	opJoin
	opRegister
	opRemove
	numCollaboratoryOps
)

// city chooses a city slug among choices; the choice "city-n" becomes "city-<n>", n from the next byte.
func (r *fuzzInput) city(choices ...string) string {
	c := pick(r, choices...)
	if c == "city-n" {
		return fmt.Sprintf("city-%d", r.byte()%8)
	}
	return c
}

// readCollaboratoryCommand reads one collaboratory command's payload (the op is already read).
func (r *fuzzInput) readCollaboratoryCommand(op byte) CollaboratoryCommand {
	switch op {
	case opLaunch:
		l := LaunchCollaboratory{Slug: pick(r, "csc", "pilot-2", "CSC", "", "csc-"), Name: r.text(), Phase: r.text()}
		// 0 launches with every founding city; otherwise bits 0..6 pick founding cities and bit 7 adds
		// a city that is not one and repeats the first.
		switch mask := r.byte(); mask {
		case 0:
			for _, city := range FoundingCities() {
				l.FoundingCities = append(l.FoundingCities, city.ID)
			}
		default:
			for i, city := range FoundingCities() {
				if mask&(1<<i) != 0 {
					l.FoundingCities = append(l.FoundingCities, city.ID)
				}
			}
			if mask&0x80 != 0 {
				l.FoundingCities = append(l.FoundingCities, "lagos")
				if len(l.FoundingCities) > 1 {
					l.FoundingCities = append(l.FoundingCities, l.FoundingCities[0])
				}
			}
		}
		return l
	case opJoin:
		id := r.city("lagos", "montreal", "berlin", "city-n", "Bad_Slug", "")
		return JoinCollaboratory{City: City{ID: id, Name: r.text(), Country: pick(r, "NG", "ng", "", "NGA")}}
	case opRegister:
		id := r.uuid()
		city := r.city("berlin", "dakar", "lagos", "montreal", "city-n", "atlantis", "")
		return RegisterMember{MemberID: id, City: city, Name: r.text(),
			Expertise: pick(r, ExpertiseMayor, ExpertiseFinance, ExpertiseCulture, ExpertiseScience, ExpertiseStaff, "", "wizard")}
	default:
		return RemoveMember{MemberID: r.uuid(), Reason: r.text()}
	}
}

var collaboratoryEventOf = map[string]string{
	CmdLaunch: TypeCollaboratoryLaunched, CmdJoin: TypeCityJoined, CmdRegisterMember: TypeMemberRegistered,
	CmdRemoveMember: TypeMemberRemoved,
}

// forcedCollaboratoryRefusal is the refusal the documented order (role, launched, fields, then the
// city or member) imposes before the fields are looked at, or "" when the fields decide.
func forcedCollaboratoryRefusal(s Collaboratory, c CollaboratoryCommand, ctx Context) string {
	_, launch := c.(LaunchCollaboratory)
	switch {
	case ctx.Role != RoleCoordinator && ctx.Role != RoleAdmin: // DESIGN.md §4: coordinators and admins only
		return CodeForbidden
	case launch && s.Launched:
		return CodeAlreadyExists
	case !launch && !s.Launched:
		return CodeNotFound
	}
	return ""
}

// FuzzCollaboratory runs a program of collaboratory commands against one collaboratory stream, with
// the same kind of checks as FuzzItemLifecycle: the roster's invariants after each accepted command,
// typed refusals in the documented order, and the fold from scratch through the codec.
func FuzzCollaboratory(f *testing.F) {
	for _, seed := range collaboratorySeeds {
		f.Add(seed.program)
	}
	c := NewCodec()
	f.Fuzz(func(t *testing.T, program []byte) {
		runCollaboratoryProgram(t, c, program)
	})
}

func runCollaboratoryProgram(t *testing.T, c *Codec, program []byte) ([]string, Collaboratory) {
	t.Helper()
	r := &fuzzInput{b: program}
	var (
		state  Collaboratory
		trace  []string
		stored []wire
		states []Collaboratory
		now    = t0
	)
	probeCollaboratory(t, state, now)
	for step := 0; r.more() && step < maxFuzzSteps; step++ {
		st := r.step()
		op := st.byte() % numCollaboratoryOps
		ctx := st.readStep(&now)
		cmd := st.readCollaboratoryCommand(op)
		outcome, e, after := decideCollaboratoryChecked(t, state, cmd, ctx)
		trace = append(trace, outcome)
		if e == nil {
			continue
		}
		state = after
		stored = append(stored, encodeWire(t, c, e))
		states = append(states, state)
		probeCollaboratory(t, state, now)
	}
	var refold Collaboratory
	for i, w := range stored {
		refold = EvolveCollaboratory(refold, decodeWire(t, c, w))
		if !cmp.Equal(states[i], refold) {
			t.Fatalf("state after event %d (%s) differs from the fold from scratch (-decided +refolded):\n%s",
				i, w.typ, cmp.Diff(states[i], refold))
		}
	}
	return trace, state
}

// decideCollaboratoryChecked is decideItemChecked for collaboratory commands.
func decideCollaboratoryChecked(t *testing.T, s Collaboratory, cmd CollaboratoryCommand, ctx Context) (string, Event, Collaboratory) {
	t.Helper()
	name := cmd.CommandName()
	events, err := DecideCollaboratory(s, cmd, ctx)
	checkDeterministic(t, DecideCollaboratory, s, cmd, ctx, events, err)
	forced := forcedCollaboratoryRefusal(s, cmd, ctx)
	if err != nil {
		switch {
		case forced != "":
			checkRefusal(t, name, events, err, forced)
		case name == CmdJoin || name == CmdRegisterMember:
			checkRefusal(t, name, events, err, CodeValidation, CodeAlreadyExists)
		case name == CmdRemoveMember:
			checkRefusal(t, name, events, err, CodeValidation, CodeNotFound)
		default:
			checkRefusal(t, name, events, err, CodeValidation)
		}
		return traceOf(name, err), nil, s
	}
	if forced != "" {
		t.Fatalf("%s accepted, want %s", name, forced)
	}
	if len(events) != 1 || events[0].EventType() != collaboratoryEventOf[name] {
		t.Fatalf("%s recorded %v", name, events)
	}
	after := EvolveCollaboratory(s, events[0])
	checkCollaboratoryStep(t, s, after, cmd, events[0], ctx)
	return name + ":ok", events[0], after
}

// probeCollaboratory is probeItem for collaboratory commands: each kind, as a coordinator, with two
// joins and two registrations on the same state.
func probeCollaboratory(t *testing.T, s Collaboratory, now time.Time) {
	t.Helper()
	ctx := Context{Now: now, Actor: "probe", Role: RoleCoordinator}
	shared := s
	shared.Cities = withRoom(s.Cities)
	type result struct {
		e     Event
		after Collaboratory
	}
	var results []result
	for _, cmd := range collaboratoryProbes(s) {
		if _, e, after := decideCollaboratoryChecked(t, shared, cmd, ctx); e != nil {
			results = append(results, result{e, after})
		}
	}
	if !reflect.DeepEqual(s, shared) {
		t.Fatalf("deciding and evolving changed the state they were given:\n%s", cmp.Diff(s, shared))
	}
	for _, r := range results {
		alone := s
		alone.Cities = withRoom(s.Cities)
		if want := EvolveCollaboratory(alone, r.e); !reflect.DeepEqual(want, r.after) {
			t.Fatalf("the state after %s was overwritten by another Evolve of the same state (-alone +shared):\n%s",
				r.e.EventType(), cmp.Diff(want, r.after))
		}
	}
}

// collaboratoryProbes are one command of each kind, valid where the state allows it: a launch, two
// joins and two registrations (fresh cities and ids) and the removal of the first active member.
func collaboratoryProbes(s Collaboratory) []CollaboratoryCommand {
	city := "berlin"
	if len(s.Cities) > 0 {
		city = s.Cities[0].ID
	}
	removal := sampleCollaboratoryCommands()[CmdRemoveMember]
	for _, id := range slices.Sorted(maps.Keys(s.Members)) {
		if !s.Members[id].Removed {
			removal = RemoveMember{MemberID: id, Reason: "probe"}
			break
		}
	}
	probes := []CollaboratoryCommand{sampleCollaboratoryCommands()[CmdLaunch]}
	for i := range 2 {
		probes = append(probes,
			JoinCollaboratory{City: City{ID: fmt.Sprintf("probe-%d", i), Name: "Probe", Country: "XX"}},
			RegisterMember{MemberID: fmt.Sprintf("eeeeeeee-eeee-4eee-8eee-%012d", i+1), City: city, Name: "Probe",
				Expertise: ExpertiseStaff})
	}
	return append(probes, removal)
}

// checkCollaboratoryStep checks the roster's invariants after an accepted command.
func checkCollaboratoryStep(t *testing.T, before, after Collaboratory, cmd CollaboratoryCommand, e Event, ctx Context) {
	t.Helper()
	name := cmd.CommandName()
	if !after.Launched || !IsSlug(after.Slug) || (before.Launched && after.Slug != before.Slug) {
		t.Fatalf("%s: launched %v, slug %q (was %q)", name, after.Launched, after.Slug, before.Slug)
	}
	if eventAtCollaboratory(e) != wantAt(ctx) {
		t.Fatalf("%s: event at %v, want %v", name, eventAtCollaboratory(e), wantAt(ctx))
	}
	// Cities only ever join, once each; the founding ones are catalogue entries, listed first.
	if len(after.Cities) < len(before.Cities) || !slices.Equal(before.Cities, after.Cities[:len(before.Cities)]) {
		t.Fatalf("%s changed the cities already taking part: %v -> %v", name, before.Cities, after.Cities)
	}
	for i, city := range after.Cities {
		if !IsSlug(city.ID) || slices.IndexFunc(after.Cities, func(o CityEntry) bool { return o.ID == city.ID }) != i {
			t.Fatalf("%s: bad or repeated city %q", name, city.ID)
		}
		if fc, ok := FoundingCity(city.ID); city.Founding && (!ok || fc != city.City || (i > 0 && !after.Cities[i-1].Founding)) {
			t.Fatalf("%s: founding city %+v is not a catalogue entry listed first", name, city)
		}
	}
	// Members are never forgotten, never un-removed, never changed but by their removal; each belongs
	// to a city that takes part.
	for id, m := range before.Members {
		n, ok := after.Members[id]
		n.Removed, n.RemovedAt, n.RemoveReason = m.Removed, m.RemovedAt, m.RemoveReason
		if !ok || n != m || (m.Removed && !after.Members[id].Removed) {
			t.Fatalf("%s changed member %s: %+v -> %+v", name, id, m, after.Members[id])
		}
	}
	for id, m := range after.Members {
		if m.ID != id || !IsUUID(id) || !after.HasCity(m.City) {
			t.Fatalf("%s: member %q of %q (city taking part: %v)", name, id, m.City, after.HasCity(m.City))
		}
	}
	switch cmd := cmd.(type) {
	case LaunchCollaboratory:
		if len(after.Cities) != len(cmd.FoundingCities) {
			t.Fatalf("launch with %v gave cities %v", cmd.FoundingCities, after.Cities)
		}
	case JoinCollaboratory:
		if len(after.Cities) != len(before.Cities)+1 || after.Cities[len(before.Cities)].City != cmd.City ||
			after.Cities[len(before.Cities)].Founding {
			t.Fatalf("join of %+v gave cities %v", cmd.City, after.Cities)
		}
	case RegisterMember:
		if _, existed := before.Members[cmd.MemberID]; existed || len(after.Members) != len(before.Members)+1 {
			t.Fatalf("register %s: members %d -> %d (existed %v)", cmd.MemberID, len(before.Members), len(after.Members), existed)
		}
		if _, ok := after.ActiveMember(cmd.MemberID); !ok {
			t.Fatalf("register %s: not an active member", cmd.MemberID)
		}
	case RemoveMember:
		_, wasActive := before.ActiveMember(cmd.MemberID)
		if m := after.Members[cmd.MemberID]; !wasActive || !m.Removed || len(after.Members) != len(before.Members) {
			t.Fatalf("remove %s: was active %v, now %+v", cmd.MemberID, wasActive, m)
		}
	}
}

func eventAtCollaboratory(e Event) time.Time {
	switch e := e.(type) {
	case CollaboratoryLaunched:
		return e.At
	case CityJoined:
		return e.At
	case MemberRegistered:
		return e.At
	case MemberRemoved:
		return e.At
	}
	return time.Time{}
}

// ---- seeds ----

// A seed program is written step by step: step(op, actor, payload...) with the clock one hour on.
// The payload bytes are the choices readItemCommand / readCollaboratoryCommand read, in order; 0 is
// the ordinary choice, and trailing zeros may be left out.
func step(op, actor byte, payload ...byte) []byte {
	return append([]byte{byte(3 + len(payload)), op, actor, 60}, payload...)
}

func program(steps ...[]byte) []byte { return slices.Concat(steps...) }

// Actor choices (indexes into fuzzActors).
const (
	aCoordinator byte = iota
	aBerlin
	aMadrid
	aAdmin
	aAuditor
	aNoCity
	aNoRole
	aBadRole
)

type seedProgram struct {
	name    string
	program []byte
	trace   []string // what runItemProgram / runCollaboratoryProgram must report
}

// Item payloads: propose = [id, city, fields...]; fields = [milestones, flaws, flaw...];
// submit = [id, progress?, p, measured?, float..., period, reached n, reached..., narrative, evidence n, ...];
// correct = [id, float..., reason].
var (
	propose3        = []byte{0, 0, 3, 0} // updateID1 as the item id, berlin, three milestones
	measuredUpdate1 = []byte{
		0,     // updateID1
		1, 45, // progress 40
		1, 0, 20, 0, // measured 5 (a small float: 20/4), period 2026-Q3
		1, 0, // reaches m1
		0,       // narrative "because"
		1, 0, 0, // one evidence entry, https URI and a good hash
	}
)

var itemSeeds = []seedProgram{
	{
		name: "to completion, then a correction of a closed item",
		program: program(
			step(opPropose, aCoordinator, propose3...),
			step(opApprove, aCoordinator),
			step(opStart, aBerlin),
			step(opSubmitUpdate, aBerlin, measuredUpdate1...),
			step(opCorrect, aBerlin, 0, 0, 24, 0), // updateID1 -> 6
			step(opCorrect, aBerlin, 0, 0, 24, 0), // 6 again: unchanged
			step(opHold, aBerlin, 0),
			step(opSubmitUpdate, aBerlin, 1, 0, 0, 1, 1, 0), // updateID2, refused: on hold
			step(opResume, aAdmin),
			step(opSubmitUpdate, aBerlin, 1, 1, 105, 0, 1, 1, 0, 0), // updateID2, progress 100, reaches m2
			step(opComplete, aBerlin),
			step(opCorrect, aCoordinator, 0, 0, 28, 0), // updateID1 -> 7, after completion
			step(opCancel, aCoordinator, 0),
		),
		trace: []string{"propose:ok", "approve:ok", "start:ok", "submit_update:ok", "correct_measurement:ok",
			"correct_measurement:validation(value=unchanged)", "hold:ok",
			"submit_update:lifecycle", "resume:ok", "submit_update:ok", "complete:ok", "correct_measurement:ok",
			"cancel:lifecycle"},
	},
	{
		name: "review loop, then rejected",
		program: program(
			step(opPropose, aBerlin, 3, 0, 0, 0), // itemID2, berlin, no milestones
			step(opRequestChanges, aCoordinator, 0),
			step(opRevise, aBerlin, 1, 1, 0, 1), // one milestone, flaw: empty title
			step(opRevise, aBerlin, 1, 0),
			step(opRequestChanges, aCoordinator, 2), // blank comment
			step(opApprove, aBerlin),                // members do not approve
			step(opReject, aCoordinator, 0),
			step(opApprove, aCoordinator),
			step(opRevise, aBerlin, 0, 0),
		),
		trace: []string{"propose:ok", "request_changes:ok", "revise:validation(title=required)", "revise:ok",
			"request_changes:validation(comment=required)",
			"approve:forbidden", "reject:ok", "approve:lifecycle", "revise:lifecycle"},
	},
	{
		name: "who may do what, and on what",
		program: program(
			step(opApprove, aCoordinator),              // no item yet
			step(opPropose, aAuditor, propose3...),     // auditors never write
			step(opPropose, aMadrid, propose3...),      // for berlin
			step(opPropose, aNoCity, 0, 0, 0, 0),       // a member without a city
			step(opPropose, aCoordinator, 0, 2, 0, 0),  // lagos does not take part
			step(opPropose, aMadrid, 0, 1, 2, 0),       // madrid, for madrid
			step(opPropose, aCoordinator, propose3...), // the item exists
			step(opCancel, aBerlin, 0),                 // not berlin's item
			step(opStart, aMadrid),                     // not approved
			step(opCancel, aNoRole, 0),                 // no role
			step(opCancel, aBadRole, 0),                // unknown role
			step(opCancel, aMadrid, 0),                 // its own city
		),
		trace: []string{"approve:not_found", "propose:forbidden", "propose:forbidden", "propose:forbidden",
			"propose:validation(city=unknown_city)", "propose:ok", "propose:already_exists", "cancel:forbidden", "start:lifecycle",
			"cancel:forbidden", "cancel:forbidden", "cancel:ok"},
	},
	{
		name: "updates and corrections refused for their fields",
		program: program(
			step(opPropose, aCoordinator, 0, 0, 2, 1, 4), // no indicator
			step(opApprove, aAdmin),
			step(opStart, aCoordinator),
			step(opSubmitUpdate, aBerlin, 0, 0, 1, 0, 4, 0, 0, 0),           // a measurement without an indicator
			step(opSubmitUpdate, aBerlin, 0, 1, 110, 0, 2, 4, 0, 0, 0),      // progress 105, mX and m1
			step(opSubmitUpdate, aBerlin, 0, 0, 0, 1, 0, 0, 3),              // m1, 21 evidence entries
			step(opSubmitUpdate, aBerlin, 0, 0, 0, 1, 0, 0, 0),              // m1: accepted
			step(opSubmitUpdate, aBerlin, 0, 0, 0, 0, 0, 0),                 // updateID1 again
			step(opSubmitUpdate, aBerlin, 1, 0, 0, 1, 0, 0, 0),              // m1 again
			step(opCorrect, aBerlin, 2, 0, 4, 0),                            // an update that does not exist
			step(opCorrect, aBerlin, 0, 0, 4, 0),                            // an update without a measurement
			step(opCorrect, aBerlin, 5, 1, 0, 0, 0, 0, 0, 0, 0xf8, 0x7f, 0), // not a UUID, NaN
			step(opHold, aBerlin, 4, 2, 0xff, 0xfe),                         // a reason that is not UTF-8
		),
		trace: []string{"propose:ok", "approve:ok", "start:ok",
			"submit_update:validation(measurement=no_indicator)",
			"submit_update:validation(progressPercent=range milestonesReached[0]=unknown_milestone)",
			"submit_update:validation(evidence=too_many)",
			"submit_update:ok",
			"submit_update:already_exists",
			"submit_update:validation(milestonesReached[0]=already_reached)",
			"correct_measurement:not_found",
			"correct_measurement:validation(updateId=no_measurement)",
			"correct_measurement:validation(updateId=format value=range)",
			"hold:validation(reason=format)"},
	},
}

// Collaboratory payloads: launch = [slug, name, phase, cities]; join = [city, (n), name, country];
// register = [id, city, (n), name, expertise]; remove = [id, reason].
var collaboratorySeeds = []seedProgram{
	{
		name: "a roster over time",
		program: program(
			step(opLaunch, aCoordinator, 0, 0, 0, 0),
			step(opJoin, aCoordinator, 0, 0, 0),        // lagos
			step(opRegister, aAdmin, 0, 0, 0, 0),       // updateID1 for berlin
			step(opRegister, aCoordinator, 1, 2, 0, 3), // updateID2 for lagos
			step(opRemove, aCoordinator, 0, 0),
			step(opRegister, aCoordinator, 0, 1, 0, 0), // a removed id again
			step(opRemove, aCoordinator, 0, 0),         // removed already
			step(opJoin, aCoordinator, 0, 0, 0),        // lagos again
			step(opJoin, aCoordinator, 2, 0, 0),        // a founding city
			step(opLaunch, aCoordinator, 0, 0, 0, 0),
			step(opJoin, aCoordinator, 3, 5, 0, 0),              // city-5
			step(opRegister, aCoordinator, 4, 9, 0, 4, 5, 0, 4), // a derived id for city-5
		),
		trace: []string{"launch:ok", "join:ok", "register_member:ok", "register_member:ok", "remove_member:ok",
			"register_member:already_exists", "remove_member:not_found", "join:already_exists", "join:already_exists",
			"launch:already_exists", "join:ok", "register_member:ok"},
	},
	{
		name: "before the launch, and who may launch",
		program: program(
			step(opJoin, aCoordinator, 0, 0, 0),
			step(opRegister, aCoordinator, 0, 0, 0, 0),
			step(opRemove, aCoordinator, 0, 0),
			step(opLaunch, aBerlin, 0, 0, 0, 0),
			step(opLaunch, aAuditor, 0, 0, 0, 0),
			step(opLaunch, aAdmin, 1, 0, 0, 0x05),      // pilot-2 with berlin and madrid
			step(opRegister, aCoordinator, 0, 1, 0, 0), // dakar does not take part
			step(opJoin, aCoordinator, 1, 0, 0),        // montreal
			step(opRegister, aCoordinator, 0, 3, 0, 2), // for montreal
			step(opJoin, aBerlin, 0, 0, 0),             // members do not admit cities
		),
		trace: []string{"join:not_found", "register_member:not_found", "remove_member:not_found", "launch:forbidden",
			"launch:forbidden", "launch:ok", "register_member:validation(city=unknown_city)", "join:ok", "register_member:ok",
			"join:forbidden"},
	},
	{
		name: "commands refused for their fields",
		program: program(
			step(opLaunch, aCoordinator, 2, 1, 2, 0x81), // CSC, no name, blank phase, berlin, lagos, berlin
			step(opLaunch, aCoordinator, 4, 0, 3, 0),    // csc-, a phase too long
			step(opLaunch, aCoordinator, 0, 0, 0, 0x7f),
			step(opJoin, aCoordinator, 4, 1, 1),        // Bad_Slug, no name, ng
			step(opJoin, aCoordinator, 0, 0, 3),        // NGA
			step(opRegister, aCoordinator, 5, 0, 0, 6), // not a UUID, wizard
			step(opRegister, aCoordinator, 7, 0, 0, 5), // the nil UUID, no expertise
			step(opRemove, aCoordinator, 0, 2),         // blank reason
			step(opRemove, aCoordinator, 0, 0),         // unknown member
		),
		trace: []string{
			"launch:validation(slug=format name=required phase=required foundingCities[1]=unknown_city foundingCities[2]=duplicate)",
			"launch:validation(slug=format phase=too_long)",
			"launch:ok",
			"join:validation(city.id=format city.name=required city.country=format)",
			"join:validation(city.country=format)",
			"register_member:validation(memberId=format expertise=one_of)",
			"register_member:validation(memberId=format expertise=required)",
			"remove_member:validation(reason=required)",
			"remove_member:not_found"},
	},
}

// TestFuzzSeeds runs the seed programs outside the fuzzer and checks that each does what its name
// says, so that the seeds stay meaningful when the program layout changes.
func TestFuzzSeeds(t *testing.T) {
	c := NewCodec()
	for _, seed := range itemSeeds {
		t.Run("item/"+seed.name, func(t *testing.T) {
			trace, _ := runItemProgram(t, c, seed.program)
			if diff := cmp.Diff(seed.trace, trace); diff != "" {
				t.Fatalf("trace (-want +got):\n%s", diff)
			}
		})
	}
	for _, seed := range collaboratorySeeds {
		t.Run("collaboratory/"+seed.name, func(t *testing.T) {
			trace, _ := runCollaboratoryProgram(t, c, seed.program)
			if diff := cmp.Diff(seed.trace, trace); diff != "" {
				t.Fatalf("trace (-want +got):\n%s", diff)
			}
		})
	}
}
