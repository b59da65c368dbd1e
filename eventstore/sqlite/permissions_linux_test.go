package sqlite

import (
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// unprivilegedDirEnv names, in a copy of the test binary re-executed as an unprivileged user, the
// folder the parent prepared for it.
const unprivilegedDirEnv = "CSC_SQLITE_TEST_READONLY_DIR"

// nobody is the user and group the test binary drops to when it runs as root.
const nobody = "65534"

// withoutWriteAccess runs check on a folder that setup filled and that was then given folderMode, and
// its files fileModes[name] (fileModes["*"] for those not named), as a user the permissions bind. Root ignores file permissions, so
// as root the test binary is copied where user nobody can run it and re-executed as nobody with
// setpriv (util-linux), running only this test; the test is skipped, saying why, when that is not
// possible or when the permissions are not enforced.
func withoutWriteAccess(t *testing.T, folderMode os.FileMode, fileModes map[string]os.FileMode, setup func(t *testing.T, dir string), check func(t *testing.T, dir string)) {
	t.Helper()
	if dir := os.Getenv(unprivilegedDirEnv); dir != "" {
		check(t, dir) // the re-executed binary, as nobody
		return
	}
	root := t.TempDir()
	dir := filepath.Join(root, "store")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	setup(t, dir)
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		mode, ok := fileModes[e.Name()]
		if !ok {
			mode = fileModes["*"]
		}
		if err := os.Chmod(filepath.Join(dir, e.Name()), mode); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chmod(dir, folderMode); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.Chmod(dir, 0o755) }) // so that t.TempDir can remove it

	if os.Geteuid() != 0 {
		if folderMode&0o222 == 0 {
			probe := filepath.Join(dir, "probe")
			if f, err := os.Create(probe); err == nil {
				f.Close()
				os.Remove(probe)
				t.Skipf("file permissions are not enforced here: created %s in a folder with mode %v", probe, folderMode)
			}
		}
		check(t, dir)
		return
	}

	setpriv, err := exec.LookPath("setpriv")
	if err != nil {
		t.Skip("running as root, which ignores file permissions, and setpriv (util-linux) is not installed to drop them")
	}
	dropped := []string{"--reuid=" + nobody, "--regid=" + nobody, "--clear-groups"}
	if out, err := exec.Command(setpriv, append(dropped, "true")...).CombinedOutput(); err != nil {
		t.Skipf("running as root, which ignores file permissions, and cannot drop to user nobody: setpriv: %v: %s", err, out)
	}
	// The go command builds the test binary in a folder only root may enter; nobody runs a copy. The
	// temporary folders are root's alone too (0700): nobody must be able to go through them.
	for _, d := range []string{filepath.Dir(root), root} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	bin := filepath.Join(root, "sqlite.test")
	copyExecutable(t, bin)

	var run []string
	for _, part := range strings.Split(t.Name(), "/") {
		run = append(run, "^"+regexp.QuoteMeta(part)+"$")
	}
	cmd := exec.Command(setpriv, append(dropped, bin, "-test.run="+strings.Join(run, "/"), "-test.count=1", "-test.v")...)
	cmd.Env = append(os.Environ(), unprivilegedDirEnv+"="+dir)
	cmd.Dir = root
	out, err := cmd.CombinedOutput()
	switch {
	case err != nil:
		t.Fatalf("as user nobody: %v\n%s", err, out)
	case strings.Contains(string(out), "--- SKIP: "+t.Name()):
		t.Skipf("as user nobody, skipped:\n%s", out)
	case !strings.Contains(string(out), "--- PASS: "+t.Name()):
		t.Fatalf("as user nobody: the test did not run:\n%s", out)
	}
	t.Logf("as user nobody:\n%s", out)
}

// copyExecutable copies the running test binary to path, executable by everyone.
func copyExecutable(t *testing.T, path string) {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	src, err := os.Open(self)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	dst, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(dst, src); err != nil {
		dst.Close()
		t.Fatal(err)
	}
	if err := dst.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestReadOnlyWithoutWriteAccess: an auditor who may not write the folder or the file opens a stopped
// store read-only, reads every event, and leaves the folder as it was.
func TestReadOnlyWithoutWriteAccess(t *testing.T) {
	for _, drv := range Drivers() {
		t.Run(drv, func(t *testing.T) {
			withoutWriteAccess(t, 0o555, map[string]os.FileMode{"*": 0o444},
				func(t *testing.T, dir string) { closedStore(t, dir, drv, 3) },
				func(t *testing.T, dir string) {
					path := filepath.Join(dir, "events.db")
					s, err := Open(path, Options{Driver: drv, ReadOnly: true})
					if err != nil {
						t.Fatalf("read-only Open without write access: %v", err)
					}
					if n := len(readAll(t, s)); n != 3 {
						t.Errorf("read-only store without write access: want 3 events, got %d", n)
					}
					if err := s.Close(); err != nil {
						t.Fatal(err)
					}
					if names := dirNames(t, dir); !slices.Equal(names, []string{"events.db"}) {
						t.Fatalf("after a read-only Open and Close: want only events.db in the folder, got %v", names)
					}
				})
		})
	}
}

// TestWriteWithoutWriteAccess: opening for writing a store whose file or folder may not be written
// fails at Open with ErrNotWritable, naming the file and suggesting a read-only open, and changes
// nothing.
func TestWriteWithoutWriteAccess(t *testing.T) {
	cases := []struct {
		name                 string
		folderMode, fileMode os.FileMode
		why                  string
	}{
		{"folder and file read-only", 0o555, 0o444, "permission denied"},
		{"folder read-only", 0o555, 0o666, "events.db-wal"},
		{"file read-only", 0o777, 0o444, "permission denied"},
	}
	for _, drv := range Drivers() {
		for _, tc := range cases {
			t.Run(drv+"/"+tc.name, func(t *testing.T) {
				withoutWriteAccess(t, tc.folderMode, map[string]os.FileMode{"*": tc.fileMode},
					func(t *testing.T, dir string) { closedStore(t, dir, drv, 2) },
					func(t *testing.T, dir string) {
						path := filepath.Join(dir, "events.db")
						before, err := os.ReadFile(path)
						if err != nil {
							t.Fatal(err)
						}
						s, err := Open(path, Options{Driver: drv})
						if err == nil {
							s.Close()
							t.Fatal("Open for writing without write access: want an error, got a store")
						}
						if !errors.Is(err, ErrNotWritable) {
							t.Errorf("Open for writing without write access: want ErrNotWritable, got %v", err)
						}
						mentions(t, err, path, tc.why, "open it read-only")
						if after, _ := os.ReadFile(path); string(after) != string(before) {
							t.Errorf("Open for writing without write access: want the file left as it was")
						}
						if names := dirNames(t, dir); !slices.Equal(names, []string{"events.db"}) {
							t.Errorf("after a failed Open for writing: want only events.db in the folder, got %v", names)
						}
					})
			})
		}
	}
}

// TestReadOnlyAfterCrashWithoutWriteAccess: an auditor who may not write the folder or the files
// opens read-only a store whose writer stopped without closing it, and reads every committed event,
// those still in the WAL too (mode=ro: the -wal and -shm are there already, and no file is added).
func TestReadOnlyAfterCrashWithoutWriteAccess(t *testing.T) {
	for _, drv := range Drivers() {
		t.Run(drv, func(t *testing.T) {
			withoutWriteAccess(t, 0o555, map[string]os.FileMode{"*": 0o444},
				func(t *testing.T, dir string) { crashImage(t, dir, drv, 2) },
				func(t *testing.T, dir string) {
					s, err := Open(filepath.Join(dir, "events.db"), Options{Driver: drv, ReadOnly: true})
					if err != nil {
						t.Fatalf("read-only Open of a crashed store without write access: %v", err)
					}
					if s.snapshot {
						t.Errorf("read-only Open of a crashed store: want mode=ro, got a snapshot")
					}
					if n := len(readAll(t, s)); n != 3 {
						t.Errorf("read-only store after a crash: want 3 events (one in the WAL), got %d", n)
					}
					if err := s.Close(); err != nil {
						t.Fatal(err)
					}
					if names := dirNames(t, dir); !slices.Equal(names, []string{"events.db", "events.db-shm", "events.db-wal"}) {
						t.Fatalf("after a read-only Open and Close: want the folder as it was, got %v", names)
					}
				})
		})
	}
}

// TestWriteAfterCrashWithoutWriteAccess: opening for writing a crashed store whose file may be
// written but whose -wal and -shm (another user's) may not fails at Open with ErrNotWritable. SQLite
// opens such a store without complaint; only a write shows it cannot.
func TestWriteAfterCrashWithoutWriteAccess(t *testing.T) {
	for _, drv := range Drivers() {
		t.Run(drv, func(t *testing.T) {
			withoutWriteAccess(t, 0o555, map[string]os.FileMode{"events.db": 0o666, "*": 0o444},
				func(t *testing.T, dir string) { crashImage(t, dir, drv, 2) },
				func(t *testing.T, dir string) {
					path := filepath.Join(dir, "events.db")
					s, err := Open(path, Options{Driver: drv})
					if err == nil {
						s.Close()
						t.Fatal("Open for writing with a WAL it may not write: want an error, got a store")
					}
					if !errors.Is(err, ErrNotWritable) {
						t.Errorf("Open for writing with a WAL it may not write: want ErrNotWritable, got %v", err)
					}
					mentions(t, err, path, "open it read-only")
				})
		})
	}
}
