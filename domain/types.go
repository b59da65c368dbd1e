package domain

import (
	"slices"
	"time"
)

// Role is what an actor may do, taken from the bearer token.
type Role string

// The roles.
const (
	RoleMember      Role = "member"      // a member of one city's delegation (Context.City)
	RoleCoordinator Role = "coordinator" // the CSC secretariat
	RoleAuditor     Role = "auditor"     // reads everything, writes nothing
	RoleAdmin       Role = "admin"       // operates the installation; may do what a coordinator may
)

// Context is what a decider knows about the command besides the command itself and the state.
// It is plain data: the caller fills it; the domain never reads a clock.
type Context struct {
	// Now is the time of the decision, stamped (in UTC) on the events as "at". A zero Now leaves "at" out.
	Now time.Time
	// Actor is the member or user id acting (recorded by the engine in the event metadata).
	Actor string
	// Role is the actor's role.
	Role Role
	// City is the slug of the member's city for RoleMember; "" for the other roles.
	City string
	// Cities reports whether a city (by slug) takes part in the collaboratory. DecideItem uses it to
	// refuse a proposal for a city that does not take part. The caller usually passes
	// Collaboratory.HasCity of the folded collaboratory state (or a read model's equivalent). A nil
	// Cities means "the seven founding cities only" (IsFoundingCity).
	Cities func(slug string) bool
}

func (c Context) at() time.Time {
	if c.Now.IsZero() {
		return time.Time{}
	}
	return c.Now.Round(0).UTC()
}

func (c Context) cityTakesPart(slug string) bool {
	if c.Cities == nil {
		return IsFoundingCity(slug)
	}
	return c.Cities(slug)
}

// Stage is where a roadmap item is in its lifecycle. It is set by people (commands), unlike health,
// which read models derive.
type Stage string

// The stages. The zero Stage ("") means the item does not exist.
const (
	StageProposed         Stage = "proposed"
	StageChangesRequested Stage = "changes_requested"
	StageApproved         Stage = "approved"
	StageInProgress       Stage = "in_progress"
	StageOnHold           Stage = "on_hold"
	StageCompleted        Stage = "completed"
	StageRejected         Stage = "rejected"
	StageCancelled        Stage = "cancelled"
)

// Stages lists every stage, in lifecycle order.
func Stages() []Stage {
	return []Stage{StageProposed, StageChangesRequested, StageApproved, StageInProgress, StageOnHold,
		StageCompleted, StageRejected, StageCancelled}
}

// Valid reports whether s is one of the stages.
func (s Stage) Valid() bool { return slices.Contains(Stages(), s) }

// Terminal reports whether s is a stage an item never leaves (completed, rejected, cancelled).
func (s Stage) Terminal() bool {
	return s == StageCompleted || s == StageRejected || s == StageCancelled
}

// Theme is one of the four sustainability domains.
type Theme string

// The themes.
const (
	ThemeEcology   Theme = "ecology"
	ThemeEconomics Theme = "economics"
	ThemePolitics  Theme = "politics"
	ThemeCulture   Theme = "culture"
)

// Themes lists every theme.
func Themes() []Theme { return []Theme{ThemeEcology, ThemeEconomics, ThemePolitics, ThemeCulture} }

// Valid reports whether t is one of the themes.
func (t Theme) Valid() bool { return slices.Contains(Themes(), t) }

// Expertise is what a member brings to the collaboratory.
type Expertise string

// The kinds of expertise.
const (
	ExpertiseMayor   Expertise = "mayor"
	ExpertiseFinance Expertise = "finance"
	ExpertiseCulture Expertise = "culture"
	ExpertiseScience Expertise = "science"
	ExpertiseStaff   Expertise = "staff"
)

// Expertises lists every kind of expertise.
func Expertises() []Expertise {
	return []Expertise{ExpertiseMayor, ExpertiseFinance, ExpertiseCulture, ExpertiseScience, ExpertiseStaff}
}

// Valid reports whether e is one of the kinds of expertise.
func (e Expertise) Valid() bool { return slices.Contains(Expertises(), e) }

// Direction says which way an indicator should move.
type Direction string

// The directions.
const (
	DirectionIncrease Direction = "increase"
	DirectionDecrease Direction = "decrease"
)

// SDGTargets lists the targets of UN Sustainable Development Goal 11 (sustainable cities and
// communities), the only targets a roadmap item may name.
func SDGTargets() []string {
	return []string{"11.1", "11.2", "11.3", "11.4", "11.5", "11.6", "11.7", "11.a", "11.b", "11.c"}
}

// IsSDGTarget reports whether t is one of SDGTargets.
func IsSDGTarget(t string) bool { return slices.Contains(SDGTargets(), t) }

// City is a city taking part in a collaboratory.
type City struct {
	ID      string `json:"id"`      // stable slug, e.g. "buenos-aires"
	Name    string `json:"name"`    // e.g. "Buenos Aires"
	Country string `json:"country"` // ISO 3166-1 alpha-2 code, e.g. "AR"
}

// FoundingCities returns the pilot's fixed catalogue of founding cities (a fresh slice each call).
func FoundingCities() []City {
	return []City{
		{ID: "berlin", Name: "Berlin", Country: "DE"},
		{ID: "buenos-aires", Name: "Buenos Aires", Country: "AR"},
		{ID: "madrid", Name: "Madrid", Country: "ES"},
		{ID: "dakar", Name: "Dakar", Country: "SN"},
		{ID: "guangzhou", Name: "Guangzhou", Country: "CN"},
		{ID: "mexico-city", Name: "Mexico City", Country: "MX"},
		{ID: "johannesburg", Name: "Johannesburg", Country: "ZA"},
	}
}

// FoundingCity returns the catalogue entry for slug.
func FoundingCity(slug string) (City, bool) {
	for _, c := range FoundingCities() {
		if c.ID == slug {
			return c, true
		}
	}
	return City{}, false
}

// IsFoundingCity reports whether slug is one of the seven founding cities.
func IsFoundingCity(slug string) bool {
	_, ok := FoundingCity(slug)
	return ok
}

// Indicator is how a roadmap item's effect is measured.
type Indicator struct {
	Name      string    `json:"name"`
	Unit      string    `json:"unit"`
	Direction Direction `json:"direction"`
	Baseline  YearValue `json:"baseline"`
	Target    YearValue `json:"target"`
}

// YearValue is an indicator value in a year.
type YearValue struct {
	Value float64 `json:"value"`
	Year  int     `json:"year"`
}

// Milestone is a step of a roadmap item.
type Milestone struct {
	ID    string `json:"id"` // unique within the item, 1..64 of [A-Za-z0-9._-]
	Title string `json:"title"`
	Due   Date   `json:"due"`
}

// Budget is the money planned for a roadmap item.
type Budget struct {
	Amount        float64 `json:"amount"`
	Currency      string  `json:"currency"` // ISO 4217 code, three upper-case letters
	FundingSource string  `json:"fundingSource"`
}

// Measurement is a value of the item's indicator for a period.
type Measurement struct {
	Value float64 `json:"value"`
	// Period is "YYYY", "YYYY-Qn", "YYYY-MM" or "YYYY-MM-DD".
	Period string `json:"period"`
}

// Evidence points at a document that backs a roadmap update.
type Evidence struct {
	URI    string `json:"uri"`    // absolute URI
	SHA256 string `json:"sha256"` // hex SHA-256 of the document, 64 lower-case hex digits
}

// CollaboratoryStream names the stream of the collaboratory with the given slug.
func CollaboratoryStream(slug string) string { return "collaboratory-" + slug }

// ItemStream names the stream of the roadmap item with the given id.
func ItemStream(itemID string) string { return "roadmap-" + itemID }

// PilotSlug is the slug of the pilot collaboratory (stream "collaboratory-csc").
const PilotSlug = "csc"
