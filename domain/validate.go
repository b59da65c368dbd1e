package domain

import (
	"fmt"
	"math"
	"net/url"
	"strings"
	"unicode/utf8"
)

// Bounds of strings (in characters) and lists. Longer input is refused with "too_long" / "too_many".
const (
	MaxSlugLen          = 64
	MaxNameLen          = 200 // collaboratory, city, member, indicator names
	MaxTitleLen         = 200 // item and milestone titles
	MaxTextLen          = 10000
	MaxReasonLen        = 2000 // reasons and comments
	MaxPhaseLen         = 50
	MaxUnitLen          = 50
	MaxFundingSourceLen = 200
	MaxURILen           = 2000
	MaxMilestoneIDLen   = 64
	MaxMilestones       = 50
	MaxEvidence         = 20
	MaxBudgetAmount     = 1e15
	MinYear, MaxYear    = 1900, 2100 // bounds of dates and indicator years
)

// checker collects field errors.
type checker struct{ errs []FieldError }

func fieldErr(field, code, msg string) FieldError {
	return FieldError{Field: field, Code: code, Message: field + ": " + msg}
}

func (c *checker) add(field, code, msg string) { c.errs = append(c.errs, fieldErr(field, code, msg)) }

func (c *checker) err() error {
	if len(c.errs) == 0 {
		return nil
	}
	return &ValidationError{Fields: c.errs}
}

// text checks a required string of at most max characters. It reports whether v passed.
func (c *checker) text(field, v string, max int) bool {
	if strings.TrimSpace(v) == "" {
		c.add(field, FieldRequired, "required")
		return false
	}
	if !utf8.ValidString(v) {
		c.add(field, FieldFormat, "must be valid UTF-8")
		return false
	}
	if utf8.RuneCountInString(v) > max {
		c.add(field, FieldTooLong, fmt.Sprintf("must be at most %d characters", max))
		return false
	}
	return true
}

func (c *checker) uuid(field, v string) bool {
	if v == "" {
		c.add(field, FieldRequired, "required")
		return false
	}
	if !IsUUID(v) {
		c.add(field, FieldFormat, "must be a UUID in lower-case canonical form")
		return false
	}
	return true
}

func (c *checker) slug(field, v string) bool {
	if v == "" {
		c.add(field, FieldRequired, "required")
		return false
	}
	if !IsSlug(v) {
		c.add(field, FieldFormat, fmt.Sprintf("must be a slug (a-z, 0-9 and single inner hyphens, at most %d)", MaxSlugLen))
		return false
	}
	return true
}

func (c *checker) date(field string, d Date) bool {
	switch {
	case d.IsZero():
		c.add(field, FieldRequired, "required")
	case !d.Valid():
		c.add(field, FieldFormat, "must be a calendar date YYYY-MM-DD")
	case d.Year < MinYear || d.Year > MaxYear:
		c.add(field, FieldRange, fmt.Sprintf("must be in years %d..%d", MinYear, MaxYear))
	default:
		return true
	}
	return false
}

func (c *checker) finite(field string, v float64) bool {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		c.add(field, FieldRange, "must be a finite number")
		return false
	}
	return true
}

func validateText(field, v string, max int) error {
	var c checker
	c.text(field, v, max)
	return c.err()
}

// IsUUID reports whether s is a UUID in lower-case canonical form (8-4-4-4-12 hex digits), other than
// the nil UUID. Upper case is refused so that one id always names one stream.
func IsUUID(s string) bool {
	if len(s) != 36 || s == "00000000-0000-0000-0000-000000000000" {
		return false
	}
	for i := 0; i < len(s); i++ {
		ch := s[i]
		switch i {
		case 8, 13, 18, 23:
			if ch != '-' {
				return false
			}
		default:
			if !isLowerHex(ch) {
				return false
			}
		}
	}
	return true
}

func isLowerHex(ch byte) bool { return ch >= '0' && ch <= '9' || ch >= 'a' && ch <= 'f' }

// IsSlug reports whether s is a slug: 1..MaxSlugLen of a-z and 0-9, with single hyphens inside.
func IsSlug(s string) bool {
	if len(s) == 0 || len(s) > MaxSlugLen || s[0] == '-' || s[len(s)-1] == '-' || strings.Contains(s, "--") {
		return false
	}
	for i := 0; i < len(s); i++ {
		ch := s[i]
		if !(ch >= 'a' && ch <= 'z' || ch >= '0' && ch <= '9' || ch == '-') {
			return false
		}
	}
	return true
}

func isUpperLetters(s string, n int) bool {
	if len(s) != n {
		return false
	}
	for i := 0; i < n; i++ {
		if s[i] < 'A' || s[i] > 'Z' {
			return false
		}
	}
	return true
}

func isMilestoneID(s string) bool {
	if len(s) == 0 || len(s) > MaxMilestoneIDLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		ch := s[i]
		if !(ch >= 'a' && ch <= 'z' || ch >= 'A' && ch <= 'Z' || ch >= '0' && ch <= '9' || ch == '.' || ch == '_' || ch == '-') {
			return false
		}
	}
	return true
}

// isPeriod reports whether s is "YYYY", "YYYY-Qn", "YYYY-MM" or "YYYY-MM-DD" (years MinYear..MaxYear).
func isPeriod(s string) bool {
	if len(s) < 4 {
		return false
	}
	y, ok := digits(s[:4])
	if !ok || y < MinYear || y > MaxYear {
		return false
	}
	switch rest := s[4:]; {
	case rest == "":
		return true
	case len(rest) == 3 && rest[0] == '-' && rest[1] == 'Q':
		return rest[2] >= '1' && rest[2] <= '4'
	case len(rest) == 3 && rest[0] == '-':
		m, ok := digits(rest[1:])
		return ok && m >= 1 && m <= 12
	case len(rest) == 6:
		_, err := ParseDate(s)
		return err == nil
	}
	return false
}

// ---- collaboratory commands ----

func validateLaunch(l LaunchCollaboratory) error {
	var c checker
	c.slug("slug", l.Slug)
	c.text("name", l.Name, MaxNameLen)
	c.text("phase", l.Phase, MaxPhaseLen)
	switch n := len(l.FoundingCities); {
	case n == 0:
		c.add("foundingCities", FieldRequired, "required")
	case n > len(FoundingCities()):
		c.add("foundingCities", FieldTooMany, fmt.Sprintf("at most %d", len(FoundingCities())))
		return c.err()
	}
	seen := make(map[string]bool, len(l.FoundingCities))
	for i, slug := range l.FoundingCities {
		f := fmt.Sprintf("foundingCities[%d]", i)
		switch {
		case !IsFoundingCity(slug):
			c.add(f, FieldUnknownCity, fmt.Sprintf("%q is not a founding city", slug))
		case seen[slug]:
			c.add(f, FieldDuplicate, fmt.Sprintf("%q is listed twice", slug))
		}
		seen[slug] = true
	}
	return c.err()
}

func validateJoin(j JoinCollaboratory) error {
	var c checker
	c.slug("city.id", j.City.ID)
	c.text("city.name", j.City.Name, MaxNameLen)
	switch {
	case j.City.Country == "":
		c.add("city.country", FieldRequired, "required")
	case !isUpperLetters(j.City.Country, 2):
		c.add("city.country", FieldFormat, "must be an ISO 3166-1 alpha-2 code such as DE")
	}
	return c.err()
}

func validateRegister(r RegisterMember, hasCity func(string) bool) error {
	var c checker
	c.uuid("memberId", r.MemberID)
	if c.slug("city", r.City) && !hasCity(r.City) {
		c.add("city", FieldUnknownCity, fmt.Sprintf("%q does not take part in the collaboratory", r.City))
	}
	c.text("name", r.Name, MaxNameLen)
	switch {
	case r.Expertise == "":
		c.add("expertise", FieldRequired, "required")
	case !r.Expertise.Valid():
		c.add("expertise", FieldOneOf, "must be one of "+joinStrings(Expertises()))
	}
	return c.err()
}

func validateRemove(r RemoveMember) error {
	var c checker
	c.uuid("memberId", r.MemberID)
	c.text("reason", r.Reason, MaxReasonLen)
	return c.err()
}

func joinStrings[S ~string](vs []S) string {
	ss := make([]string, len(vs))
	for i, v := range vs {
		ss[i] = string(v)
	}
	return strings.Join(ss, ", ")
}

// ---- roadmap item commands ----

func validatePropose(p ProposeRoadmapItem, ctx Context) error {
	var c checker
	c.uuid("itemId", p.ItemID)
	if c.slug("city", p.City) && !ctx.cityTakesPart(p.City) {
		c.add("city", FieldUnknownCity, fmt.Sprintf("%q does not take part in the collaboratory", p.City))
	}
	c.fields(p.ItemFields)
	return c.err()
}

func validateFields(f ItemFields) error {
	var c checker
	c.fields(f)
	return c.err()
}

func (c *checker) fields(f ItemFields) {
	c.text("title", f.Title, MaxTitleLen)
	c.text("description", f.Description, MaxTextLen)
	switch {
	case f.Theme == "":
		c.add("theme", FieldRequired, "required")
	case !f.Theme.Valid():
		c.add("theme", FieldOneOf, "must be one of "+joinStrings(Themes()))
	}
	targets := f.SDGTargets
	switch n := len(targets); {
	case n == 0:
		c.add("sdgTargets", FieldRequired, "required")
	case n > len(SDGTargets()):
		c.add("sdgTargets", FieldTooMany, fmt.Sprintf("at most %d", len(SDGTargets())))
		targets = nil
	}
	seen := make(map[string]bool, len(targets))
	for i, t := range targets {
		field := fmt.Sprintf("sdgTargets[%d]", i)
		switch {
		case !IsSDGTarget(t):
			c.add(field, FieldUnknownTarget, fmt.Sprintf("unknown target %q", t))
		case seen[t]:
			c.add(field, FieldDuplicate, fmt.Sprintf("%q is listed twice", t))
		}
		seen[t] = true
	}
	if f.Indicator != nil {
		c.indicator(*f.Indicator)
	}
	startOK := c.date("startDate", f.StartDate)
	dueOK := c.date("dueDate", f.DueDate)
	datesOK := startOK && dueOK
	if datesOK && f.DueDate.Before(f.StartDate) {
		c.add("dueDate", FieldRange, "must not be before startDate")
		datesOK = false
	}
	milestones := f.Milestones
	if len(milestones) > MaxMilestones {
		c.add("milestones", FieldTooMany, fmt.Sprintf("at most %d", MaxMilestones))
		milestones = nil
	}
	ids := make(map[string]bool, len(milestones))
	for i, m := range milestones {
		p := fmt.Sprintf("milestones[%d].", i)
		switch {
		case m.ID == "":
			c.add(p+"id", FieldRequired, "required")
		case !isMilestoneID(m.ID):
			c.add(p+"id", FieldFormat, fmt.Sprintf("must be 1..%d of A-Z, a-z, 0-9, '.', '_', '-'", MaxMilestoneIDLen))
		case ids[m.ID]:
			c.add(p+"id", FieldDuplicate, fmt.Sprintf("%q is used twice", m.ID))
		}
		ids[m.ID] = true
		c.text(p+"title", m.Title, MaxTitleLen)
		if c.date(p+"due", m.Due) && datesOK && (m.Due.Before(f.StartDate) || m.Due.After(f.DueDate)) {
			c.add(p+"due", FieldRange, "must be between startDate and dueDate")
		}
	}
	if f.Budget != nil {
		b := *f.Budget
		if c.finite("budget.amount", b.Amount) && (b.Amount <= 0 || b.Amount > MaxBudgetAmount) {
			c.add("budget.amount", FieldRange, fmt.Sprintf("must be above 0 and at most %g", float64(MaxBudgetAmount)))
		}
		switch {
		case b.Currency == "":
			c.add("budget.currency", FieldRequired, "required")
		case !isUpperLetters(b.Currency, 3):
			c.add("budget.currency", FieldFormat, "must be an ISO 4217 code such as EUR")
		}
		c.text("budget.fundingSource", b.FundingSource, MaxFundingSourceLen)
	}
}

func (c *checker) indicator(in Indicator) {
	c.text("indicator.name", in.Name, MaxNameLen)
	c.text("indicator.unit", in.Unit, MaxUnitLen)
	dirOK := false
	switch in.Direction {
	case "":
		c.add("indicator.direction", FieldRequired, "required")
	case DirectionIncrease, DirectionDecrease:
		dirOK = true
	default:
		c.add("indicator.direction", FieldOneOf, "must be one of increase, decrease")
	}
	yearsOK, valuesOK := true, true
	for _, yv := range []struct {
		name string
		v    YearValue
	}{{"indicator.baseline", in.Baseline}, {"indicator.target", in.Target}} {
		valuesOK = c.finite(yv.name+".value", yv.v.Value) && valuesOK
		if yv.v.Year < MinYear || yv.v.Year > MaxYear {
			c.add(yv.name+".year", FieldRange, fmt.Sprintf("must be %d..%d", MinYear, MaxYear))
			yearsOK = false
		}
	}
	if yearsOK && in.Target.Year < in.Baseline.Year {
		c.add("indicator.target.year", FieldRange, "must not be before the baseline year")
	}
	if dirOK && valuesOK {
		switch {
		case in.Direction == DirectionIncrease && !(in.Target.Value > in.Baseline.Value):
			c.add("indicator.target.value", FieldRange, "must be above the baseline value for an increasing indicator")
		case in.Direction == DirectionDecrease && !(in.Target.Value < in.Baseline.Value):
			c.add("indicator.target.value", FieldRange, "must be below the baseline value for a decreasing indicator")
		}
	}
}

func validateUpdate(u SubmitRoadmapUpdate, s RoadmapItem) error {
	var c checker
	c.uuid("updateId", u.UpdateID)
	if u.ProgressPercent != nil && (*u.ProgressPercent < 0 || *u.ProgressPercent > 100) {
		c.add("progressPercent", FieldRange, "must be 0..100")
	}
	if m := u.Measurement; m != nil {
		if s.Indicator == nil {
			c.add("measurement", FieldNoIndicator, "the item has no indicator to measure")
		}
		c.finite("measurement.value", m.Value)
		switch {
		case m.Period == "":
			c.add("measurement.period", FieldRequired, "required")
		case !isPeriod(m.Period):
			c.add("measurement.period", FieldFormat, "must be YYYY, YYYY-Qn, YYYY-MM or YYYY-MM-DD")
		}
	}
	if len(u.MilestonesReached) > MaxMilestones {
		c.add("milestonesReached", FieldTooMany, fmt.Sprintf("at most %d", MaxMilestones))
	} else {
		seen := make(map[string]bool, len(u.MilestonesReached))
		for i, id := range u.MilestonesReached {
			f := fmt.Sprintf("milestonesReached[%d]", i)
			switch {
			case !hasMilestone(s.Milestones, id):
				c.add(f, FieldUnknownMilestone, fmt.Sprintf("the item has no milestone %q", id))
			case s.MilestoneReached(id):
				c.add(f, FieldAlreadyReached, fmt.Sprintf("milestone %q was reached before", id))
			case seen[id]:
				c.add(f, FieldDuplicate, fmt.Sprintf("%q is listed twice", id))
			}
			seen[id] = true
		}
	}
	c.text("narrative", u.Narrative, MaxTextLen)
	if len(u.Evidence) > MaxEvidence {
		c.add("evidence", FieldTooMany, fmt.Sprintf("at most %d", MaxEvidence))
	} else {
		for i, ev := range u.Evidence {
			p := fmt.Sprintf("evidence[%d].", i)
			if c.text(p+"uri", ev.URI, MaxURILen) {
				if pu, err := url.Parse(ev.URI); err != nil || !pu.IsAbs() {
					c.add(p+"uri", FieldFormat, "must be an absolute URI")
				}
			}
			switch {
			case ev.SHA256 == "":
				c.add(p+"sha256", FieldRequired, "required")
			case !isSHA256(ev.SHA256):
				c.add(p+"sha256", FieldFormat, "must be 64 lower-case hex digits")
			}
		}
	}
	return c.err()
}

func hasMilestone(ms []Milestone, id string) bool {
	for _, m := range ms {
		if m.ID == id {
			return true
		}
	}
	return false
}

func isSHA256(s string) bool {
	if len(s) != 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isLowerHex(s[i]) {
			return false
		}
	}
	return true
}

// validateCorrection checks a correction against the item and returns the update it corrects.
func validateCorrection(k CorrectMeasurement, s RoadmapItem) (UpdateRecord, error) {
	var c checker
	var u UpdateRecord
	found := false
	if c.uuid("updateId", k.UpdateID) {
		u, found = s.Update(k.UpdateID)
	}
	valueOK := c.finite("value", k.Value)
	if found {
		switch {
		case !u.Measured:
			c.add("updateId", FieldNoMeasurement, "the update has no measurement to correct")
		case valueOK && k.Value == u.Value:
			c.add("value", FieldUnchanged, "is already the value in force")
		}
	}
	c.text("reason", k.Reason, MaxReasonLen)
	if err := c.err(); err != nil {
		return UpdateRecord{}, err
	}
	if !found {
		return UpdateRecord{}, &NotFoundError{Kind: KindUpdate, ID: k.UpdateID}
	}
	return u, nil
}
