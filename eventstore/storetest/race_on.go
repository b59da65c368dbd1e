//go:build race

package storetest

// raceEnabled reports whether the race detector is on. The 1,000,000-event memory case is skipped
// under it (it is 10-20 times slower there and tests nothing racy); `make test` runs it without -race.
const raceEnabled = true
