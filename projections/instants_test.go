package projections

import (
	"math"
	"math/big"
	"testing"
)

func TestSum128(t *testing.T) {
	tests := []struct {
		name  string
		terms []int64
	}{
		{"empty", nil},
		{"small", []int64{1, 2, -3, 4}},
		{"past 2^64", []int64{math.MaxInt64, math.MaxInt64, math.MaxInt64, 5}},
		{"back below zero", []int64{math.MaxInt64, math.MaxInt64, -math.MaxInt64, -math.MaxInt64, -1}},
		{"down and up", []int64{math.MinInt64, math.MinInt64, math.MaxInt64, math.MaxInt64, 2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var s sum128
			want := new(big.Int)
			for _, v := range tt.terms {
				s.add(v)
				want.Add(want, big.NewInt(v))
			}
			wf, _ := new(big.Float).SetInt(want).Float64()
			if got := s.float(); got != wf {
				t.Errorf("float = %v, want %v", got, wf)
			}
			if s.isZero() != (want.Sign() == 0) {
				t.Errorf("isZero = %v for %v", s.isZero(), want)
			}
		})
	}
}

func TestInstants(t *testing.T) {
	var s instants
	for _, v := range []int64{5, 1, 3, 3, 9} {
		s.add(v)
	}
	s.remove(3)
	s.remove(42) // absent: no change
	tests := []struct {
		at                int64
		before, atOrEarly int
	}{
		{0, 0, 0}, {1, 0, 1}, {3, 1, 2}, {4, 2, 2}, {5, 2, 3}, {9, 3, 4}, {math.MaxInt64, 4, 4},
	}
	for _, tt := range tests {
		if got := s.before(tt.at); got != tt.before {
			t.Errorf("before(%d) = %d, want %d", tt.at, got, tt.before)
		}
		if got := s.atOrBefore(tt.at); got != tt.atOrEarly {
			t.Errorf("atOrBefore(%d) = %d, want %d", tt.at, got, tt.atOrEarly)
		}
	}
}
