//go:build !(cgo && csc_mattn)

package sqlite

// mattnDriver reports that github.com/mattn/go-sqlite3 is not compiled in (it needs cgo and the
// csc_mattn build tag), which keeps the default build pure Go and static.
func mattnDriver() (sqlDriver, bool) { return sqlDriver{}, false }
