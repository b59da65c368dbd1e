package projections

import (
	"strconv"
	"strings"
	"time"

	"github.com/metropolis/csc/domain"
	"github.com/metropolis/csc/eventstore"
)

// historyRec is what the read models keep of one event: enough to say who did what and when, in
// plain words, at query time. It is compact on purpose (one per event of the log), and holds no
// pointers, so that the garbage collector does not scan the histories.
type historyRec struct {
	pos   eventstore.Position
	at    int64   // recorded time, Unix nanoseconds
	text  textRef // title, comment, reason or measurement period, by kind
	aux   textRef // milestones reached, stage cancelled from, period corrected, by kind
	a, b  float64
	actor uint32 // interned (state.names)
	role  uint32 // interned (state.names)
	n     uint16 // evidence count, founding cities
	kind  eventKind
	flags uint8
	from  uint8 // item events: the stage before the event (stageRef)
	prev  uint8 // updates with a progress: the progress reported before (progressRef)
}

type eventKind uint8

const (
	kindLaunched eventKind = iota + 1
	kindCityJoined
	kindMemberRegistered
	kindMemberRemoved
	kindProposed
	kindRevised
	kindApproved
	kindChangesRequested
	kindRejected
	kindStarted
	kindUpdate
	kindCorrected
	kindOnHold
	kindResumed
	kindCompleted
	kindCancelled
)

const (
	flagProgress    uint8 = 1 << iota // a is a progress percentage
	flagMeasurement                   // b is a measured value, text its period
)

// activityRec is an entry of the activity feed.
type activityRec struct {
	rec    historyRec
	typ    string
	stream string
	city   string
	member string
	item   *item
}

// activityCap is the number of latest events the activity feed keeps.
const activityCap = 1000

// ring keeps the latest activityCap entries.
type ring struct {
	buf  []activityRec
	next int // index of the slot the next push writes, once buf is full
}

func (r *ring) push(a activityRec) {
	if len(r.buf) < activityCap {
		r.buf = append(r.buf, a)
		return
	}
	r.buf[r.next] = a
	r.next = (r.next + 1) % activityCap
}

// latest returns up to n entries, newest first.
func (r *ring) latest(n int) []activityRec {
	n = min(n, len(r.buf))
	out := make([]activityRec, 0, n)
	for i := range n {
		j := len(r.buf) - 1 - i
		if len(r.buf) == activityCap {
			j = (r.next - 1 - i + 2*activityCap) % activityCap
		}
		out = append(out, r.buf[j])
	}
	return out
}

func joinList(ids []string) string { return strings.Join(ids, ", ") }

// texts keeps the strings of the history records in large byte chunks, appended to only.
type texts struct {
	chunks [][]byte
}

// textRef names a string kept in texts; the zero textRef is "".
type textRef struct {
	chunk, off, n uint32
}

// textChunk is the size of a chunk of texts (a longer string gets a chunk of its own).
const textChunk = 1 << 20

// keep copies v into the texts and returns its reference.
func (t *texts) keep(v string) textRef {
	if v == "" {
		return textRef{}
	}
	last := len(t.chunks) - 1
	if last < 0 || len(t.chunks[last])+len(v) > cap(t.chunks[last]) {
		t.chunks = append(t.chunks, make([]byte, 0, max(textChunk, len(v))))
		last++
	}
	off := len(t.chunks[last])
	t.chunks[last] = append(t.chunks[last], v...)
	return textRef{chunk: uint32(last), off: uint32(off), n: uint32(len(v))}
}

// get returns the string r names.
func (t *texts) get(r textRef) string {
	if r.n == 0 {
		return ""
	}
	return string(t.chunks[r.chunk][r.off : r.off+r.n])
}

func quote(title string) string {
	if title == "" {
		return "an untitled item"
	}
	return "“" + title + "”"
}

func number(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }

// what describes the event of rec in plain words, naming the item subject ("the item" in an
// item's own history, its title and city in the activity feed): "approved the item",
// "submitted an update on the item: progress 40 %, measured 5000 m2 for 2026-Q3".
func (s *state) what(rec historyRec, unit, subject string) string {
	text, aux := s.texts.get(rec.text), s.texts.get(rec.aux)
	switch rec.kind {
	case kindProposed:
		return "proposed " + quote(text)
	case kindRevised:
		return "revised " + subject + " as " + quote(text)
	case kindApproved:
		return "approved " + subject
	case kindChangesRequested:
		return "requested changes to " + subject + ": " + text
	case kindRejected:
		return "rejected " + subject + ": " + text
	case kindStarted:
		return "started implementing " + subject
	case kindUpdate:
		var parts []string
		if rec.flags&flagProgress != 0 {
			parts = append(parts, "progress "+number(rec.a)+" %")
		}
		if rec.flags&flagMeasurement != 0 {
			parts = append(parts, "measured "+withUnit(rec.b, unit)+" for "+text)
		}
		if aux != "" {
			parts = append(parts, "milestones reached: "+aux)
		}
		if rec.n > 0 {
			parts = append(parts, strconv.Itoa(int(rec.n))+" evidence document"+plural(int(rec.n)))
		}
		w := "submitted an update on " + subject
		if len(parts) > 0 {
			w += ": " + strings.Join(parts, ", ")
		}
		return w
	case kindCorrected:
		w := "corrected the measurement"
		if aux != "" {
			w += " for " + aux
		}
		return w + " of " + subject + " from " + withUnit(rec.a, unit) + " to " + withUnit(rec.b, unit) + ": " + text
	case kindOnHold:
		return "put " + subject + " on hold: " + text
	case kindResumed:
		return "resumed " + subject
	case kindCompleted:
		return "completed " + subject
	case kindCancelled:
		w := "cancelled " + subject
		if aux != "" {
			w += " (it was " + stageWords(domain.Stage(aux)) + ")"
		}
		return w + ": " + text
	}
	return "recorded an event"
}

func withUnit(v float64, unit string) string {
	if unit == "" {
		return number(v)
	}
	return number(v) + " " + unit
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// who names the actor of rec: the member's name when the actor is a registered member, else the
// role and id ("coordinator coordinator-1"), else "someone".
func (s *state) who(rec historyRec) string {
	actor, role := s.name(rec.actor), s.name(rec.role)
	if m := s.members[actor]; m != nil && m.name != "" {
		return m.name
	}
	switch {
	case role != "" && actor != "":
		return role + " " + actor
	case actor != "":
		return actor
	case role != "":
		return "a " + role
	}
	return "someone"
}

func (s *state) actorName(actor string) string {
	if m := s.members[actor]; m != nil {
		return m.name
	}
	return ""
}

func (s *state) cityName(id string) string {
	if c := s.cities[id]; c != nil {
		return c.name
	}
	return id
}

// sentence renders an activity entry in plain words.
func (s *state) sentence(a activityRec) string {
	who := s.who(a.rec)
	switch a.rec.kind {
	case kindLaunched:
		return who + " launched the collaboratory " + quote(s.texts.get(a.rec.text)) + " with " + strconv.Itoa(int(a.rec.n)) + " founding cities"
	case kindCityJoined:
		return s.cityName(a.city) + " joined the collaboratory"
	case kindMemberRegistered, kindMemberRemoved:
		name, exp := a.member, ""
		if m := s.members[a.member]; m != nil {
			if m.name != "" {
				name = m.name
			}
			exp = string(m.expertise)
		}
		if a.rec.kind == kindMemberRemoved {
			return name + " left the " + s.cityName(a.city) + " delegation: " + s.texts.get(a.rec.text)
		}
		if exp != "" {
			exp = " (" + exp + ")"
		}
		return name + " joined the " + s.cityName(a.city) + " delegation" + exp
	}
	if a.item == nil {
		return who + " recorded " + a.typ
	}
	subject := quote(a.item.title) + " (" + s.cityName(a.city) + ")"
	if a.rec.kind == kindProposed {
		return who + " proposed " + quote(s.texts.get(a.rec.text)) + " (" + s.cityName(a.city) + ")"
	}
	return who + " " + s.what(a.rec, a.item.unit(), subject)
}

// unit is the unit of the item's indicator, or "".
func (it *item) unit() string {
	if it.indicator == nil {
		return ""
	}
	return it.indicator.Unit
}

func timeOf(ns int64) time.Time { return time.Unix(0, ns).UTC() }

func stageWords(s domain.Stage) string { return strings.ReplaceAll(string(s), "_", " ") }
