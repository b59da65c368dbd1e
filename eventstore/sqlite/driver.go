package sqlite

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"strings"

	modernc "modernc.org/sqlite"
)

// Driver names accepted in Options.Driver.
const (
	DriverModernc = "modernc"
	DriverMattn   = "mattn"
)

// sqlDriver is one of the SQLite drivers this package can use.
type sqlDriver struct {
	name string
	drv  driver.Driver
	// code extracts the extended SQLite result code (SQLITE_READONLY_DIRECTORY, ...) from a driver
	// error; its low byte is the primary code (SQLITE_READONLY, ...).
	code func(error) (int, bool)
}

// Drivers lists the driver names compiled into this binary, the default first.
func Drivers() []string {
	if _, ok := mattnDriver(); ok {
		return []string{DriverModernc, DriverMattn}
	}
	return []string{DriverModernc}
}

func driverNamed(name string) (sqlDriver, error) {
	switch name {
	case "", DriverModernc:
		return sqlDriver{name: DriverModernc, drv: &modernc.Driver{}, code: moderncCode}, nil
	case DriverMattn:
		d, ok := mattnDriver()
		if !ok {
			return sqlDriver{}, fmt.Errorf("driver %q is not compiled in: build with CGO_ENABLED=1 -tags csc_mattn", name)
		}
		return d, nil
	}
	return sqlDriver{}, fmt.Errorf("unknown driver %q (want %q or %q)", name, DriverModernc, DriverMattn)
}

func moderncCode(err error) (int, bool) {
	var e *modernc.Error
	if errors.As(err, &e) {
		return e.Code(), true
	}
	return 0, false
}

// connector opens connections through a driver and runs setup statements (PRAGMAs) on each before
// database/sql uses it. It returns the driver's own connection, so every optional interface the
// driver implements stays visible to database/sql.
type connector struct {
	drv   sqlDriver
	dsn   string
	setup []string
}

func (c *connector) Connect(ctx context.Context) (driver.Conn, error) {
	conn, err := c.drv.drv.Open(c.dsn)
	if err != nil {
		return nil, err
	}
	execer, ok := conn.(driver.ExecerContext)
	if !ok {
		conn.Close()
		return nil, fmt.Errorf("driver %s: connection cannot execute statements", c.drv.name)
	}
	for _, q := range c.setup {
		if _, err := execer.ExecContext(ctx, q, nil); err != nil {
			conn.Close()
			return nil, fmt.Errorf("%s: %w", q, err)
		}
	}
	return conn, nil
}

func (c *connector) Driver() driver.Driver { return c.drv.drv }

// fileURI is the SQLite URI of the file at path (absolute) opened with mode ("ro", "rw", "rwc").
// Both drivers hand a "file:" name to sqlite3_open_v2 with URI processing on.
func fileURI(path, mode string) string {
	escaped := strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23").Replace(path)
	return "file:" + escaped + "?mode=" + mode
}

// snapshotURI is the SQLite URI of the file at path (absolute) opened read-only as immutable: SQLite
// reads the file alone, takes no locks, and never creates a -wal or -shm file beside it.
func snapshotURI(path string) string {
	return fileURI(path, "ro") + "&immutable=1"
}
