package domain

import (
	"maps"
	"slices"
	"time"
)

// Collaboratory is the folded state of a collaboratory stream. The zero value is a collaboratory
// that has not been launched. States are shared between goroutines: treat them as immutable (Evolve
// returns a new state and never writes to the maps or slices of the old one).
type Collaboratory struct {
	Slug       string
	Name       string
	Phase      string
	Launched   bool
	LaunchedAt time.Time
	// Cities are the cities taking part, founding cities first, then in the order they joined.
	Cities []CityEntry
	// Members are all members ever registered, by id, including removed ones (ids are never reused).
	Members map[string]Member
}

// CityEntry is a city taking part in a collaboratory.
type CityEntry struct {
	City
	Founding bool
	JoinedAt time.Time
}

// Member is a member of a city's delegation.
type Member struct {
	ID           string
	City         string
	Name         string
	Expertise    Expertise
	RegisteredAt time.Time
	Removed      bool
	RemovedAt    time.Time
	RemoveReason string
}

// City returns the entry of the city with the given slug.
func (s Collaboratory) City(slug string) (CityEntry, bool) {
	for _, c := range s.Cities {
		if c.ID == slug {
			return c, true
		}
	}
	return CityEntry{}, false
}

// HasCity reports whether the city with the given slug takes part. Its method value suits
// Context.Cities.
func (s Collaboratory) HasCity(slug string) bool {
	_, ok := s.City(slug)
	return ok
}

// ActiveMember returns the member with the given id unless it is unknown or removed.
func (s Collaboratory) ActiveMember(id string) (Member, bool) {
	m, ok := s.Members[id]
	if !ok || m.Removed {
		return Member{}, false
	}
	return m, true
}

// EvolveCollaboratory applies one event to the state and returns the new state. It ignores events of
// other streams and never validates: events are facts.
func EvolveCollaboratory(s Collaboratory, e Event) Collaboratory {
	switch e := e.(type) {
	case CollaboratoryLaunched:
		s.Slug, s.Name, s.Phase, s.Launched, s.LaunchedAt = e.Collaboratory, e.Name, e.Phase, true, e.At
		cities := make([]CityEntry, 0, len(s.Cities)+len(e.FoundingCities))
		cities = append(cities, s.Cities...)
		for _, c := range e.FoundingCities {
			cities = append(cities, CityEntry{City: c, Founding: true, JoinedAt: e.At})
		}
		s.Cities = cities
	case CityJoined:
		s.Cities = append(slices.Clip(s.Cities), CityEntry{City: e.City, Founding: e.Founding, JoinedAt: e.At})
	case MemberRegistered:
		s.Members = withMember(s.Members, Member{
			ID: e.MemberID, City: e.City, Name: e.Name, Expertise: e.Expertise, RegisteredAt: e.At,
		})
	case MemberRemoved:
		m := s.Members[e.MemberID]
		m.ID = e.MemberID
		if m.City == "" {
			m.City = e.City
		}
		m.Removed, m.RemovedAt, m.RemoveReason = true, e.At, e.Reason
		s.Members = withMember(s.Members, m)
	}
	return s
}

// withMember returns a copy of members with m set (copy-on-write: members is shared).
func withMember(members map[string]Member, m Member) map[string]Member {
	out := make(map[string]Member, len(members)+1)
	maps.Copy(out, members)
	out[m.ID] = m
	return out
}

// DecideCollaboratory decides what a collaboratory command records, given the folded state. It
// checks, in this order: the actor's role; whether the collaboratory exists (launched); the command's
// fields; whether the city or member exists. It returns the events to append, or one of the domain
// errors (see the package documentation).
func DecideCollaboratory(s Collaboratory, c CollaboratoryCommand, ctx Context) ([]Event, error) {
	if c == nil {
		return nil, &ValidationError{Fields: []FieldError{fieldErr("command", FieldRequired, "required")}}
	}
	if err := Authorize(ctx, c.CommandName(), ""); err != nil {
		return nil, err
	}
	if _, launch := c.(LaunchCollaboratory); !launch && !s.Launched {
		return nil, &NotFoundError{Kind: KindCollaboratory}
	}
	at := ctx.at()
	switch c := c.(type) {
	case LaunchCollaboratory:
		if s.Launched {
			return nil, &AlreadyExistsError{Kind: KindCollaboratory, ID: s.Slug}
		}
		if err := validateLaunch(c); err != nil {
			return nil, err
		}
		cities := make([]City, len(c.FoundingCities))
		for i, slug := range c.FoundingCities {
			cities[i], _ = FoundingCity(slug)
		}
		return []Event{CollaboratoryLaunched{
			Collaboratory: c.Slug, Name: c.Name, Phase: c.Phase, FoundingCities: cities, At: at,
		}}, nil
	case JoinCollaboratory:
		if err := validateJoin(c); err != nil {
			return nil, err
		}
		if s.HasCity(c.City.ID) {
			return nil, &AlreadyExistsError{Kind: KindCity, ID: c.City.ID}
		}
		return []Event{CityJoined{Collaboratory: s.Slug, City: c.City, Founding: false, At: at}}, nil
	case RegisterMember:
		if err := validateRegister(c, s.HasCity); err != nil {
			return nil, err
		}
		if _, ok := s.Members[c.MemberID]; ok {
			return nil, &AlreadyExistsError{Kind: KindMember, ID: c.MemberID}
		}
		return []Event{MemberRegistered{
			Collaboratory: s.Slug, MemberID: c.MemberID, City: c.City, Name: c.Name, Expertise: c.Expertise, At: at,
		}}, nil
	case RemoveMember:
		if err := validateRemove(c); err != nil {
			return nil, err
		}
		m, ok := s.ActiveMember(c.MemberID)
		if !ok {
			return nil, &NotFoundError{Kind: KindMember, ID: c.MemberID}
		}
		return []Event{MemberRemoved{
			Collaboratory: s.Slug, MemberID: m.ID, City: m.City, Reason: c.Reason, At: at,
		}}, nil
	}
	// Unreachable: the command set is sealed and every command is handled above.
	return nil, &ValidationError{Fields: []FieldError{fieldErr("command", FieldOneOf, "unknown command "+c.CommandName())}}
}
