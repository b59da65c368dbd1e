package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"
)

// applicationID is stored in the file header (PRAGMA application_id) to mark a CSC event store: "CSC1".
const applicationID = 0x43534331

// recordedLayout is the text form of the recorded column: RFC 3339 in UTC with a fixed nine-digit
// fraction, so that the text sorts like the time.
const recordedLayout = "2006-01-02T15:04:05.000000000Z"

// migration is one step of the schema. Step i (1-based) brings the file to PRAGMA user_version i.
type migration struct {
	name  string
	stmts []string
}

// migrations lists the schema steps in order. Only append to it: a released step never changes.
func migrations() []migration {
	return []migration{
		{
			name: "events table",
			stmts: []string{
				fmt.Sprintf("PRAGMA application_id = %d", applicationID),
				`CREATE TABLE schema_migrations (
					version INTEGER PRIMARY KEY,
					name    TEXT NOT NULL,
					applied TEXT NOT NULL
				)`,
				// position is $all (1, 2, 3, ...); revision counts from 0 within a stream; event_id is
				// the canonical UUID text; data and metadata are JSON text; recorded is the commit time.
				`CREATE TABLE events (
					position INTEGER PRIMARY KEY,
					stream   TEXT    NOT NULL,
					revision INTEGER NOT NULL,
					event_id TEXT    NOT NULL,
					type     TEXT    NOT NULL,
					data     TEXT,
					metadata TEXT,
					recorded TEXT    NOT NULL,
					UNIQUE (stream, revision),
					UNIQUE (event_id)
				)`,
			},
		},
		{
			name: "streams view",
			stmts: []string{
				// For auditors: every stream with its current revision and last position.
				`CREATE VIEW streams AS
					SELECT stream, max(revision) AS revision, max(position) AS position, count(*) AS events
					FROM events GROUP BY stream`,
			},
		},
	}
}

// schemaVersion is the version the code knows: that of the last migration.
func schemaVersion() int { return len(migrations()) }

// migrate applies the steps the database on conn lacks, in order, in one IMMEDIATE transaction: all
// of them or none. It refuses a file with a version beyond steps, or one that is another application's.
func migrate(ctx context.Context, conn *sql.Conn, steps []migration, now time.Time) (err error) {
	if _, err := conn.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer func() {
		if err != nil {
			_, _ = conn.ExecContext(context.Background(), "ROLLBACK")
		}
	}()
	version, err := checkHeader(ctx, conn)
	if err != nil {
		return err
	}
	if version > len(steps) {
		return fmt.Errorf("%w: file is at version %d, this program knows up to %d: use a newer csc", ErrSchemaTooNew, version, len(steps))
	}
	for v := version + 1; v <= len(steps); v++ {
		step := steps[v-1]
		for _, q := range step.stmts {
			if _, err := conn.ExecContext(ctx, q); err != nil {
				return fmt.Errorf("migration %d (%s): %w", v, step.name, err)
			}
		}
		if _, err := conn.ExecContext(ctx, "INSERT INTO schema_migrations (version, name, applied) VALUES (?, ?, ?)",
			v, step.name, now.UTC().Format(recordedLayout)); err != nil {
			return fmt.Errorf("migration %d (%s): %w", v, step.name, err)
		}
		// PRAGMA user_version is part of the transaction: it commits with the steps or not at all.
		if _, err := conn.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", v)); err != nil {
			return fmt.Errorf("migration %d (%s): %w", v, step.name, err)
		}
	}
	if _, err := conn.ExecContext(ctx, "COMMIT"); err != nil {
		return fmt.Errorf("commit migrations: %w", err)
	}
	return nil
}

// checkHeader returns the schema version of the database on conn, after checking that it is a CSC
// event store or an empty database.
func checkHeader(ctx context.Context, conn *sql.Conn) (int, error) {
	var version, appID int
	if err := conn.QueryRowContext(ctx, "PRAGMA user_version").Scan(&version); err != nil {
		return 0, fmt.Errorf("read schema version: %w", err)
	}
	if err := conn.QueryRowContext(ctx, "PRAGMA application_id").Scan(&appID); err != nil {
		return 0, fmt.Errorf("read application id: %w", err)
	}
	if appID != 0 && appID != applicationID {
		return 0, fmt.Errorf("%w: application id is %#x", ErrNotEventStore, appID)
	}
	if version == 0 {
		var tables []string
		rows, err := conn.QueryContext(ctx, "SELECT name FROM sqlite_schema WHERE name NOT LIKE 'sqlite_%' ORDER BY name")
		if err != nil {
			return 0, fmt.Errorf("read schema: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			var name string
			if err := rows.Scan(&name); err != nil {
				return 0, fmt.Errorf("read schema: %w", err)
			}
			tables = append(tables, name)
		}
		if err := rows.Err(); err != nil {
			return 0, fmt.Errorf("read schema: %w", err)
		}
		if len(tables) > 0 {
			return 0, fmt.Errorf("%w: no schema version but holds %s", ErrNotEventStore, strings.Join(tables, ", "))
		}
	} else if appID != applicationID {
		return 0, fmt.Errorf("%w: schema version %d but no CSC application id", ErrNotEventStore, version)
	}
	return version, nil
}
