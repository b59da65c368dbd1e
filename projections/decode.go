package projections

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"

	"github.com/metropolis/csc/domain"
	"github.com/metropolis/csc/eventstore"
)

// decoder turns recorded events into facts: what the read models take from an event, and nothing
// more. The domain codec is the reference: it knows every type, upcasts older schema versions and
// decides what is an error. For an event at its type's current schema version the decoder first
// tries a fast path that reads the payload without reflection and without copying what the read
// models do not keep (narratives, evidence, ids it only looks up); the fast path gives up on
// anything unusual (see scanner), and the event then goes through the codec, whose domain event is
// turned into the same change (changeOf). Both paths give equal changes (tested on every event
// type).
//
// Metadata is read for the fields the read models use: schema version, actor, role and the recorded
// time kept by a copied or back-dated event, which gives the event's effective time as
// eventstore.EffectiveTime defines it (read here without decoding the whole metadata).
//
// A decoder is immutable and safe for concurrent use.
type decoder struct {
	codec   *domain.Codec
	current map[string]int // event type -> current schema version
}

func newDecoder(codec *domain.Codec) *decoder {
	d := &decoder{codec: codec, current: make(map[string]int)}
	for _, t := range codec.Types() {
		v, _ := codec.SchemaVersion(t)
		d.current[t] = v
	}
	return d
}

// fact is a recorded event as the read models see it.
type fact struct {
	pos      eventstore.Position
	stream   string
	revision uint64
	typ      string
	recorded time.Time // the effective time: metadata "recorded" or the store's (eventstore.EffectiveTime)
	actor    []byte
	role     []byte
	change   change // kind 0: an event type the codec does not know
}

// change is what the read models take from an event's payload. Ids the read models only look up
// are byte slices (often of the payload itself, not copied); what they keep is a string.
type change struct {
	kind      eventKind
	item      []byte // item events: the item id
	city      []byte // item events: the item's city; member events: the member's city
	member    []byte // member events: the member id
	update    []byte // update and correction: the update id
	text      string // comment, reason
	fields    *domain.ItemFields
	progress  int // with flagProgress
	flags     uint8
	value     float64 // measured value (with flagMeasurement); correction: the new value
	old       float64 // correction: the old value
	period    string  // measurement period
	reached   []string
	evidence  int
	from      domain.Stage
	name      string // member name
	expertise domain.Expertise
	joined    domain.City // city joined
	founding  bool
	launch    *launch
}

type launch struct {
	slug, name, phase string
	cities            []domain.City
}

// meta is what the read models take from event metadata.
type meta struct {
	SchemaVersion int        `json:"schemaVersion"`
	Actor         string     `json:"actor"`
	Role          string     `json:"role"`
	Recorded      *time.Time `json:"recorded"`
}

// decode returns the fact of e. An unknown event type is not an error: its fact has kind 0. A
// known type that does not decode is an error naming the position, stream and type.
func (d *decoder) decode(e eventstore.RecordedEvent) (fact, error) {
	f := fact{pos: e.Position, stream: e.Stream, revision: e.Revision, typ: e.Type, recorded: e.Recorded}
	current, known := d.current[e.Type]
	version, err := d.meta(e.Metadata, &f)
	if err != nil {
		if !known {
			return f, nil
		}
		return f, fmt.Errorf("decode %s at position %s in stream %s (revision %d): metadata: %w", e.Type, e.Position, e.Stream, e.Revision, err)
	}
	if !known {
		return f, nil
	}
	if version == current {
		if c, ok := fastChange(e.Type, e.Data); ok {
			f.change = c
			return f, nil
		}
	}
	ev, err := d.codec.Decode(e.Type, version, e.Data)
	if err != nil {
		return f, fmt.Errorf("decode %s at position %s in stream %s (revision %d): %w", e.Type, e.Position, e.Stream, e.Revision, err)
	}
	f.change = changeOf(ev)
	return f, nil
}

// meta reads the metadata into f and returns the schema version: by the fast scanner when it can,
// else with encoding/json. Empty metadata has schema version 0.
func (d *decoder) meta(b []byte, f *fact) (int, error) {
	if len(bytes.TrimSpace(b)) == 0 {
		return 0, nil
	}
	if v, ok := scanMeta(b, f); ok {
		return v, nil
	}
	var m meta
	if err := json.Unmarshal(b, &m); err != nil {
		return 0, err
	}
	f.actor, f.role = []byte(m.Actor), []byte(m.Role)
	if m.Recorded != nil {
		f.recorded = m.Recorded.UTC()
	}
	return m.SchemaVersion, nil
}

// scanMeta is the fast path of meta. Keys other than the four it reads are skipped, but a key that
// matches one of them only when case is ignored is given up on (encoding/json ignores case).
func scanMeta(b []byte, f *fact) (int, bool) {
	s := scanner{b: b}
	var keys seen
	version := 0
	var actor, role []byte
	var recorded time.Time
	s.object(func(k []byte) bool {
		var ok bool
		switch string(k) {
		case "schemaVersion":
			return keys.once(0) && s.int(&version)
		case "actor":
			actor, ok = s.raw()
			return keys.once(1) && ok
		case "role":
			role, ok = s.raw()
			return keys.once(2) && ok
		case "recorded":
			return keys.once(3) && s.time(&recorded)
		}
		switch len(k) {
		case len("schemaVersion"), len("actor"), len("role"), len("recorded"):
			for _, name := range [...]string{"schemaVersion", "actor", "role", "recorded"} {
				if bytes.EqualFold(k, []byte(name)) {
					return false
				}
			}
		}
		return s.skip()
	})
	if !s.end() {
		return 0, false
	}
	f.actor, f.role = actor, role
	if !recorded.IsZero() {
		f.recorded = recorded.UTC()
	}
	return version, true
}

// skip moves past any JSON value.
func (s *scanner) skip() bool {
	switch c := s.peek(); {
	case c == '"':
		_, ok := s.stringToken()
		return ok
	case c == '{':
		return s.object(func([]byte) bool { return s.skip() })
	case c == '[':
		s.array(func() bool { return s.skip() })
		return s.ok()
	case c == 't':
		return s.literal("true") || s.fail()
	case c == 'f':
		return s.literal("false") || s.fail()
	case c == 'n':
		return s.literal("null") || s.fail()
	default:
		_, ok := s.numberToken()
		return ok
	}
}

// changeOf is the change of a domain event (the codec path).
func changeOf(ev domain.Event) change {
	var c change
	if ie, ok := ev.(domain.ItemEvent); ok {
		id, city := ie.Item()
		c.item, c.city = []byte(id), []byte(city)
	}
	switch e := ev.(type) {
	case domain.CollaboratoryLaunched:
		c.kind = kindLaunched
		c.launch = &launch{slug: e.Collaboratory, name: e.Name, phase: e.Phase, cities: e.FoundingCities}
	case domain.CityJoined:
		c.kind, c.joined, c.founding = kindCityJoined, e.City, e.Founding
	case domain.MemberRegistered:
		c.kind, c.member, c.city, c.name, c.expertise = kindMemberRegistered, []byte(e.MemberID), []byte(e.City), e.Name, e.Expertise
	case domain.MemberRemoved:
		c.kind, c.member, c.city, c.text = kindMemberRemoved, []byte(e.MemberID), []byte(e.City), e.Reason
	case domain.RoadmapItemProposed:
		c.kind = kindProposed
		c.fields = &domain.ItemFields{Title: e.Title, Description: e.Description, Theme: e.Theme, SDGTargets: e.SDGTargets,
			Indicator: e.Indicator, Milestones: e.Milestones, Budget: e.Budget, StartDate: e.StartDate, DueDate: e.DueDate}
	case domain.RoadmapItemRevised:
		c.kind = kindRevised
		c.fields = &domain.ItemFields{Title: e.Title, Description: e.Description, Theme: e.Theme, SDGTargets: e.SDGTargets,
			Indicator: e.Indicator, Milestones: e.Milestones, Budget: e.Budget, StartDate: e.StartDate, DueDate: e.DueDate}
	case domain.RoadmapItemApproved:
		c.kind = kindApproved
	case domain.ChangesRequested:
		c.kind, c.text = kindChangesRequested, e.Comment
	case domain.RoadmapItemRejected:
		c.kind, c.text = kindRejected, e.Reason
	case domain.ImplementationStarted:
		c.kind = kindStarted
	case domain.RoadmapUpdateSubmitted:
		c.kind, c.update, c.reached, c.evidence = kindUpdate, []byte(e.UpdateID), e.MilestonesReached, len(e.Evidence)
		if e.ProgressPercent != nil {
			c.flags |= flagProgress
			c.progress = *e.ProgressPercent
		}
		if m := e.Measurement; m != nil {
			c.flags |= flagMeasurement
			c.value, c.period = m.Value, m.Period
		}
	case domain.MeasurementCorrected:
		c.kind, c.update, c.old, c.value, c.text = kindCorrected, []byte(e.UpdateID), e.OldValue, e.NewValue, e.Reason
	case domain.ItemPutOnHold:
		c.kind, c.text = kindOnHold, e.Reason
	case domain.ItemResumed:
		c.kind = kindResumed
	case domain.RoadmapItemCompleted:
		c.kind = kindCompleted
	case domain.RoadmapItemCancelled:
		c.kind, c.text, c.from = kindCancelled, e.Reason, e.From
	}
	return c
}

// fastChange reads the change of an event at its type's current schema version without the codec,
// or reports false when it gives up (see scanner).
func fastChange(typ string, data []byte) (change, bool) {
	s := scanner{b: data}
	var c change
	switch typ {
	case domain.TypeRoadmapUpdateSubmitted:
		c.kind = kindUpdate
		s.updateSubmitted(&c)
	case domain.TypeRoadmapItemProposed, domain.TypeRoadmapItemRevised:
		c.kind = kindProposed
		if typ == domain.TypeRoadmapItemRevised {
			c.kind = kindRevised
		}
		c.fields = &domain.ItemFields{}
		s.proposal(&c)
	case domain.TypeRoadmapItemApproved:
		c.kind = kindApproved
		s.itemEvent(&c, "", nil)
	case domain.TypeImplementationStarted:
		c.kind = kindStarted
		s.itemEvent(&c, "", nil)
	case domain.TypeItemResumed:
		c.kind = kindResumed
		s.itemEvent(&c, "", nil)
	case domain.TypeRoadmapItemCompleted:
		c.kind = kindCompleted
		s.itemEvent(&c, "", nil)
	case domain.TypeChangesRequested:
		c.kind = kindChangesRequested
		s.itemEvent(&c, "comment", &c.text)
	case domain.TypeRoadmapItemRejected:
		c.kind = kindRejected
		s.itemEvent(&c, "reason", &c.text)
	case domain.TypeItemPutOnHold:
		c.kind = kindOnHold
		s.itemEvent(&c, "reason", &c.text)
	case domain.TypeRoadmapItemCancelled:
		c.kind = kindCancelled
		s.cancelled(&c)
	case domain.TypeMeasurementCorrected:
		c.kind = kindCorrected
		s.corrected(&c)
	case domain.TypeMemberRegistered:
		c.kind = kindMemberRegistered
		s.memberEvent(&c, "name", &c.name)
	case domain.TypeMemberRemoved:
		c.kind = kindMemberRemoved
		s.memberEvent(&c, "reason", &c.text)
	case domain.TypeCityJoined:
		c.kind = kindCityJoined
		s.cityJoined(&c)
	case domain.TypeCollaboratoryLaunched:
		c.kind = kindLaunched
		c.launch = &launch{}
		s.launched(c.launch)
	default:
		return change{}, false
	}
	if !s.end() {
		return change{}, false
	}
	return c, true
}

// rawInto reads a string's bytes into *dst.
func (s *scanner) rawInto(dst *[]byte) bool {
	v, ok := s.raw()
	*dst = v
	return ok
}

// checkTime reads and checks a time the read models do not keep.
func (s *scanner) checkTime() bool {
	var t time.Time
	return s.time(&t)
}

// itemEvent reads the fields every item event has (itemId, city, at) plus at most one string.
func (s *scanner) itemEvent(c *change, extra string, dst *string) {
	var keys seen
	s.object(func(k []byte) bool {
		switch string(k) {
		case "itemId":
			return keys.once(0) && s.rawInto(&c.item)
		case "city":
			return keys.once(1) && s.rawInto(&c.city)
		case "at":
			return keys.once(2) && s.checkTime()
		}
		if extra != "" && string(k) == extra {
			return keys.once(3) && s.str(dst)
		}
		return false
	})
}

func (s *scanner) proposal(c *change) {
	p := c.fields
	var keys seen
	s.object(func(k []byte) bool {
		switch string(k) {
		case "itemId":
			return keys.once(0) && s.rawInto(&c.item)
		case "city":
			return keys.once(1) && s.rawInto(&c.city)
		case "title":
			return keys.once(2) && s.str(&p.Title)
		case "description":
			return keys.once(3) && s.str(&p.Description)
		case "theme":
			var t string
			ok := keys.once(4) && s.str(&t)
			p.Theme = domain.Theme(t)
			return ok
		case "sdgTargets":
			return keys.once(5) && s.strs(&p.SDGTargets)
		case "indicator":
			if !keys.once(6) {
				return false
			}
			if s.null() {
				p.Indicator = nil
				return true
			}
			p.Indicator = &domain.Indicator{}
			return s.indicator(p.Indicator)
		case "milestones":
			return keys.once(7) && s.milestones(&p.Milestones)
		case "budget":
			if !keys.once(8) {
				return false
			}
			if s.null() {
				p.Budget = nil
				return true
			}
			p.Budget = &domain.Budget{}
			return s.budget(p.Budget)
		case "startDate":
			return keys.once(9) && s.date(&p.StartDate)
		case "dueDate":
			return keys.once(10) && s.date(&p.DueDate)
		case "at":
			return keys.once(11) && s.checkTime()
		}
		return false
	})
}

func (s *scanner) indicator(in *domain.Indicator) bool {
	var keys seen
	return s.object(func(k []byte) bool {
		switch string(k) {
		case "name":
			return keys.once(0) && s.str(&in.Name)
		case "unit":
			return keys.once(1) && s.str(&in.Unit)
		case "direction":
			var d string
			ok := keys.once(2) && s.str(&d)
			in.Direction = domain.Direction(d)
			return ok
		case "baseline":
			return keys.once(3) && (s.null() || s.yearValue(&in.Baseline))
		case "target":
			return keys.once(4) && (s.null() || s.yearValue(&in.Target))
		}
		return false
	})
}

func (s *scanner) yearValue(v *domain.YearValue) bool {
	var keys seen
	return s.object(func(k []byte) bool {
		switch string(k) {
		case "value":
			return keys.once(0) && s.float(&v.Value)
		case "year":
			return keys.once(1) && s.int(&v.Year)
		}
		return false
	})
}

func (s *scanner) milestones(dst *[]domain.Milestone) bool {
	out := []domain.Milestone{}
	null := s.array(func() bool {
		var m domain.Milestone
		if !s.null() {
			var keys seen
			s.object(func(k []byte) bool {
				switch string(k) {
				case "id":
					return keys.once(0) && s.str(&m.ID)
				case "title":
					return keys.once(1) && s.str(&m.Title)
				case "due":
					return keys.once(2) && s.date(&m.Due)
				}
				return false
			})
		}
		out = append(out, m)
		return s.ok()
	})
	if null {
		out = nil
	}
	*dst = out
	return s.ok()
}

func (s *scanner) budget(b *domain.Budget) bool {
	var keys seen
	return s.object(func(k []byte) bool {
		switch string(k) {
		case "amount":
			return keys.once(0) && s.float(&b.Amount)
		case "currency":
			return keys.once(1) && s.str(&b.Currency)
		case "fundingSource":
			return keys.once(2) && s.str(&b.FundingSource)
		}
		return false
	})
}

func (s *scanner) updateSubmitted(c *change) {
	var keys seen
	s.object(func(k []byte) bool {
		switch string(k) {
		case "itemId":
			return keys.once(0) && s.rawInto(&c.item)
		case "city":
			return keys.once(1) && s.rawInto(&c.city)
		case "updateId":
			return keys.once(2) && s.rawInto(&c.update)
		case "progressPercent":
			if !keys.once(3) {
				return false
			}
			if s.null() {
				return true
			}
			c.flags |= flagProgress
			return s.int(&c.progress)
		case "measurement":
			if !keys.once(4) {
				return false
			}
			if s.null() {
				return true
			}
			c.flags |= flagMeasurement
			var mk seen
			return s.object(func(k []byte) bool {
				switch string(k) {
				case "value":
					return mk.once(0) && s.float(&c.value)
				case "period":
					return mk.once(1) && s.str(&c.period)
				}
				return false
			})
		case "milestonesReached":
			return keys.once(5) && s.strs(&c.reached)
		case "narrative":
			return keys.once(6) && s.skipString()
		case "evidence":
			if !keys.once(7) {
				return false
			}
			s.array(func() bool {
				c.evidence++
				if s.null() {
					return true
				}
				var ek seen
				return s.object(func(k []byte) bool {
					switch string(k) {
					case "uri":
						return ek.once(0) && s.skipString()
					case "sha256":
						return ek.once(1) && s.skipString()
					}
					return false
				})
			})
			return s.ok()
		case "at":
			return keys.once(8) && s.checkTime()
		}
		return false
	})
}

func (s *scanner) corrected(c *change) {
	var keys seen
	s.object(func(k []byte) bool {
		switch string(k) {
		case "itemId":
			return keys.once(0) && s.rawInto(&c.item)
		case "city":
			return keys.once(1) && s.rawInto(&c.city)
		case "updateId":
			return keys.once(2) && s.rawInto(&c.update)
		case "oldValue":
			return keys.once(3) && s.float(&c.old)
		case "newValue":
			return keys.once(4) && s.float(&c.value)
		case "reason":
			return keys.once(5) && s.str(&c.text)
		case "at":
			return keys.once(6) && s.checkTime()
		}
		return false
	})
}

func (s *scanner) cancelled(c *change) {
	var keys seen
	s.object(func(k []byte) bool {
		switch string(k) {
		case "itemId":
			return keys.once(0) && s.rawInto(&c.item)
		case "city":
			return keys.once(1) && s.rawInto(&c.city)
		case "reason":
			return keys.once(2) && s.str(&c.text)
		case "from":
			var st string
			ok := keys.once(3) && s.str(&st)
			c.from = domain.Stage(st)
			return ok
		case "at":
			return keys.once(4) && s.checkTime()
		}
		return false
	})
}

// memberEvent reads MemberRegistered (extra "name", plus expertise) and MemberRemoved (extra
// "reason").
func (s *scanner) memberEvent(c *change, extra string, dst *string) {
	var keys seen
	s.object(func(k []byte) bool {
		switch string(k) {
		case "collaboratory":
			return keys.once(0) && s.skipString()
		case "memberId":
			return keys.once(1) && s.rawInto(&c.member)
		case "city":
			return keys.once(2) && s.rawInto(&c.city)
		case "at":
			return keys.once(3) && s.checkTime()
		case "expertise":
			if extra != "name" {
				return false
			}
			var x string
			ok := keys.once(4) && s.str(&x)
			c.expertise = domain.Expertise(x)
			return ok
		}
		if string(k) == extra {
			return keys.once(5) && s.str(dst)
		}
		return false
	})
}

func (s *scanner) city(c *domain.City) bool {
	if s.null() {
		return true
	}
	var keys seen
	return s.object(func(k []byte) bool {
		switch string(k) {
		case "id":
			return keys.once(0) && s.str(&c.ID)
		case "name":
			return keys.once(1) && s.str(&c.Name)
		case "country":
			return keys.once(2) && s.str(&c.Country)
		}
		return false
	})
}

func (s *scanner) cityJoined(c *change) {
	var keys seen
	s.object(func(k []byte) bool {
		switch string(k) {
		case "collaboratory":
			return keys.once(0) && s.skipString()
		case "city":
			return keys.once(1) && s.city(&c.joined)
		case "founding":
			return keys.once(2) && s.bool(&c.founding)
		case "at":
			return keys.once(3) && s.checkTime()
		}
		return false
	})
}

func (s *scanner) launched(l *launch) {
	var keys seen
	s.object(func(k []byte) bool {
		switch string(k) {
		case "collaboratory":
			return keys.once(0) && s.str(&l.slug)
		case "name":
			return keys.once(1) && s.str(&l.name)
		case "phase":
			return keys.once(2) && s.str(&l.phase)
		case "foundingCities":
			if !keys.once(3) {
				return false
			}
			out := []domain.City{}
			null := s.array(func() bool {
				var c domain.City
				ok := s.city(&c)
				out = append(out, c)
				return ok
			})
			if null {
				out = nil
			}
			l.cities = out
			return s.ok()
		case "at":
			return keys.once(4) && s.checkTime()
		}
		return false
	})
}
