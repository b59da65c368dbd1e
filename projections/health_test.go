package projections

import (
	"math/big"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/metropolis/csc/domain"
)

// healthItem builds an item in stage stage with a progress timeline from start to due, an optional
// reported percentage, and an optional indicator with measurements.
func healthItem(stage domain.Stage, start, due string, pct *int, in *domain.Indicator, measured ...float64) *item {
	it := &item{stage: stage}
	it.setFields(&domain.ItemFields{Theme: domain.ThemeEcology, SDGTargets: []string{"11.1"}, Indicator: in,
		StartDate: day(start), DueDate: day(due)})
	if pct != nil {
		it.progressPercent, it.progressReported = *pct, true
	}
	for _, v := range measured {
		it.measurements = append(it.measurements, measurement{value: v})
	}
	return it
}

func ns(s string) int64 {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err)
	}
	return t.UnixNano()
}

// instantBig is from + floor(100*actual*(to-from) / (percent*1e6)), computed with big integers,
// independently of transition.
func instantBig(from, to, actual, percent int64) int64 {
	n := new(big.Int).Mul(big.NewInt(100*actual), big.NewInt(to-from))
	n.Quo(n, big.NewInt(percent*ppmOne))
	return from + n.Int64()
}

func TestHealthRuleEdges(t *testing.T) {
	// 2026-01-01 .. 2026-04-10: the timeline runs from 2026-01-01T00:00Z to 2026-04-11T00:00Z, 100 days.
	from, to := ns("2026-01-01T00:00:00Z"), ns("2026-04-11T00:00:00Z")
	const dayNS = int64(24 * time.Hour)
	progress19 := healthItem(domain.StageInProgress, "2026-01-01", "2026-04-10", ptr(19), nil)
	t1, t2 := from+20*dayNS, instantBig(from, to, 190_000, 85) // 19/95 of 100 days is exactly 20 days
	// Indicator basis: baseline 100 in 2020, target 200 in 2024: 2020-01-01 .. 2025-01-01.
	ind := func(dir domain.Direction, base, target float64) *domain.Indicator {
		return &domain.Indicator{Name: "x", Unit: "t", Direction: dir, Baseline: domain.YearValue{Value: base, Year: 2020},
			Target: domain.YearValue{Value: target, Year: 2024}}
	}
	iFrom, iTo := ns("2020-01-01T00:00:00Z"), ns("2025-01-01T00:00:00Z")
	half := healthItem(domain.StageInProgress, "2026-01-01", "2026-04-10", ptr(99), ind(domain.DirectionIncrease, 100, 200), 150)
	it1, it2 := instantBig(iFrom, iTo, 500_000, 95), instantBig(iFrom, iTo, 500_000, 85)

	tests := []struct {
		name string
		it   *item
		at   int64
		want Health
	}{
		{"before the start nothing is expected", progress19, from - 1, HealthOnTrack},
		{"on track up to t1 inclusive", progress19, t1, HealthOnTrack},
		{"behind one nanosecond after t1", progress19, t1 + 1, HealthBehind},
		{"behind up to t2 inclusive", progress19, t2, HealthBehind},
		{"at risk one nanosecond after t2", progress19, t2 + 1, HealthAtRisk},
		{"at risk long after the due date", progress19, to + 365*dayNS, HealthAtRisk},
		{"95 % is on track even after the due date", healthItem(domain.StageInProgress, "2026-01-01", "2026-04-10", ptr(95), nil), to + 365*dayNS, HealthOnTrack},
		{"94 % is behind after the due date", healthItem(domain.StageInProgress, "2026-01-01", "2026-04-10", ptr(94), nil), to, HealthBehind},
		{"85 % is never at risk", healthItem(domain.StageInProgress, "2026-01-01", "2026-04-10", ptr(85), nil), to + 365*dayNS, HealthBehind},
		{"84 % is at risk at the end", healthItem(domain.StageInProgress, "2026-01-01", "2026-04-10", ptr(84), nil), to, HealthAtRisk},
		{"no progress reported: on track at the start", healthItem(domain.StageInProgress, "2026-01-01", "2026-04-10", nil, nil), from, HealthOnTrack},
		{"no progress reported: at risk right after", healthItem(domain.StageInProgress, "2026-01-01", "2026-04-10", nil, nil), from + 1, HealthAtRisk},
		{"100 % in progress is achieved", healthItem(domain.StageInProgress, "2026-01-01", "2026-04-10", ptr(100), nil), to, HealthAchieved},
		{"on hold runs like in progress", healthItem(domain.StageOnHold, "2026-01-01", "2026-04-10", ptr(19), nil), t1 + 1, HealthBehind},
		{"approved is not started", healthItem(domain.StageApproved, "2026-01-01", "2026-04-10", nil, nil), to + 1, HealthNotStarted},
		{"completed is achieved", healthItem(domain.StageCompleted, "2026-01-01", "2026-04-10", ptr(10), nil), to + 1, HealthAchieved},
		{"proposed has no health", healthItem(domain.StageProposed, "2026-01-01", "2026-04-10", nil, nil), to, ""},
		{"changes requested has no health", healthItem(domain.StageChangesRequested, "2026-01-01", "2026-04-10", nil, nil), to, ""},
		{"rejected has no health", healthItem(domain.StageRejected, "2026-01-01", "2026-04-10", nil, nil), to, ""},
		{"cancelled has no health", healthItem(domain.StageCancelled, "2026-01-01", "2026-04-10", nil, nil), to, ""},
		{"indicator: on track up to t1", half, it1, HealthOnTrack},
		{"indicator: behind after t1", half, it1 + 1, HealthBehind},
		{"indicator: behind up to t2", half, it2, HealthBehind},
		{"indicator: at risk after t2", half, it2 + 1, HealthAtRisk},
		{"indicator beats the reported percentage", half, iTo, HealthAtRisk},
		{"decreasing indicator halfway", healthItem(domain.StageInProgress, "2026-01-01", "2026-04-10", nil, ind(domain.DirectionDecrease, 100, 50), 75), it1 + 1, HealthBehind},
		{"indicator past its target is achieved", healthItem(domain.StageInProgress, "2026-01-01", "2026-04-10", nil, ind(domain.DirectionDecrease, 100, 50), 40), iTo, HealthAchieved},
		{"indicator the wrong way counts as no progress", healthItem(domain.StageInProgress, "2026-01-01", "2026-04-10", nil, ind(domain.DirectionIncrease, 100, 200), 90), iFrom + 1, HealthAtRisk},
		{"indicator without a measurement uses the percentage", healthItem(domain.StageInProgress, "2026-01-01", "2026-04-10", ptr(19), ind(domain.DirectionIncrease, 100, 200)), t1 + 1, HealthBehind},
		{"the latest measurement counts", healthItem(domain.StageInProgress, "2026-01-01", "2026-04-10", nil, ind(domain.DirectionIncrease, 100, 200), 200, 150), it1 + 1, HealthBehind},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := healthCurve(tt.it)
			if got := c.at(tt.at); got != tt.want {
				t.Errorf("health at %s = %q, want %q (curve %+v)", time.Unix(0, tt.at).UTC().Format(time.RFC3339Nano), got, tt.want, c)
			}
		})
	}
}

func TestHealthCurveInstants(t *testing.T) {
	from, to := ns("2026-01-01T00:00:00Z"), ns("2026-04-11T00:00:00Z")
	tests := []struct {
		name   string
		it     *item
		want   curve
		expect map[int64]float64 // expected progress at some instants
	}{
		{
			name: "progress basis",
			it:   healthItem(domain.StageInProgress, "2026-01-01", "2026-04-10", ptr(19), nil),
			want: curve{class: classRunning, actual: 190_000, from: from, to: to, t1: from + 20*24*int64(time.Hour),
				t2: instantBig(from, to, 190_000, 85), basis: BasisProgress},
			expect: map[int64]float64{from - 1: 0, from: 0, (from + to) / 2: 0.5, to: 1, to + 1: 1},
		},
		{
			name:   "thresholds met for good",
			it:     healthItem(domain.StageOnHold, "2026-01-01", "2026-04-10", ptr(96), nil),
			want:   curve{class: classRunning, actual: 960_000, from: from, to: to, t1: never, t2: never, basis: BasisProgress},
			expect: map[int64]float64{to: 1},
		},
		{
			name: "a one-day item",
			it:   healthItem(domain.StageInProgress, "2026-01-01", "2026-01-01", ptr(50), nil),
			want: curve{class: classRunning, actual: 500_000, from: from, to: from + 24*int64(time.Hour),
				t1: instantBig(from, from+24*int64(time.Hour), 500_000, 95), t2: instantBig(from, from+24*int64(time.Hour), 500_000, 85), basis: BasisProgress},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := healthCurve(tt.it)
			if d := cmp.Diff(tt.want, got, cmp.AllowUnexported(curve{})); d != "" {
				t.Errorf("curve (-want +got):\n%s", d)
			}
			for at, e := range tt.expect {
				if g := got.expected(at); g != e {
					t.Errorf("expected(%d) = %v, want %v", at, g, e)
				}
			}
		})
	}
}

func TestTransitionExtremes(t *testing.T) {
	// The widest timeline the clamped years allow, with the largest actual below the thresholds,
	// must not overflow.
	from, to := yearStart(minYear), yearStart(maxYear)
	for _, pct := range []int64{OnTrackPercent, BehindPercent} {
		actual := pct*ppmOne/100 - 1
		got := transition(from, to, actual, pct)
		if want := instantBig(from, to, actual, pct); got != want || got >= to {
			t.Errorf("transition(%d %%) = %d, want %d (< %d)", pct, got, want, to)
		}
		if got := transition(from, to, actual+1, pct); got != never {
			t.Errorf("transition at the threshold = %d, want never", got)
		}
	}
}

func TestActualProgressRounding(t *testing.T) {
	in := &domain.Indicator{Direction: domain.DirectionIncrease, Baseline: domain.YearValue{Value: 0, Year: 2020},
		Target: domain.YearValue{Value: 3, Year: 2021}}
	tests := []struct {
		it   *item
		want int64
	}{
		{healthItem(domain.StageInProgress, "2026-01-01", "2026-04-10", nil, in, 1), 333_333},
		{healthItem(domain.StageInProgress, "2026-01-01", "2026-04-10", nil, in, 3), ppmOne},
		{healthItem(domain.StageInProgress, "2026-01-01", "2026-04-10", nil, in, -1), 0},
		{healthItem(domain.StageInProgress, "2026-01-01", "2026-04-10", ptr(37), nil), 370_000},
		{healthItem(domain.StageInProgress, "2026-01-01", "2026-04-10", nil, nil), 0},
	}
	for i, tt := range tests {
		if got := actualProgress(tt.it); got != tt.want {
			t.Errorf("case %d: actual = %d, want %d", i, got, tt.want)
		}
	}
}
