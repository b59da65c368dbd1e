//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package main

// lockFor does not lock on this platform (no flock): two csc serve on one store are not refused
// here, and each one's read models miss the other's writes. Run one server per store.
func lockFor(string, string) (release func() error, err error) {
	return func() error { return nil }, nil
}
