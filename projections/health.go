package projections

import (
	"math"
	"math/bits"
	"time"

	"github.com/metropolis/csc/domain"
)

// Health is how a roadmap item is doing against its plan. It is computed at query time against a
// moment ("now", or the as-of time) and never stored. Items that are not committed to (proposed,
// changes requested, rejected, cancelled) have no health ("").
type Health string

// The health values.
const (
	HealthNotStarted Health = "not_started"
	HealthOnTrack    Health = "on_track"
	HealthBehind     Health = "behind"
	HealthAtRisk     Health = "at_risk"
	HealthAchieved   Health = "achieved"
)

// Healths lists every health value.
func Healths() []Health {
	return []Health{HealthNotStarted, HealthOnTrack, HealthBehind, HealthAtRisk, HealthAchieved}
}

// Valid reports whether h is one of the health values.
func (h Health) Valid() bool {
	switch h {
	case HealthNotStarted, HealthOnTrack, HealthBehind, HealthAtRisk, HealthAchieved:
		return true
	}
	return false
}

// The thresholds of the health rule, in percent of the expected progress.
const (
	OnTrackPercent = 95 // on track while actual >= 95 % of expected
	BehindPercent  = 85 // behind while actual >= 85 % of expected, at risk below
)

// ppm is progress in millionths: 0 is nothing done, ppmOne is all done.
const ppmOne = 1_000_000

// never is the instant of a transition that never happens.
const never = math.MaxInt64

// HealthBasis says what an item's actual and expected progress are measured on.
type HealthBasis string

// The bases of the health rule.
const (
	// BasisIndicator: the latest measurement of the indicator, between its baseline and target
	// values, against time between the baseline and target years.
	BasisIndicator HealthBasis = "indicator"
	// BasisProgress: the latest reported progress percentage, against time between the item's
	// start and due dates.
	BasisProgress HealthBasis = "progress"
)

// curve is an item's health as a function of time, fixed until the item's next event. The health
// is piecewise constant: always the same for a class other than classRunning; for classRunning it
// is on track up to and including t1, behind after t1 up to and including t2, at risk after t2.
type curve struct {
	class    healthClass
	actual   int64 // actual progress, ppm (0..ppmOne)
	from, to int64 // the expected-progress timeline [from, to), Unix nanoseconds
	t1, t2   int64 // Unix nanoseconds, or never
	basis    HealthBasis
}

type healthClass uint8

const (
	classNone healthClass = iota // no health (not committed to)
	classNotStarted
	classAchieved
	classRunning
)

// at returns the health at t (Unix nanoseconds).
func (c curve) at(t int64) Health {
	switch c.class {
	case classNotStarted:
		return HealthNotStarted
	case classAchieved:
		return HealthAchieved
	case classRunning:
		switch {
		case t <= c.t1:
			return HealthOnTrack
		case t <= c.t2:
			return HealthBehind
		default:
			return HealthAtRisk
		}
	}
	return ""
}

// expected returns the expected progress at t, 0..1.
func (c curve) expected(t int64) float64 {
	if c.to <= c.from {
		return 0
	}
	switch {
	case t <= c.from:
		return 0
	case t >= c.to:
		return 1
	}
	return float64(t-c.from) / float64(c.to-c.from)
}

// healthCurve computes the health curve of an item (see the package documentation for the rule).
func healthCurve(it *item) curve {
	c := curve{basis: BasisProgress, actual: actualProgress(it)}
	if it.indicatorBased() {
		c.basis = BasisIndicator
		c.from, c.to = it.fix.base, it.fix.target
	} else {
		c.from, c.to = it.fix.start, it.fix.due
	}
	switch it.stage {
	case domain.StageApproved:
		c.class = classNotStarted
	case domain.StageCompleted:
		c.class, c.actual = classAchieved, ppmOne
	case domain.StageInProgress, domain.StageOnHold:
		if c.actual >= ppmOne {
			c.class = classAchieved
			break
		}
		c.class = classRunning
		c.t1 = transition(c.from, c.to, c.actual, OnTrackPercent)
		c.t2 = transition(c.from, c.to, c.actual, BehindPercent)
	default:
		c.class = classNone
	}
	return c
}

// transition returns the last instant t at which actual >= percent % of the expected progress
// e(t) = (t-from)/(to-from) (clamped to 0..1), exactly, in integers:
//
//	100 * actual/ppmOne >= percent * (t-from)/(to-from)  <=>  t-from <= floor(100*actual*(to-from) / (percent*ppmOne))
//
// It is never when the condition holds for every t (100*actual >= percent*ppmOne, since e <= 1).
func transition(from, to, actual int64, percent int64) int64 {
	if 100*actual >= percent*ppmOne {
		return never
	}
	span := to - from
	if span <= 0 {
		// A timeline without length expects everything from its start on.
		return from - 1
	}
	hi, lo := bits.Mul64(uint64(100*actual), uint64(span))
	q, _ := bits.Div64(hi, lo, uint64(percent*ppmOne)) // hi < divisor: the quotient is below span
	return from + int64(q)
}

// actualProgress is an item's actual progress in ppm: on the indicator basis the latest measured
// value's share of the way from baseline to target; else the latest reported percentage; else 0.
// It is clamped to 0..ppmOne.
func actualProgress(it *item) int64 {
	if it.indicatorBased() {
		in := it.indicator
		m := it.measurements[len(it.measurements)-1]
		f := (m.value - in.Baseline.Value) / (in.Target.Value - in.Baseline.Value)
		switch {
		case math.IsNaN(f) || f <= 0:
			return 0
		case f >= 1:
			return ppmOne
		}
		return int64(math.Floor(f * ppmOne))
	}
	if it.progressReported {
		return int64(min(max(it.progressPercent, 0), 100)) * (ppmOne / 100)
	}
	return 0
}

// Instants are Unix nanoseconds of years clamped to minYear..maxYear, so that every instant and
// every span between two of them fits in an int64 (the domain accepts years 1900..2100).
const minYear, maxYear = 1900, 2150

func clampYear(y int) int { return min(max(y, minYear), maxYear) }

// yearStart is 1 January of year, 00:00 UTC.
func yearStart(year int) int64 {
	return time.Date(clampYear(year), time.January, 1, 0, 0, 0, 0, time.UTC).UnixNano()
}

// dayStart is the start (00:00 UTC) of d; a zero Date is the start of minYear.
func dayStart(d domain.Date) int64 {
	if d.IsZero() {
		return yearStart(minYear)
	}
	return time.Date(clampYear(d.Year), d.Month, d.Day, 0, 0, 0, 0, time.UTC).UnixNano()
}

// dayEnd is the end of d: the start (00:00 UTC) of the next day.
func dayEnd(d domain.Date) int64 {
	if d.IsZero() {
		return yearStart(minYear)
	}
	return time.Date(clampYear(d.Year), d.Month, d.Day+1, 0, 0, 0, 0, time.UTC).UnixNano()
}
