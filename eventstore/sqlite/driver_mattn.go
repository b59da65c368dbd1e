//go:build cgo && csc_mattn

package sqlite

import (
	"errors"

	mattn "github.com/mattn/go-sqlite3"
)

// mattnDriver is github.com/mattn/go-sqlite3, compiled in with cgo and the csc_mattn build tag.
func mattnDriver() (sqlDriver, bool) {
	return sqlDriver{name: DriverMattn, drv: &mattn.SQLiteDriver{}, code: mattnCode}, true
}

func mattnCode(err error) (int, bool) {
	var e mattn.Error
	if errors.As(err, &e) {
		return int(e.ExtendedCode), true
	}
	return 0, false
}
