package sqlite

import (
	"context"
	"fmt"
	"os"
	"strings"
	"syscall"
	"testing"

	"github.com/metropolis/csc/eventstore"
)

// TestInsertIOErrorIsReported makes SQLite fail half-way through a multi-event append (the file may not
// grow past a limit, so the page cache cannot spill): SQLite then rolls back the whole transaction,
// savepoint included. Every append of the batch must fail with the I/O error as its cause (not only
// the savepoint's "no such savepoint" that follows it), nothing may become visible, and the store must
// go on appending once the file may grow again.
func TestInsertIOErrorIsReported(t *testing.T) {
	path := tempPath(t)
	s := openAt(t, path, Options{})
	for i := range 4 {
		mustAppend(t, s, fmt.Sprintf("s%d", i), eventstore.NoStream(), events("Seed", 1))
	}
	size := func(p string) int64 {
		fi, err := os.Stat(p)
		if err != nil {
			return 0
		}
		return fi.Size()
	}
	limit := max(size(path), size(path+"-wal")) + 2<<20
	big := strings.Repeat("x", 8000)
	var appends []eventstore.StreamAppend
	for i := range 4 {
		evs := make([]eventstore.EventData, 250)
		for j := range evs {
			evs[j] = event("Big", `{"b":"`+big+`"}`)
		}
		appends = append(appends, eventstore.StreamAppend{Stream: fmt.Sprintf("s%d", i), Expected: eventstore.Exact(0), Events: evs})
	}
	before := len(readAll(t, s))

	// Go ignores SIGXFSZ, so a write past the limit fails with EFBIG instead of ending the process.
	var saved syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_FSIZE, &saved); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &syscall.Rlimit{Cur: uint64(limit), Max: saved.Max}); err != nil {
		t.Skipf("cannot limit the file size here: %v", err)
	}
	_, err := s.AppendBatch(context.Background(), appends)
	if rerr := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &saved); rerr != nil {
		t.Fatal(rerr)
	}
	if err == nil {
		t.Fatalf("AppendBatch of 8 MB past a file size limit of %d bytes: want an error, got none", limit)
	}
	if msg := err.Error(); !strings.Contains(msg, "I/O error") && !strings.Contains(msg, "disk is full") {
		t.Fatalf("AppendBatch past the file size limit: want the I/O error as the cause, got %v", err)
	}
	if got := len(readAll(t, s)); got != before {
		t.Fatalf("after the failed batch: want %d events, got %d", before, got)
	}
	for i := range 4 {
		mustAppend(t, s, fmt.Sprintf("s%d", i), eventstore.Exact(0), events("After", 1))
	}
}
