//go:build unix

package sqlite

import "syscall"

// Modes of canAccess: access(2)'s R_OK and W_OK.
const (
	accessRead  = 4
	accessWrite = 2
)

// canAccess reports, by access(2), whether this process may read or write path. It opens nothing:
// closing a descriptor of a database file would drop the POSIX locks SQLite holds on it for other
// connections of this process.
func canAccess(path string, mode uint32) error { return syscall.Access(path, mode) }
