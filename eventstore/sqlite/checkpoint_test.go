package sqlite

import (
	"context"
	"fmt"
	"os"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/metropolis/csc/eventstore"
)

// TestBackgroundCheckpoint checks that committed appends reach the database file while the store is
// open, far below the writer's own checkpoint threshold: the checkpointer copies the WAL in the
// background.
func TestBackgroundCheckpoint(t *testing.T) {
	for _, drv := range Drivers() {
		t.Run(drv, func(t *testing.T) {
			reg := prometheus.NewRegistry()
			s := openTemp(t, Options{Driver: drv, Registerer: reg})
			before := fileSize(t, s.Path())
			for i := range 50 {
				mustAppend(t, s, fmt.Sprintf("ckpt-%d", i), eventstore.NoStream(), events("Checkpointed", 20))
			}
			waitFor(t, "a background checkpoint after the appends", func() bool {
				n, _ := histogram(t, reg, "csc_eventstore_sqlite_checkpoint_duration_seconds")
				return n > 0 && fileSize(t, s.Path()) > before
			})
			// Nothing is left in the WAL that the file lacks, once the checkpointer has caught up.
			waitFor(t, "the WAL copied whole into the file", func() bool {
				var busy, frames, copied int
				err := s.w.ckpt.db.QueryRowContext(context.Background(), "PRAGMA wal_checkpoint(PASSIVE)").Scan(&busy, &frames, &copied)
				return err == nil && frames == copied
			})
			if got := len(readAll(t, s)); got != 50*20 {
				t.Fatalf("$all: want %d events, got %d", 50*20, got)
			}
		})
	}
}

func fileSize(t testing.TB, path string) int64 {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}
