package projections

import (
	"math/bits"
	"slices"
)

// instants is a sorted multiset of instants (Unix nanoseconds) that counts how many are before a
// moment with a binary search. Adding and removing keep it sorted (a copy of the tail); a batch
// rebuild sorts it once instead (see state.reindex).
type instants []int64

// add inserts t.
func (s *instants) add(t int64) {
	i, _ := slices.BinarySearch(*s, t)
	*s = slices.Insert(*s, i, t)
}

// remove deletes one t, which must be present.
func (s *instants) remove(t int64) {
	if i, found := slices.BinarySearch(*s, t); found {
		*s = slices.Delete(*s, i, i+1)
	}
}

// before counts the instants strictly before t.
func (s instants) before(t int64) int {
	i, _ := slices.BinarySearch(s, t)
	return i
}

// atOrBefore counts the instants at or before t.
func (s instants) atOrBefore(t int64) int {
	if t == 1<<63-1 {
		return len(s)
	}
	return s.before(t + 1)
}

// sum128 is an exact signed 128-bit sum of int64 terms (budget amounts in thousandths): adding
// and subtracting in any order gives the same total, which a float64 sum would not.
type sum128 struct {
	hi int64
	lo uint64
}

func (s *sum128) add(v int64) {
	var carry uint64
	s.lo, carry = bits.Add64(s.lo, uint64(v), 0)
	ext := int64(0)
	if v < 0 {
		ext = -1
	}
	s.hi += ext + int64(carry)
}

func (s sum128) isZero() bool { return s.hi == 0 && s.lo == 0 }

// float returns the sum as a float64.
func (s sum128) float() float64 {
	if s.hi < 0 {
		lo, borrow := bits.Sub64(0, s.lo, 0)
		hi := uint64(0) - uint64(s.hi) - borrow
		return -(float64(hi)*(1<<64) + float64(lo))
	}
	return float64(s.hi)*(1<<64) + float64(s.lo)
}
