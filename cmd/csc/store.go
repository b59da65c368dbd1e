package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/metropolis/csc/eventstore"
	"github.com/metropolis/csc/eventstore/esdb"
	"github.com/metropolis/csc/eventstore/sqlite"
)

// storeFile is the embedded store's file in the data folder.
const storeFile = "events.db"

// checkStoreFile refuses, as a usage error, a SQLite store path whose folder does not exist or that
// is a folder.
func checkStoreFile(path string) error {
	if dir, err := os.Stat(filepath.Dir(path)); err != nil || !dir.IsDir() {
		return usagef("event store %s: the folder %s does not exist", path, filepath.Dir(path))
	}
	if info, err := os.Stat(path); err == nil && info.IsDir() {
		return usagef("event store %s is a folder: give the file %s in it, or another file", path, filepath.Join(path, storeFile))
	}
	return nil
}

// openStore opens the store ref names (parseStoreRef of CSC_STORE / --store) for csc serve:
//
//	""                      the embedded SQLite store in <data>/events.db
//	sqlite:<path> or a path the embedded SQLite store in the file at path (made when missing)
//	esdb://host:2113?...    EventStoreDB / KurrentDB (also esdb+discover://)
//
// It returns the store and a description for the logs (without credentials). A missing folder, a
// folder in place of the file or a file that is not an event store is a usage error.
func openStore(ctx context.Context, ref storeRef, reg prometheus.Registerer, log *slog.Logger) (eventstore.Store, string, error) {
	if ref.url != "" {
		ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		st, err := esdb.Open(ctx, ref.url, esdb.Options{Registerer: reg, Logger: log})
		if err != nil {
			return nil, "", err
		}
		return st, ref.name, nil
	}
	if err := checkStoreFile(ref.path); err != nil {
		return nil, "", err
	}
	st, err := sqlite.Open(ref.path, sqlite.Options{Registerer: reg, Logger: log})
	if err != nil {
		if errors.Is(err, sqlite.ErrNotDatabase) || errors.Is(err, sqlite.ErrNotEventStore) {
			return nil, "", usageError(err)
		}
		if errors.Is(err, sqlite.ErrNotWritable) {
			return nil, "", fmt.Errorf("%w; csc replay, verify and export read a store without writing it", err)
		}
		return nil, "", err
	}
	return st, "sqlite:" + st.Path(), nil
}
