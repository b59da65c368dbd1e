//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// lockDataDir takes the data folder's lock: an exclusive advisory lock (flock) on <dir>/serve.lock
// (mode 0600), so that a second csc serve on the same folder is refused: its read models would not
// see the other's writes. The lock is the kernel's, so a server that dies (even by SIGKILL) releases
// it. The file holds the holder's process ID, for the message. release unlocks it (the file stays).
// The auditor's commands do not take it: they read while a server runs.
func lockDataDir(dir string) (release func() error, err error) {
	path := filepath.Join(dir, lockFile)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock the data folder %s: %w", dir, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		b, _ := os.ReadFile(path)
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			holder := "another csc serve"
			if pid, perr := strconv.Atoi(strings.TrimSpace(string(b))); perr == nil {
				holder += " (process " + strconv.Itoa(pid) + ")"
			}
			return nil, fmt.Errorf("the data folder %s is in use by %s: stop it first, or give another --data (lock %s)", dir, holder, path)
		}
		return nil, fmt.Errorf("lock the data folder %s: %w", dir, err)
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
			return fmt.Errorf("unlock the data folder %s: %w", dir, err)
		}
		return nil
	}, nil
}
