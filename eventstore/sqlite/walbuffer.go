package sqlite

import (
	"fmt"
	"sync/atomic"
	"unsafe"

	"modernc.org/libc"
	lib "modernc.org/sqlite/lib"
)

// The write-ahead log of the writer's connection goes through walVFS, a thin SQLite VFS over the
// default "unix" one that gathers a transaction's WAL writes in a buffer and hands them to the
// operating system in one write (or a few: see maxWrite) when SQLite syncs the WAL at COMMIT.
//
// Why: SQLite writes each WAL frame with two pwrite calls (a 24-byte frame header, then the page),
// and a one-event append dirties about two and a half pages: a random leaf of each of the
// UNIQUE(stream, revision) and UNIQUE(event_id) indexes, and its share of the table's last page.
// With 64 writers a group commit of 35 appends made about 160 pwrite calls, and those calls were
// 40 % of the process's CPU (each costs about 3 µs on an ext4 file system, whatever its size; a
// smaller page size did not help). Gathered, a commit makes three or four. BENCHMARKS.md has the
// figures.
//
// Durability and visibility are SQLite's own, unchanged: with synchronous=FULL, SQLite calls xSync
// on the WAL at every COMMIT before it publishes the commit in the WAL index; xSync writes the
// buffer out and then syncs the file (the "unix" xSync, fsync), so nothing is acknowledged or
// visible to another connection before it is in the file and synced. Other connections read only
// frames that a published commit covers, so they never need the buffer; the writer's own
// connection can read a frame of the open transaction back (when its page cache spills): xRead
// writes the buffer out first when the range read overlaps it. xFileSize counts the buffered
// bytes; xTruncate and xClose write the buffer out first. Every other method (locks, the
// shared-memory WAL index, file controls) is the unix VFS's own.
//
// Only the modernc driver is wrapped: it exposes SQLite's C API to Go. The mattn driver keeps
// SQLite's writes as they are.
//
// Nothing here is Go memory that SQLite holds: the VFS object, each file's state and its buffer are
// allocated with the driver's C allocator, and the method pointers are those of top-level Go
// functions, which never move.

// walBufferSize is the largest run of WAL bytes gathered before it is written out: the WAL of a
// group commit of about a hundred one-event appends. A write that does not fit, or does not follow
// the gathered bytes, writes them out first; one larger than maxWrite goes to the file directly.
const walBufferSize = 1 << 20

// walVFS is one registration of the buffering VFS, made by a Store for its writer connection and
// removed by Store.Close once that connection is closed.
type walVFS struct {
	name string
	tls  *libc.TLS
	vfs  uintptr // *lib.Tsqlite3_vfs followed by a walVFSExtra
}

// walVFSExtra follows the sqlite3_vfs struct in the memory of a walVFS.
type walVFSExtra struct {
	orig        uintptr // the wrapped VFS ("unix")
	stateOffset uintptr // where a file's walFile starts within its sqlite3_file
	stats       walStats
	noFsync     bool // Options.noFsync: xSync writes the buffer out and does not fsync
}

// walStats counts, for tests and benchmarks, what the buffering did. The writer's connection
// updates it; anyone may read it.
type walStats struct {
	writes  atomic.Uint64 // xWrite calls on WAL files
	pwrites atomic.Uint64 // writes passed on to the unix VFS
	syncs   atomic.Uint64 // xSync calls on WAL files
	fsyncs  atomic.Uint64 // syncs passed on to the unix VFS (all of them, unless noFsync)
}

// walFile is the state of one open WAL file. It lives in the sqlite3_file memory SQLite allocates
// (after the unix VFS's own part), and the file's pMethods points at its methods field, which
// comes first: a method finds the state from pMethods alone.
type walFile struct {
	methods lib.Tsqlite3_io_methods // the unix methods, with the ones below replaced
	orig    uintptr                 // the unix methods
	stats   uintptr                 // *walStats of the VFS
	buf     uintptr                 // walBufferSize bytes of C memory, 0 until the first write
	off     int64                   // file offset of the buffer's first byte
	n       int64                   // bytes buffered
	noFsync bool                    // walVFSExtra.noFsync
}

// newWALVFS registers a buffering VFS over SQLite's default VFS under a name of its own. With
// noFsync (Options.noFsync, benchmarks only) its xSync writes the buffer out but skips the fsync.
func newWALVFS(noFsync bool) (*walVFS, error) {
	tls := libc.NewTLS()
	orig := lib.Xsqlite3_vfs_find(tls, 0)
	if orig == 0 {
		tls.Close()
		return nil, fmt.Errorf("register WAL buffer VFS: SQLite has no default VFS")
	}
	size := unsafe.Sizeof(lib.Tsqlite3_vfs{}) + unsafe.Sizeof(walVFSExtra{})
	p := libc.Xcalloc(tls, 1, libc.Tsize_t(size))
	if p == 0 {
		tls.Close()
		return nil, fmt.Errorf("register WAL buffer VFS: out of memory")
	}
	v := (*lib.Tsqlite3_vfs)(ptr(p))
	*v = *(*lib.Tsqlite3_vfs)(ptr(orig))
	extra := vfsExtra(p)
	extra.orig = orig
	extra.noFsync = noFsync
	extra.stateOffset = (uintptr(v.FszOsFile) + 7) &^ 7
	v.FszOsFile = int32(extra.stateOffset + unsafe.Sizeof(walFile{}))
	v.FpNext = 0
	name := fmt.Sprintf("csc-wal-%x", p)
	cname, err := libc.CString(name)
	if err != nil {
		libc.Xfree(tls, p)
		tls.Close()
		return nil, fmt.Errorf("register WAL buffer VFS: %w", err)
	}
	v.FzName = cname
	setFunc(&v.FxOpen, walOpen)
	if rc := lib.Xsqlite3_vfs_register(tls, p, 0); rc != lib.SQLITE_OK {
		libc.Xfree(tls, cname)
		libc.Xfree(tls, p)
		tls.Close()
		return nil, fmt.Errorf("register WAL buffer VFS: SQLite result code %d", rc)
	}
	return &walVFS{name: name, tls: tls, vfs: p}, nil
}

// stats is what the VFS's files have done so far.
func (w *walVFS) stats() *walStats { return &vfsExtra(w.vfs).stats }

// close unregisters the VFS. No connection may be open through it.
func (w *walVFS) close() error {
	rc := lib.Xsqlite3_vfs_unregister(w.tls, w.vfs)
	libc.Xfree(w.tls, (*lib.Tsqlite3_vfs)(ptr(w.vfs)).FzName)
	libc.Xfree(w.tls, w.vfs)
	w.tls.Close()
	if rc != lib.SQLITE_OK {
		return fmt.Errorf("unregister VFS %s: SQLite result code %d", w.name, rc)
	}
	return nil
}

// walOpen is the VFS's xOpen: the unix xOpen, then, for a WAL file, the buffering methods.
func walOpen(tls *libc.TLS, pVfs, zName, pFile uintptr, flags int32, pOutFlags uintptr) int32 {
	extra := vfsExtra(pVfs)
	orig := (*lib.Tsqlite3_vfs)(ptr(extra.orig))
	rc := callFunc[func(*libc.TLS, uintptr, uintptr, uintptr, int32, uintptr) int32](orig.FxOpen)(tls, extra.orig, zName, pFile, flags, pOutFlags)
	if rc != lib.SQLITE_OK || flags&lib.SQLITE_OPEN_WAL == 0 {
		return rc
	}
	file := (*lib.Tsqlite3_file)(ptr(pFile))
	if file.FpMethods == 0 {
		return rc
	}
	st := (*walFile)(ptr(pFile + extra.stateOffset))
	*st = walFile{methods: *(*lib.Tsqlite3_io_methods)(ptr(file.FpMethods)), orig: file.FpMethods, stats: uintptr(unsafe.Pointer(&extra.stats)), noFsync: extra.noFsync}
	setFunc(&st.methods.FxClose, walClose)
	setFunc(&st.methods.FxRead, walRead)
	setFunc(&st.methods.FxWrite, walWrite)
	setFunc(&st.methods.FxTruncate, walTruncate)
	setFunc(&st.methods.FxSync, walSync)
	setFunc(&st.methods.FxFileSize, walFileSize)
	file.FpMethods = uintptr(unsafe.Pointer(&st.methods))
	return rc
}

// walState is the walFile of an open WAL file.
func walState(pFile uintptr) *walFile {
	return (*walFile)(ptr((*lib.Tsqlite3_file)(ptr(pFile)).FpMethods))
}

func (st *walFile) origMethods() *lib.Tsqlite3_io_methods {
	return (*lib.Tsqlite3_io_methods)(ptr(st.orig))
}

func (st *walFile) walStats() *walStats { return (*walStats)(ptr(st.stats)) }

// maxWrite is the most the unix xWrite takes in one call: it masks the length of each write(2) to 17
// bits (seekAndWriteFd), so a write of a multiple of 128 KiB would write nothing and fail with
// SQLITE_FULL. 31 pages.
const maxWrite = 0x1f000

// write passes n bytes at buf on to the unix VFS, in pieces of at most maxWrite.
func (st *walFile) write(tls *libc.TLS, pFile, buf uintptr, n, off int64) int32 {
	for done := int64(0); done < n; {
		piece := min(n-done, maxWrite)
		st.walStats().pwrites.Add(1)
		rc := callFunc[func(*libc.TLS, uintptr, uintptr, int32, int64) int32](st.origMethods().FxWrite)(tls, pFile, buf+uintptr(done), int32(piece), off+done)
		if rc != lib.SQLITE_OK {
			return rc
		}
		done += piece
	}
	return lib.SQLITE_OK
}

// flush writes the buffered bytes out.
func (st *walFile) flush(tls *libc.TLS, pFile uintptr) int32 {
	if st.n == 0 {
		return lib.SQLITE_OK
	}
	rc := st.write(tls, pFile, st.buf, st.n, st.off)
	st.n = 0
	return rc
}

func walWrite(tls *libc.TLS, pFile, zBuf uintptr, iAmt int32, iOfst int64) int32 {
	st := walState(pFile)
	st.walStats().writes.Add(1)
	amt := int64(iAmt)
	// Into the buffer when the write continues it, or rewrites part of it (SQLite rewrites a
	// frame of the open transaction in place), and fits.
	if st.n > 0 && iOfst >= st.off && iOfst <= st.off+st.n && iOfst+amt <= st.off+walBufferSize {
		copy(cBytes(st.buf+uintptr(iOfst-st.off), amt), cBytes(zBuf, amt))
		st.n = max(st.n, iOfst+amt-st.off)
		return lib.SQLITE_OK
	}
	if rc := st.flush(tls, pFile); rc != lib.SQLITE_OK {
		return rc
	}
	if amt > maxWrite {
		return st.write(tls, pFile, zBuf, amt, iOfst)
	}
	if st.buf == 0 {
		if st.buf = libc.Xmalloc(tls, walBufferSize); st.buf == 0 {
			return st.write(tls, pFile, zBuf, amt, iOfst)
		}
	}
	copy(cBytes(st.buf, amt), cBytes(zBuf, amt))
	st.off, st.n = iOfst, amt
	return lib.SQLITE_OK
}

func walRead(tls *libc.TLS, pFile, zBuf uintptr, iAmt int32, iOfst int64) int32 {
	st := walState(pFile)
	if st.n > 0 && iOfst < st.off+st.n && iOfst+int64(iAmt) > st.off {
		if rc := st.flush(tls, pFile); rc != lib.SQLITE_OK {
			return rc
		}
	}
	return callFunc[func(*libc.TLS, uintptr, uintptr, int32, int64) int32](st.origMethods().FxRead)(tls, pFile, zBuf, iAmt, iOfst)
}

func walSync(tls *libc.TLS, pFile uintptr, flags int32) int32 {
	st := walState(pFile)
	st.walStats().syncs.Add(1)
	if rc := st.flush(tls, pFile); rc != lib.SQLITE_OK || st.noFsync {
		return rc
	}
	st.walStats().fsyncs.Add(1)
	return callFunc[func(*libc.TLS, uintptr, int32) int32](st.origMethods().FxSync)(tls, pFile, flags)
}

func walTruncate(tls *libc.TLS, pFile uintptr, size int64) int32 {
	st := walState(pFile)
	if rc := st.flush(tls, pFile); rc != lib.SQLITE_OK {
		return rc
	}
	return callFunc[func(*libc.TLS, uintptr, int64) int32](st.origMethods().FxTruncate)(tls, pFile, size)
}

func walFileSize(tls *libc.TLS, pFile, pSize uintptr) int32 {
	st := walState(pFile)
	rc := callFunc[func(*libc.TLS, uintptr, uintptr) int32](st.origMethods().FxFileSize)(tls, pFile, pSize)
	if rc == lib.SQLITE_OK && st.n > 0 {
		size := (*int64)(ptr(pSize))
		*size = max(*size, st.off+st.n)
	}
	return rc
}

func walClose(tls *libc.TLS, pFile uintptr) int32 {
	st := walState(pFile)
	rc := st.flush(tls, pFile)
	if st.buf != 0 {
		libc.Xfree(tls, st.buf)
		st.buf = 0
	}
	close := st.origMethods().FxClose
	// The unix xClose must see its own methods (it checks and clears pMethods).
	(*lib.Tsqlite3_file)(ptr(pFile)).FpMethods = st.orig
	if crc := callFunc[func(*libc.TLS, uintptr) int32](close)(tls, pFile); rc == lib.SQLITE_OK {
		rc = crc
	}
	return rc
}

// vfsExtra is the walVFSExtra after the sqlite3_vfs struct at p.
func vfsExtra(p uintptr) *walVFSExtra {
	return (*walVFSExtra)(ptr(p + unsafe.Sizeof(lib.Tsqlite3_vfs{})))
}

// ptr turns an address of C memory (from the driver's allocator, never Go's heap) into a pointer.
func ptr(p uintptr) unsafe.Pointer { return unsafe.Add(nil, p) }

// cBytes is the n bytes of C memory at p.
//
// It is not inlined: Go 1.26.8's compiler crashes ("disjointTypes: one of arguments is not a
// pointer") on a copy of a constant length out of such a slice once it sees where the slice points.
//
//go:noinline
func cBytes(p uintptr, n int64) []byte { return unsafe.Slice((*byte)(ptr(p)), n) }

// setFunc stores a Go function as a C function pointer, as the modernc driver represents them: the
// address of the function value. f must be a top-level function, whose value never moves.
func setFunc[F any](field *uintptr, f F) {
	*(*F)(unsafe.Pointer(field)) = f
}

// callFunc is the Go function behind a C function pointer of the modernc driver.
func callFunc[F any](fp uintptr) F {
	return *(*F)(unsafe.Pointer(&fp))
}
