package main

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/metropolis/csc/eventstore"
	"github.com/metropolis/csc/eventstore/esdb"
	"github.com/metropolis/csc/eventstore/sqlite"
)

// storeFile is the embedded store's file in the data folder.
const storeFile = "events.db"

// openStore opens the store named by spec (CSC_STORE / --store):
//
//	""                      the embedded SQLite store in <data>/events.db
//	sqlite:<path>           the embedded SQLite store in the file at path
//	esdb://host:2113?...    EventStoreDB / KurrentDB (also esdb+discover://)
//
// It returns the store and a description for the logs (without credentials).
func openStore(ctx context.Context, spec, dataDir string, reg prometheus.Registerer, log *slog.Logger) (eventstore.Store, string, error) {
	switch {
	case spec == "" || strings.HasPrefix(spec, "sqlite:"):
		path := strings.TrimPrefix(spec, "sqlite:")
		if path == "" {
			path = filepath.Join(dataDir, storeFile)
		}
		st, err := sqlite.Open(path, sqlite.Options{Registerer: reg, Logger: log})
		if err != nil {
			return nil, "", err
		}
		return st, "sqlite:" + st.Path(), nil
	case strings.HasPrefix(spec, "esdb://") || strings.HasPrefix(spec, "esdb+discover://"):
		ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		st, err := esdb.Open(ctx, spec, esdb.Options{Registerer: reg, Logger: log})
		if err != nil {
			return nil, "", err
		}
		scheme, rest, _ := strings.Cut(spec, "://")
		if at := strings.LastIndex(rest, "@"); at >= 0 {
			rest = rest[at+1:] // drop user:password
		}
		return st, scheme + "://" + rest, nil
	}
	return nil, "", fmt.Errorf("unknown store %q: use sqlite:<path>, esdb://host:port?tls=false or leave it empty for %s in the data folder", spec, storeFile)
}
