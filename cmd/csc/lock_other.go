//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package main

// lockDataDir does not lock on this platform (no flock): two csc serve on one data folder are not
// refused here, and each one's read models miss the other's writes. Run one server per data folder.
func lockDataDir(string) (release func() error, err error) {
	return func() error { return nil }, nil
}
