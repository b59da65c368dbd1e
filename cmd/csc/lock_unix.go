//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package main

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// lockFor takes the lock at path for the running csc serve: an exclusive advisory lock (flock) on that
// file (mode 0600), so that a second csc serve on the same store, what (e.g. "the event store
// /srv/csc/events.db"), is refused: its read models would not see the other's writes. The lock is the
// kernel's, so a server that dies (even by SIGKILL) releases it. The file holds the holder's process
// ID, for the message. release unlocks it (the file stays). The auditor's commands do not take it:
// they read while a server runs.
func lockFor(path, what string) (release func() error, err error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", what, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		b, _ := os.ReadFile(path)
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			holder := "another csc serve"
			if pid, perr := strconv.Atoi(strings.TrimSpace(string(b))); perr == nil {
				holder += " (process " + strconv.Itoa(pid) + ")"
			}
			return nil, fmt.Errorf("%s is in use by %s: stop it first, or give another --data or --store (lock %s)", what, holder, path)
		}
		return nil, fmt.Errorf("lock %s: %w", what, err)
	}
	if err := f.Truncate(0); err == nil {
		_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0) // for the message only
	}
	return func() error {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("unlock %s: %w", what, err)
		}
		return nil
	}, nil
}
