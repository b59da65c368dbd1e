package sqlite

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/uuid"
	"modernc.org/libc"
	lib "modernc.org/sqlite/lib"

	"github.com/metropolis/csc/eventstore"
)

// TestWALBufferGathersWrites checks that the writer's WAL writes reach the file in a few large
// writes rather than two per page, and that what was written reads back, from the store and from
// the file reopened.
func TestWALBufferGathersWrites(t *testing.T) {
	path := tempPath(t)
	s := openAt(t, path, Options{Driver: DriverModernc})
	if s.w.vfs == nil {
		t.Fatal("modernc writer: want the WAL buffer VFS")
	}
	stats := s.w.vfs.stats()
	writes0, pwrites0, syncs0 := stats.writes.Load(), stats.pwrites.Load(), stats.syncs.Load()
	const n = 300
	appends := make([]eventstore.StreamAppend, n)
	for i := range appends {
		appends[i] = eventstore.StreamAppend{Stream: "item-" + uuid.NewString(), Expected: eventstore.NoStream(), Events: []eventstore.EventData{benchEvent(i)}}
	}
	if _, err := s.AppendBatch(context.Background(), appends); err != nil {
		t.Fatal(err)
	}
	writes, pwrites, syncs := stats.writes.Load()-writes0, stats.pwrites.Load()-pwrites0, stats.syncs.Load()-syncs0
	t.Logf("%d appends: %d WAL writes from SQLite, %d to the file, %d syncs", n, writes, pwrites, syncs)
	if syncs == 0 {
		t.Fatal("no WAL sync: the commit was not made durable through the VFS")
	}
	// Two writes per frame come in (the table's and the indexes' pages); a few per commit go out.
	if writes < 100 || pwrites*20 > writes {
		t.Fatalf("want >= 100 writes gathered into at most 1/20 as many, got %d writes, %d to the file", writes, pwrites)
	}
	if got := readAll(t, s); len(got) != n {
		t.Fatalf("read back %d events, want %d", len(got), n)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	reopened := openAt(t, path, Options{ReadOnly: true})
	if got := readAll(t, reopened); len(got) != n {
		t.Fatalf("reopened: read %d events, want %d", len(got), n)
	}
}

// TestNoFsync checks the benchmarks' knob Options.noFsync: with it the writer's commits reach the WAL
// (another connection reads them) without an fsync; without it every WAL sync is an fsync.
func TestNoFsync(t *testing.T) {
	for _, noFsync := range []bool{false, true} {
		t.Run(fmt.Sprintf("noFsync=%v", noFsync), func(t *testing.T) {
			path := tempPath(t)
			s := openAt(t, path, Options{Driver: DriverModernc, noFsync: noFsync})
			stats := s.w.vfs.stats()
			syncs0, fsyncs0 := stats.syncs.Load(), stats.fsyncs.Load()
			const n = 50
			for i := range n {
				if _, err := s.Append(context.Background(), fmt.Sprintf("s-%d", i), eventstore.NoStream(), []eventstore.EventData{benchEvent(i)}); err != nil {
					t.Fatal(err)
				}
			}
			syncs, fsyncs := stats.syncs.Load()-syncs0, stats.fsyncs.Load()-fsyncs0
			if syncs < n {
				t.Fatalf("%d WAL syncs for %d commits", syncs, n)
			}
			if want := map[bool]uint64{false: syncs, true: 0}[noFsync]; fsyncs != want {
				t.Fatalf("%d fsyncs for %d WAL syncs, want %d", fsyncs, syncs, want)
			}
			// A reader has its own connection: it sees only what the WAL holds.
			if got := readAll(t, s); len(got) != n {
				t.Fatalf("read back %d events, want %d", len(got), n)
			}
		})
	}
	if !slices.Contains(Drivers(), DriverMattn) {
		return
	}
	s := openTemp(t, Options{Driver: DriverMattn, noFsync: true})
	if _, err := s.Append(context.Background(), "s", eventstore.NoStream(), []eventstore.EventData{benchEvent(0)}); err != nil {
		t.Fatal(err)
	}
	var mode int
	if err := s.w.conn.QueryRowContext(context.Background(), "PRAGMA synchronous").Scan(&mode); err != nil {
		t.Fatal(err)
	}
	if mode != 0 {
		t.Fatalf("mattn writer with noFsync: PRAGMA synchronous is %d, want 0 (OFF)", mode)
	}
}

// TestWALBufferLargeTransactions writes transactions larger than the buffer and than the writer's
// page cache: SQLite then spills pages into the WAL before the commit and reads them back, and the
// buffer is written out in several writes. Every event must read back as written, before and after
// the file is reopened, and the file must pass SQLite's integrity check.
func TestWALBufferLargeTransactions(t *testing.T) {
	path := tempPath(t)
	s := openAt(t, path, Options{Driver: DriverModernc})
	const streams, perStream = 3_000, 3
	body := strings.Repeat("x", 1500)
	want := map[uuid.UUID][]byte{}
	var appends []eventstore.StreamAppend
	for r := range perStream {
		for i := range streams {
			expected := eventstore.NoStream()
			if r > 0 {
				expected = eventstore.Exact(uint64(r - 1))
			}
			e := eventstore.EventData{ID: uuid.New(), Type: "Big", Data: fmt.Appendf(nil, `{"i":%d,"r":%d,"body":%q}`, i, r, body)}
			want[e.ID] = e.Data
			appends = append(appends, eventstore.StreamAppend{Stream: fmt.Sprintf("big-%d", i), Expected: expected, Events: []eventstore.EventData{e}})
		}
	}
	if _, err := s.AppendBatch(context.Background(), appends); err != nil {
		t.Fatal(err)
	}
	check := func(t *testing.T, s *Store) {
		got := readAll(t, s)
		if len(got) != len(want) {
			t.Fatalf("read %d events, want %d", len(got), len(want))
		}
		for _, e := range got {
			if !bytes.Equal(e.Data, want[e.ID]) {
				t.Fatalf("event %s at position %d: data differs", e.ID, e.Position.Commit)
			}
		}
	}
	check(t, s)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	var result string
	if err := rawDB(t, path, DriverModernc).QueryRow("PRAGMA integrity_check").Scan(&result); err != nil || result != "ok" {
		t.Fatalf("integrity_check: %q, %v", result, err)
	}
	check(t, openAt(t, path, Options{ReadOnly: true}))
}

// TestWALVFSUnregistered checks that Close removes the store's VFS from SQLite's registry.
func TestWALVFSUnregistered(t *testing.T) {
	s := openTemp(t, Options{Driver: DriverModernc})
	name := s.w.vfs.name
	tls := newTLS(t)
	cname := cString(t, tls, name)
	registered := func() bool { return lib.Xsqlite3_vfs_find(tls, cname) != 0 }
	if !registered() {
		t.Fatalf("VFS %s: want it registered while the store is open", name)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if registered() {
		t.Fatalf("VFS %s: still registered after Close", name)
	}
}

// TestWALFileMethods drives the methods of a WAL file opened through the VFS directly, as SQLite
// calls them, and checks the file's bytes on disk against what was written: writes that continue
// or rewrite the buffer, reads of buffered bytes, writes larger than one write(2) may be, the size,
// truncation, sync and close.
func TestWALFileMethods(t *testing.T) {
	dir := t.TempDir()
	dbPath := filepath.Join(dir, "x.db")
	db, err := os.Create(dbPath)
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	walPath := dbPath + "-wal"
	v, err := newWALVFS(false)
	if err != nil {
		t.Fatal(err)
	}
	defer v.close()
	tls := newTLS(t)
	cpath := cString(t, tls, walPath)
	vfs := (*lib.Tsqlite3_vfs)(ptr(v.vfs))
	pFile := libc.Xcalloc(tls, 1, libc.Tsize_t(vfs.FszOsFile))
	defer libc.Xfree(tls, pFile)
	flags := int32(lib.SQLITE_OPEN_WAL | lib.SQLITE_OPEN_CREATE | lib.SQLITE_OPEN_READWRITE)
	if rc := callFunc[func(*libc.TLS, uintptr, uintptr, uintptr, int32, uintptr) int32](vfs.FxOpen)(tls, v.vfs, cpath, pFile, flags, 0); rc != lib.SQLITE_OK {
		t.Fatalf("xOpen: result code %d", rc)
	}
	methods := func() *lib.Tsqlite3_io_methods {
		return (*lib.Tsqlite3_io_methods)(ptr((*lib.Tsqlite3_file)(ptr(pFile)).FpMethods))
	}
	cbuf := libc.Xmalloc(tls, 1<<20)
	defer libc.Xfree(tls, cbuf)
	want := []byte{} // what the file must hold once everything is written out
	write := func(off int, b []byte) {
		t.Helper()
		copy(cBytes(cbuf, int64(len(b))), b)
		if rc := callFunc[func(*libc.TLS, uintptr, uintptr, int32, int64) int32](methods().FxWrite)(tls, pFile, cbuf, int32(len(b)), int64(off)); rc != lib.SQLITE_OK {
			t.Fatalf("xWrite(%d bytes at %d): result code %d", len(b), off, rc)
		}
		if end := off + len(b); end > len(want) {
			want = append(want, make([]byte, end-len(want))...)
		}
		copy(want[off:], b)
	}
	read := func(off, n int) []byte {
		t.Helper()
		if rc := callFunc[func(*libc.TLS, uintptr, uintptr, int32, int64) int32](methods().FxRead)(tls, pFile, cbuf, int32(n), int64(off)); rc != lib.SQLITE_OK {
			t.Fatalf("xRead(%d bytes at %d): result code %d", n, off, rc)
		}
		return bytes.Clone(cBytes(cbuf, int64(n)))
	}
	size := func() int64 {
		t.Helper()
		// SQLite's out-parameter, in C memory like everything the driver's code dereferences.
		if rc := callFunc[func(*libc.TLS, uintptr, uintptr) int32](methods().FxFileSize)(tls, pFile, cbuf); rc != lib.SQLITE_OK {
			t.Fatalf("xFileSize: result code %d", rc)
		}
		return *(*int64)(ptr(cbuf))
	}
	onDisk := func() []byte {
		t.Helper()
		b, err := os.ReadFile(walPath)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	pattern := func(n int, seed byte) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = seed + byte(i%251)
		}
		return b
	}
	stats := v.stats()

	// A header and two frames, as SQLite writes them: gathered, nothing on disk yet.
	write(0, pattern(32, 1))
	write(32, pattern(24, 2))
	write(56, pattern(4096, 3))
	write(4152, pattern(24, 4))
	write(4176, pattern(4096, 5))
	if got := len(onDisk()); got != 0 {
		t.Fatalf("after 5 small writes: %d bytes on disk, want them gathered", got)
	}
	if got := size(); got != int64(len(want)) {
		t.Fatalf("xFileSize with bytes gathered: %d, want %d", got, len(want))
	}
	// A rewrite of a frame inside the gathered bytes, then a read of part of them.
	write(56, pattern(4096, 6))
	if got := read(4000, 300); !bytes.Equal(got, want[4000:4300]) {
		t.Fatal("xRead of gathered bytes: read differs from what was written")
	}
	if got := onDisk(); !bytes.Equal(got, want) {
		t.Fatal("after xRead: the file does not hold every byte written")
	}
	// A megabyte and more in frames (the buffer fills and is written out in pieces), one write
	// larger than a single write(2) takes, then sync.
	for off := len(want); off < 1<<20+10_000; off += 4120 {
		write(off, pattern(4120, byte(off)))
	}
	write(len(want), pattern(300_000, 7))
	write(len(want), pattern(4120, 8))
	syncs := stats.syncs.Load()
	if rc := callFunc[func(*libc.TLS, uintptr, int32) int32](methods().FxSync)(tls, pFile, lib.SQLITE_SYNC_NORMAL); rc != lib.SQLITE_OK {
		t.Fatalf("xSync: result code %d", rc)
	}
	if stats.syncs.Load() != syncs+1 {
		t.Fatal("xSync was not counted")
	}
	if got := onDisk(); !bytes.Equal(got, want) {
		t.Fatalf("after xSync: the file (%d bytes) does not hold every byte written (%d)", len(got), len(want))
	}
	// A write larger than one write(2) may be, with nothing gathered: straight to the file. Its
	// length leaves 256 KiB after a first piece of 37,856 bytes, which the unix VFS alone cannot
	// write (see maxWrite).
	write(len(want), pattern(300_000, 11))
	if got := onDisk(); !bytes.Equal(got, want) {
		t.Fatalf("after a large write: the file (%d bytes) does not hold every byte written (%d)", len(got), len(want))
	}
	// Truncation writes gathered bytes out first; close writes out the rest.
	write(len(want), pattern(100, 9))
	if rc := callFunc[func(*libc.TLS, uintptr, int64) int32](methods().FxTruncate)(tls, pFile, int64(len(want)-50)); rc != lib.SQLITE_OK {
		t.Fatalf("xTruncate: result code %d", rc)
	}
	want = want[:len(want)-50]
	if got := onDisk(); !bytes.Equal(got, want) {
		t.Fatal("after xTruncate: the file differs")
	}
	write(len(want), pattern(100, 10))
	if rc := callFunc[func(*libc.TLS, uintptr) int32](methods().FxClose)(tls, pFile); rc != lib.SQLITE_OK {
		t.Fatalf("xClose: result code %d", rc)
	}
	if got := onDisk(); !bytes.Equal(got, want) {
		t.Fatal("after xClose: the file does not hold the last write")
	}
}

// newTLS is a thread-local state of the driver's C runtime, closed when the test ends.
func newTLS(t *testing.T) *libc.TLS {
	tls := libc.NewTLS()
	t.Cleanup(tls.Close)
	return tls
}

// cString is s as a C string, freed when the test ends.
func cString(t *testing.T, tls *libc.TLS, s string) uintptr {
	p, err := libc.CString(s)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { libc.Xfree(tls, p) })
	return p
}
