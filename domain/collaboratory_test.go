package domain

import (
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestDecideCollaboratory_Scenarios(t *testing.T) {
	launched := launchedCSC()
	withMember := append(launchedCSC(), MemberRegistered{Collaboratory: "csc", MemberID: memberID, City: "berlin",
		Name: "Jana Schulz", Expertise: ExpertiseMayor, At: t0})
	removed := append(withMember[:len(withMember):len(withMember)], MemberRemoved{Collaboratory: "csc",
		MemberID: memberID, City: "berlin", Reason: "left", At: t0})
	montreal := City{ID: "montreal", Name: "Montréal", Country: "CA"}
	joined := append(launchedCSC(), CityJoined{Collaboratory: "csc", City: montreal, At: t0})

	cases := []struct {
		name    string
		given   []Event
		when    CollaboratoryCommand
		then    []Event
		wantErr error
	}{
		{name: "launch with the seven founding cities", when: sampleCollaboratoryCommands()[CmdLaunch], then: launched},
		{name: "launch with some founding cities", when: LaunchCollaboratory{Slug: "csc2", Name: "Second", Phase: "2021",
			FoundingCities: []string{"dakar", "berlin"}},
			then: []Event{CollaboratoryLaunched{Collaboratory: "csc2", Name: "Second", Phase: "2021",
				FoundingCities: []City{{ID: "dakar", Name: "Dakar", Country: "SN"}, {ID: "berlin", Name: "Berlin", Country: "DE"}}, At: t0}}},
		{name: "launch twice", given: launched, when: sampleCollaboratoryCommands()[CmdLaunch],
			wantErr: &AlreadyExistsError{Kind: KindCollaboratory, ID: "csc"}},
		{name: "launch with unknown and repeated cities", when: LaunchCollaboratory{Slug: "csc", Name: "n", Phase: "p",
			FoundingCities: []string{"berlin", "paris", "berlin"}},
			wantErr: &ValidationError{Fields: []FieldError{
				{Field: "foundingCities[1]", Code: FieldUnknownCity, Message: `foundingCities[1]: "paris" is not a founding city`},
				{Field: "foundingCities[2]", Code: FieldDuplicate, Message: `foundingCities[2]: "berlin" is listed twice`}}}},
		{name: "launch with too many cities", when: LaunchCollaboratory{Slug: "csc", Name: "n", Phase: "p",
			FoundingCities: append(make([]string, 7), "berlin")},
			wantErr: &ValidationError{Fields: []FieldError{
				{Field: "foundingCities", Code: FieldTooMany, Message: "foundingCities: at most 7"}}}},
		{name: "launch with nothing", when: LaunchCollaboratory{},
			wantErr: &ValidationError{Fields: []FieldError{
				{Field: "slug", Code: FieldRequired, Message: "slug: required"},
				{Field: "name", Code: FieldRequired, Message: "name: required"},
				{Field: "phase", Code: FieldRequired, Message: "phase: required"},
				{Field: "foundingCities", Code: FieldRequired, Message: "foundingCities: required"}}}},
		{name: "join", given: launched, when: JoinCollaboratory{City: montreal},
			then: []Event{CityJoined{Collaboratory: "csc", City: montreal, Founding: false, At: t0}}},
		{name: "join before launch", when: JoinCollaboratory{City: montreal},
			wantErr: &NotFoundError{Kind: KindCollaboratory}},
		{name: "join twice", given: joined, when: JoinCollaboratory{City: montreal},
			wantErr: &AlreadyExistsError{Kind: KindCity, ID: "montreal"}},
		{name: "a founding city cannot join again", given: launched,
			when:    JoinCollaboratory{City: City{ID: "berlin", Name: "Berlin", Country: "DE"}},
			wantErr: &AlreadyExistsError{Kind: KindCity, ID: "berlin"}},
		{name: "join with a bad city", given: launched, when: JoinCollaboratory{City: City{ID: "São Paulo", Country: "Brazil"}},
			wantErr: &ValidationError{Fields: []FieldError{
				{Field: "city.id", Code: FieldFormat, Message: "city.id: must be a slug (a-z, 0-9 and single inner hyphens, at most 64)"},
				{Field: "city.name", Code: FieldRequired, Message: "city.name: required"},
				{Field: "city.country", Code: FieldFormat, Message: "city.country: must be an ISO 3166-1 alpha-2 code such as DE"}}}},
		{name: "register a member", given: launched, when: RegisterMember{MemberID: memberID, City: "berlin",
			Name: "Jana Schulz", Expertise: ExpertiseMayor}, then: withMember[len(withMember)-1:]},
		{name: "register a member of a city that joined", given: joined, when: RegisterMember{MemberID: memberID,
			City: "montreal", Name: "Luc", Expertise: ExpertiseStaff},
			then: []Event{MemberRegistered{Collaboratory: "csc", MemberID: memberID, City: "montreal", Name: "Luc",
				Expertise: ExpertiseStaff, At: t0}}},
		{name: "register for a city that does not take part", given: launched, when: RegisterMember{MemberID: memberID,
			City: "montreal", Name: "Luc", Expertise: "lawyer"},
			wantErr: &ValidationError{Fields: []FieldError{
				{Field: "city", Code: FieldUnknownCity, Message: `city: "montreal" does not take part in the collaboratory`},
				{Field: "expertise", Code: FieldOneOf, Message: "expertise: must be one of mayor, finance, culture, science, staff"}}}},
		{name: "register twice", given: withMember, when: RegisterMember{MemberID: memberID, City: "madrid", Name: "X",
			Expertise: ExpertiseFinance}, wantErr: &AlreadyExistsError{Kind: KindMember, ID: memberID}},
		{name: "a removed member's id is not reused", given: removed, when: RegisterMember{MemberID: memberID,
			City: "berlin", Name: "X", Expertise: ExpertiseFinance}, wantErr: &AlreadyExistsError{Kind: KindMember, ID: memberID}},
		{name: "remove a member", given: withMember, when: RemoveMember{MemberID: memberID, Reason: "left"},
			then: removed[len(removed)-1:]},
		{name: "remove twice", given: removed, when: RemoveMember{MemberID: memberID, Reason: "left"},
			wantErr: &NotFoundError{Kind: KindMember, ID: memberID}},
		{name: "remove an unknown member", given: launched, when: RemoveMember{MemberID: memberID2, Reason: "x"},
			wantErr: &NotFoundError{Kind: KindMember, ID: memberID2}},
		{name: "remove without reason", given: withMember, when: RemoveMember{MemberID: memberID},
			wantErr: &ValidationError{Fields: []FieldError{{Field: "reason", Code: FieldRequired, Message: "reason: required"}}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := DecideCollaboratory(foldCollaboratory(tc.given), tc.when, coordinator())
			if diff := cmp.Diff(tc.wantErr, err, cmp.Comparer(sameError)); diff != "" {
				t.Fatalf("error (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.then, got); diff != "" {
				t.Fatalf("events (-want +got):\n%s", diff)
			}
		})
	}
}

func TestEvolveCollaboratory(t *testing.T) {
	montreal := City{ID: "montreal", Name: "Montréal", Country: "CA"}
	s := foldCollaboratory(append(launchedCSC(),
		CityJoined{Collaboratory: "csc", City: montreal, At: t0},
		MemberRegistered{Collaboratory: "csc", MemberID: memberID, City: "berlin", Name: "Jana", Expertise: ExpertiseMayor, At: t0},
		MemberRegistered{Collaboratory: "csc", MemberID: memberID2, City: "montreal", Name: "Luc", Expertise: ExpertiseStaff, At: t0},
		MemberRemoved{Collaboratory: "csc", MemberID: memberID, City: "berlin", Reason: "left", At: t0},
	))
	if !s.Launched || s.Slug != "csc" || len(s.Cities) != 8 || s.Cities[7] != (CityEntry{City: montreal, JoinedAt: t0}) {
		t.Fatalf("cities: %+v", s)
	}
	for _, c := range s.Cities[:7] {
		if !c.Founding {
			t.Fatalf("founding city %s not marked founding", c.ID)
		}
	}
	if !s.HasCity("montreal") || !s.HasCity("johannesburg") || s.HasCity("paris") {
		t.Fatal("HasCity is wrong")
	}
	if _, ok := s.ActiveMember(memberID); ok {
		t.Fatal("removed member is active")
	}
	if m, ok := s.ActiveMember(memberID2); !ok || m.City != "montreal" {
		t.Fatalf("member 2: %+v %v", m, ok)
	}
	if m := s.Members[memberID]; !m.Removed || m.RemoveReason != "left" || m.Name != "Jana" {
		t.Fatalf("removed member: %+v", m)
	}
	// Context.Cities from the folded state lets a joined city propose.
	ctx := memberOf("montreal")
	ctx.Cities = s.HasCity
	p := validPropose()
	p.City = "montreal"
	if _, err := DecideItem(RoadmapItem{}, p, ctx); err != nil {
		t.Fatalf("joined city cannot propose: %v", err)
	}
	ctx.Cities = nil // founding cities only
	if _, err := DecideItem(RoadmapItem{}, p, ctx); !errors.Is(err, ErrValidation) {
		t.Fatalf("nil Cities admitted a joined city: %v", err)
	}
	// Item events leave a collaboratory alone.
	if diff := cmp.Diff(s, EvolveCollaboratory(s, proposedEvent())); diff != "" {
		t.Fatal(diff)
	}
}

func TestFoundingCities(t *testing.T) {
	cs := FoundingCities()
	var ids []string
	for _, c := range cs {
		ids = append(ids, c.ID)
		if !IsSlug(c.ID) || c.Name == "" || !isUpperLetters(c.Country, 2) {
			t.Errorf("bad catalogue entry %+v", c)
		}
	}
	want := []string{"berlin", "buenos-aires", "madrid", "dakar", "guangzhou", "mexico-city", "johannesburg"}
	if diff := cmp.Diff(want, ids); diff != "" {
		t.Fatal(diff)
	}
	cs[0].Name = "changed" // a fresh slice: the catalogue cannot be changed through it
	if c, _ := FoundingCity("berlin"); c.Name != "Berlin" {
		t.Fatal("catalogue changed through a returned slice")
	}
	if CollaboratoryStream(PilotSlug) != "collaboratory-csc" || ItemStream(itemID) != "roadmap-"+itemID {
		t.Fatal("stream names")
	}
}
