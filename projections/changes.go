package projections

import (
	"encoding/json"
	"math"
	"slices"
	"strings"

	"github.com/metropolis/csc/domain"
)

// FieldChange is a field an event of an item's history changed: its JSON value before and after.
// Before is left out when the field had no value (a proposal, a new measurement), After when the
// event removed it; a JSON null stands for an optional field (indicator, budget) that was absent.
type FieldChange struct {
	Field  string          `json:"field"`
	Before json.RawMessage `json:"before,omitempty"`
	After  json.RawMessage `json:"after,omitempty"`
}

// numItemFields is the number of fields of a roadmap item a proposal sets and a revision may change.
const numItemFields = 9

// itemFieldNames are the fields of a roadmap item, in the order changes are listed: the JSON names
// of domain.ItemFields.
func itemFieldNames() [numItemFields]string {
	return [...]string{"title", "description", "theme", "sdgTargets", "indicator", "milestones", "budget", "startDate", "dueDate"}
}

// fieldAnys returns f's fields, in itemFieldNames order.
func fieldAnys(f *domain.ItemFields) [numItemFields]any {
	return [...]any{f.Title, f.Description, f.Theme, f.SDGTargets, f.Indicator, f.Milestones, f.Budget, f.StartDate, f.DueDate}
}

// fieldValues returns the JSON values of f's fields, in itemFieldNames order. A value that does
// not encode (a non-finite number) is null.
func fieldValues(f *domain.ItemFields) [numItemFields]json.RawMessage {
	var out [numItemFields]json.RawMessage
	for i, v := range fieldAnys(f) {
		out[i] = jsonValue(v)
	}
	return out
}

func jsonValue(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		return json.RawMessage("null")
	}
	return b
}

// fields returns the item's current fields.
func (it *item) fields() domain.ItemFields {
	return domain.ItemFields{Title: it.title, Description: it.description, Theme: it.theme, SDGTargets: it.targets,
		Indicator: it.indicator, Milestones: it.milestones, Budget: it.budget, StartDate: it.start, DueDate: it.due}
}

// revisionDiff returns, encoded as JSON, the fields a revision to next changes (before and after),
// or "" when it changes none. Only revisions pay for it: the history keeps the changed fields, not
// copies of the item. A field whose Go values are the same (sameFields) encodes the same and is not
// encoded at all; the others are compared by their JSON values, as the models show them. The result
// is what json.Marshal of the []FieldChange gives (the values are json.Marshal output, already
// compact and escaped, and the field names are plain ASCII).
func revisionDiff(it *item, next *domain.ItemFields) string {
	cur := it.fields()
	same := sameFields(&cur, next)
	before, after := fieldAnys(&cur), fieldAnys(next)
	var b []byte
	for i, name := range itemFieldNames() {
		if same[i] {
			continue
		}
		bv, av := jsonValue(before[i]), jsonValue(after[i])
		if string(bv) == string(av) {
			continue
		}
		if b == nil {
			b = append(b, '[')
		} else {
			b = append(b, ',')
		}
		b = append(b, `{"field":"`...)
		b = append(b, name...)
		b = append(b, `","before":`...)
		b = append(b, bv...)
		b = append(b, `,"after":`...)
		b = append(b, av...)
		b = append(b, '}')
	}
	if b == nil {
		return ""
	}
	return string(append(b, ']'))
}

// sameFields reports, in itemFieldNames order, the fields of a and b whose values are the same, so
// that their JSON encodings are too: equal strings, slices of equal elements that are both nil or
// both not, pointers both nil or to equal values, and numbers with the same bits (0 and -0 encode
// differently). false only means "compare the encodings".
func sameFields(a, b *domain.ItemFields) [numItemFields]bool {
	sameFloat := func(x, y float64) bool { return math.Float64bits(x) == math.Float64bits(y) }
	sameYear := func(x, y domain.YearValue) bool { return x.Year == y.Year && sameFloat(x.Value, y.Value) }
	var indicator, budget bool
	switch x, y := a.Indicator, b.Indicator; {
	case x == nil || y == nil:
		indicator = x == y
	default:
		indicator = x.Name == y.Name && x.Unit == y.Unit && x.Direction == y.Direction &&
			sameYear(x.Baseline, y.Baseline) && sameYear(x.Target, y.Target)
	}
	switch x, y := a.Budget, b.Budget; {
	case x == nil || y == nil:
		budget = x == y
	default:
		budget = sameFloat(x.Amount, y.Amount) && x.Currency == y.Currency && x.FundingSource == y.FundingSource
	}
	return [...]bool{
		a.Title == b.Title,
		a.Description == b.Description,
		a.Theme == b.Theme,
		(a.SDGTargets == nil) == (b.SDGTargets == nil) && slices.Equal(a.SDGTargets, b.SDGTargets),
		indicator,
		(a.Milestones == nil) == (b.Milestones == nil) && slices.Equal(a.Milestones, b.Milestones),
		budget,
		a.StartDate == b.StartDate,
		a.DueDate == b.DueDate,
	}
}

// stageAfter is the stage an item event leaves the item in ("" for events that keep the stage).
func stageAfter(k eventKind) domain.Stage {
	switch k {
	case kindProposed, kindRevised:
		return domain.StageProposed
	case kindApproved:
		return domain.StageApproved
	case kindChangesRequested:
		return domain.StageChangesRequested
	case kindRejected:
		return domain.StageRejected
	case kindStarted, kindResumed:
		return domain.StageInProgress
	case kindOnHold:
		return domain.StageOnHold
	case kindCompleted:
		return domain.StageCompleted
	case kindCancelled:
		return domain.StageCancelled
	}
	return ""
}

// stageOfRef is the stage a stageRef keeps ("" for none).
func stageOfRef(r uint8) domain.Stage {
	stages := [...]domain.Stage{domain.StageProposed, domain.StageChangesRequested, domain.StageApproved,
		domain.StageInProgress, domain.StageOnHold, domain.StageCompleted, domain.StageRejected, domain.StageCancelled}
	if r == 0 || int(r) > len(stages) {
		return ""
	}
	return stages[r-1]
}

// stageRef is a stage kept in one byte: stageIndex+1, 0 for none or unknown.
func stageRef(s domain.Stage) uint8 { return uint8(stageIndex(s) + 1) }

// progressRef is a progress percentage kept in one byte: percent+1, 0 for none (or out of range).
func progressRef(percent int, reported bool) uint8 {
	if !reported || percent < 0 || percent >= math.MaxUint8 {
		return 0
	}
	return uint8(percent + 1)
}

// historyChanges returns the field changes of each of the item's history records, by index. The
// values a proposal set are found by undoing the later revisions' changes on the item's current
// fields, newest first, so that the history keeps no copy of them.
func (s *state) historyChanges(it *item) [][]FieldChange {
	out := make([][]FieldChange, len(it.history))
	cur := it.fields()
	values := fieldValues(&cur)
	for i := len(it.history) - 1; i >= 0; i-- {
		rec := it.history[i]
		var changes []FieldChange
		switch rec.kind {
		case kindProposed:
			for j, name := range itemFieldNames() {
				changes = append(changes, FieldChange{Field: name, After: values[j]})
			}
		case kindRevised:
			if diff := s.texts.get(rec.aux); diff != "" {
				var fc []FieldChange
				if json.Unmarshal([]byte(diff), &fc) == nil {
					changes = fc
					for _, c := range fc {
						if j := fieldIndex(c.Field); j >= 0 {
							values[j] = c.Before
						}
					}
				}
			}
		case kindUpdate:
			if rec.flags&flagProgress != 0 {
				c := FieldChange{Field: "progressPercent", After: jsonValue(int(rec.a))}
				if rec.prev > 0 {
					c.Before = jsonValue(int(rec.prev) - 1)
				}
				changes = append(changes, c)
			}
			if rec.flags&flagMeasurement != 0 {
				changes = append(changes, FieldChange{Field: "measurement.value", After: jsonValue(rec.b)})
			}
			if aux := s.texts.get(rec.aux); aux != "" {
				changes = append(changes, FieldChange{Field: "milestonesReached", After: jsonValue(strings.Split(aux, ", "))})
			}
		case kindCorrected:
			field := "measurement.value"
			if n := int(rec.n); n > 0 && n <= len(it.measurements) {
				field = "updates[" + it.measurements[n-1].updateID + "].measurement.value"
			}
			changes = append(changes, FieldChange{Field: field, Before: jsonValue(rec.a), After: jsonValue(rec.b)})
		}
		if after := stageAfter(rec.kind); after != "" {
			before := stageOfRef(rec.from)
			if before != after {
				c := FieldChange{Field: "stage", After: jsonValue(after)}
				if before != "" {
					c.Before = jsonValue(before)
				}
				changes = append(changes, c)
			}
		}
		out[i] = changes
	}
	return out
}

func fieldIndex(name string) int {
	for i, n := range itemFieldNames() {
		if n == name {
			return i
		}
	}
	return -1
}
