package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"iter"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/metropolis/csc/eventstore"
	"github.com/metropolis/csc/eventstore/esdb"
	"github.com/metropolis/csc/eventstore/export"
	"github.com/metropolis/csc/eventstore/sqlite"
)

// The auditor's commands: replay, verify and export. They open the store read-only and change nothing.
//
//	csc replay [--as-of T | --position P] [--format table|json] [--matrix] [--items]
//	csc verify [--file export.jsonl]
//	csc export [--format jsonl|csv] [--after P] [--until T] [--stream PREFIX] [--out FILE]
//
// Each takes --store (env CSC_STORE: esdb://..., sqlite:<path> or a file path), else --data (env
// CSC_DATA, default ./csc-data: the file events.db in it), and --quiet (no progress bar; bars are drawn
// on a terminal only, on stderr).
//
// Exit status: 0 when the command did its work (and verify found every chain sound), 1 when verify
// found a broken link or the command failed, 2 for a usage error (a bad flag or value, a missing file,
// an unknown store).

// exitError carries the exit status csc ends with after a failed command.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// usageError marks err as a usage error: csc exits with status 2.
func usageError(err error) error { return &exitError{code: 2, err: err} }

// usagef is usageError of a formatted message.
func usagef(format string, args ...any) error { return usageError(fmt.Errorf(format, args...)) }

// exitCode is the status csc exits with after err (nil: 0): 0 for a help request (flag.ErrHelp: the
// usage was printed on stdout), that of an *exitError in err's chain, 1 otherwise.
func exitCode(err error) int {
	var ee *exitError
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return 0
	case errors.As(err, &ee):
		return ee.code
	}
	return 1
}

// auditor runs the auditor's commands.
type auditor struct {
	stdout, stderr io.Writer
	getenv         func(string) string
	// now is the clock of "as of now" (replay without a limit).
	now func() time.Time
	// terminal reports whether progress bars can be drawn on w.
	terminal func(w io.Writer) bool
}

func newAuditor(stdout, stderr io.Writer, getenv func(string) string) *auditor {
	return &auditor{stdout: stdout, stderr: stderr, getenv: getenv, now: time.Now, terminal: isTerminal}
}

// auditor returns the auditor's commands on m's streams, environment and clock.
func (m *Main) auditor() *auditor {
	a := newAuditor(m.Stdout, m.Stderr, m.Getenv)
	a.now = m.Now
	return a
}

// runReplay is "csc replay" on the process's environment.
func runReplay(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return newAuditor(stdout, stderr, os.Getenv).replay(ctx, args)
}

// runVerify is "csc verify" on the process's environment.
func runVerify(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return newAuditor(stdout, stderr, os.Getenv).verify(ctx, args)
}

// runExport is "csc export" on the process's environment.
func runExport(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return newAuditor(stdout, stderr, os.Getenv).export(ctx, args)
}

// storeFlags are the flags every auditor command takes.
type storeFlags struct {
	store, data string
	quiet       bool
}

func (a *auditor) flagSet(name string, sf *storeFlags) *flag.FlagSet {
	fs := flag.NewFlagSet("csc "+name, flag.ContinueOnError)
	fs.SetOutput(a.stderr)
	fs.StringVar(&sf.store, "store", a.getenv("CSC_STORE"), "store: esdb://host:2113?tls=false, sqlite:<path> or a file path (env CSC_STORE); empty: events.db in the data folder")
	fs.StringVar(&sf.data, "data", envOr(a.getenv, "CSC_DATA", "./csc-data"), "data folder holding events.db (env CSC_DATA)")
	fs.BoolVar(&sf.quiet, "quiet", false, "no progress bar")
	return fs
}

func envOr(getenv func(string) string, name, def string) string {
	if v := getenv(name); v != "" {
		return v
	}
	return def
}

// parse parses args into fs (named "csc <command>") and refuses positional arguments: every command
// parses its flags with it. A bad flag or a stray argument is a usage error of one line with a hint;
// -h, -help or --help prints the flags on stdout and returns flag.ErrHelp (exit status 0).
func parse(fs *flag.FlagSet, args []string, stdout io.Writer) error {
	out := fs.Output()
	fs.SetOutput(io.Discard) // the flag package's own message and usage: one line below instead
	err := fs.Parse(args)
	fs.SetOutput(out)
	name := strings.TrimPrefix(fs.Name(), "csc ")
	switch {
	case errors.Is(err, flag.ErrHelp):
		fs.SetOutput(stdout)
		fs.Usage()
		fs.SetOutput(out)
		return flag.ErrHelp
	case err != nil:
		return usagef("%s: %v (%s)", name, err, flagsHint(fs))
	case fs.NArg() > 0:
		return usagef("%s: unexpected arguments %q (%s)", name, fs.Args(), flagsHint(fs))
	}
	return nil
}

// flagsHint tells where the flags of fs's command are listed.
func flagsHint(fs *flag.FlagSet) string { return "run " + fs.Name() + " -h for its flags" }

// showProgress reports whether to draw progress bars.
func (a *auditor) showProgress(sf storeFlags) bool { return !sf.quiet && a.terminal(a.stderr) }

// auditStore is a store opened read-only for an auditor.
type auditStore struct {
	eventstore.Store
	name string // for messages, without credentials
	// counted is true when positions count the events (1, 2, 3, ...), so that Head gives the total.
	counted bool
}

// urlScheme returns the scheme of a URL-like store name ("esdb", "postgres", ... before a colon), or
// "" when name is not one (a file path). A one-letter scheme is taken for a drive letter.
func urlScheme(name string) string {
	scheme, _, ok := strings.Cut(name, ":")
	if !ok || len(scheme) < 2 {
		return ""
	}
	for i, c := range scheme {
		letter := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
		if !letter && (i == 0 || !(c >= '0' && c <= '9' || c == '+' || c == '-' || c == '.')) {
			return ""
		}
	}
	return scheme
}

// storeRef is a parsed store name: an EventStoreDB connection string or an SQLite file.
type storeRef struct {
	url  string // the esdb:// connection string; "" for SQLite
	path string // the SQLite file
	name string // for messages, without credentials
	// hint is added to the message about a missing SQLite file (what to give instead).
	hint string
}

// parseStoreRef parses a store name: esdb://... (or esdb+discover://...), sqlite:<path> (also
// sqlite://<path>), a file path, or "" for events.db in dataDir. An unknown scheme is a usage error.
func parseStoreRef(spec, dataDir string) (storeRef, error) {
	path := spec
	switch {
	case strings.HasPrefix(spec, "esdb://") || strings.HasPrefix(spec, "esdb+discover://"):
		scheme, rest, _ := strings.Cut(spec, "://")
		if at := strings.LastIndex(rest, "@"); at >= 0 {
			rest = rest[at+1:] // drop user:password
		}
		return storeRef{url: spec, name: scheme + "://" + rest}, nil
	case strings.HasPrefix(spec, "sqlite:"):
		path = strings.TrimPrefix(strings.TrimPrefix(spec, "sqlite:"), "//")
		if path == "" {
			return storeRef{}, usagef("store %q: no file path after sqlite:", spec)
		}
	case spec == "":
		path = filepath.Join(dataDir, storeFile)
	default:
		if scheme := urlScheme(spec); scheme != "" {
			return storeRef{}, usagef("unknown store %q: scheme %q is neither esdb:// nor sqlite: (give a file path, sqlite:<path> or esdb://host:2113?tls=false)", spec, scheme)
		}
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return storeRef{}, usagef("event store %s: %w", path, err)
	}
	return storeRef{path: path, name: "sqlite:" + abs}, nil
}

// sameStore reports whether r and o name the same store (the same server address, or the same file).
func (r storeRef) sameStore(o storeRef) bool {
	if r.name == o.name {
		return true
	}
	if r.url != "" || o.url != "" {
		return false
	}
	a, errA := os.Stat(r.path)
	b, errB := os.Stat(o.path)
	return errA == nil && errB == nil && os.SameFile(a, b)
}

// open opens the store r names: read-only unless writable. Read-only, the SQLite file must exist;
// writable, it is created when missing (in an existing folder). A file that is not an event store is a
// usage error.
func (r storeRef) open(ctx context.Context, writable bool) (*auditStore, error) {
	if r.url != "" {
		octx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		st, err := esdb.Open(octx, r.url, esdb.Options{})
		if err != nil {
			return nil, fmt.Errorf("open store %s: %w", r.name, err)
		}
		return &auditStore{Store: st, name: r.name}, nil
	}
	info, err := os.Stat(r.path)
	switch {
	case errors.Is(err, fs.ErrNotExist) && writable:
		dir, derr := os.Stat(filepath.Dir(r.path))
		if derr != nil || !dir.IsDir() {
			return nil, usagef("event store %s: the folder %s does not exist", r.path, filepath.Dir(r.path))
		}
	case errors.Is(err, fs.ErrNotExist):
		return nil, usagef("no event store at %s: the file does not exist%s", r.path, r.hint)
	case err != nil:
		return nil, usagef("event store %s: %w", r.path, err)
	case info.IsDir():
		return nil, usagef("event store %s is a folder: give the file %s in it, or another file", r.path, filepath.Join(r.path, storeFile))
	}
	st, err := sqlite.Open(r.path, sqlite.Options{ReadOnly: !writable})
	if err != nil {
		if errors.Is(err, sqlite.ErrNotDatabase) || errors.Is(err, sqlite.ErrNotEventStore) {
			return nil, usageError(err)
		}
		return nil, err
	}
	return &auditStore{Store: st, name: "sqlite:" + st.Path(), counted: true}, nil
}

// openStore opens the store named by sf read-only. An unknown scheme, or an SQLite file that does not
// exist or is not an event store, is a usage error.
func (a *auditor) openStore(ctx context.Context, sf storeFlags) (*auditStore, error) {
	ref, err := parseStoreRef(sf.store, sf.data)
	if err != nil {
		return nil, err
	}
	ref.hint = " (give --store, or --data with the folder holding " + storeFile + ")"
	return ref.open(ctx, false)
}

// total is the progress total of reading the store after position after.
func (s *auditStore) total(ctx context.Context, after eventstore.Position) progressTotal {
	if !s.counted {
		return progressTotal{events: -1}
	}
	head, err := s.Head(ctx)
	if err != nil || head.Commit <= after.Commit {
		return progressTotal{events: -1}
	}
	return progressTotal{events: int64(head.Commit - after.Commit), base: after.Commit}
}

// parseTime parses an RFC 3339 time given to flag.
func parseTime(flag, s string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, usagef("--%s %q: not an RFC 3339 time (e.g. 2019-06-30T18:00:00Z)", flag, s)
	}
	return t.UTC(), nil
}

// parsePosition parses a position given to flag.
func parsePosition(flag, s string) (eventstore.Position, error) {
	p, err := eventstore.ParsePosition(s)
	if err != nil {
		return eventstore.Position{}, usagef("--%s %q: not a position (e.g. 1234, or 1234/1230 on EventStoreDB)", flag, s)
	}
	return p, nil
}

// verify is "csc verify [--file export.jsonl]": it checks every chain of the store (or of a JSON Lines
// export, "-" for stdin) with eventstore.Verifier and prints what it checked, the digest of the log and
// the first broken link. A broken link exits 1.
func (a *auditor) verify(ctx context.Context, args []string) error {
	var (
		sf   storeFlags
		file string
	)
	fs := a.flagSet("verify", &sf)
	fs.StringVar(&file, "file", "", "verify this JSON Lines export (from csc export) instead of a store; - reads stdin")
	if err := parse(fs, args, a.stdout); err != nil {
		return err
	}

	var (
		source string
		events iter.Seq2[eventstore.RecordedEvent, error]
		bar    *progress
		dense  bool // positions count the events
	)
	if file != "" {
		var in io.Reader = os.Stdin
		source = "file " + file
		total := progressTotal{events: -1}
		if file != "-" {
			f, err := os.Open(file)
			if err != nil {
				return usagef("verify: %w", err)
			}
			defer f.Close()
			info, err := f.Stat()
			if err != nil {
				return fmt.Errorf("verify: %w", err)
			}
			if info.IsDir() {
				return usagef("verify: %s is a folder, not an export file", file)
			}
			in, source = f, "file "+f.Name()
			total = progressTotal{bytes: info.Size()}
		}
		bar = newProgress(a.stderr, a.showProgress(sf) && total.bytes > 0, "verify", total)
		events = export.ReadJSONL(&countingReader{r: in, p: bar})
	} else {
		st, err := a.openStore(ctx, sf)
		if err != nil {
			return err
		}
		defer st.Close()
		source = st.name
		bar = newProgress(a.stderr, a.showProgress(sf), "verify", st.total(ctx, eventstore.Position{}))
		events = st.ReadAll(ctx, eventstore.Position{})
		dense = st.counted
	}

	v := eventstore.NewVerifier()
	if dense {
		v.DensePositions() // an event removed from the middle of $all leaves a gap
	}
	var first, readErr error
	for ev, err := range events {
		if err != nil {
			readErr = err
			break
		}
		if file == "" {
			bar.event(ev)
		}
		if err := v.Check(ev); err != nil && first == nil {
			first = err
		}
	}
	bar.done()
	sum := v.Summary()

	out := &errWriter{w: a.stdout}
	out.printf("source    %s\n", source)
	out.printf("streams   %d\n", sum.Streams)
	out.printf("events    %d\n", sum.Events)
	if sum.Errors > 0 {
		out.printf("broken    %d of %d events\n", sum.Errors, sum.Events)
	}
	out.printf("digest    %s\n", sum.Digest)
	var ce *eventstore.ChainError
	switch {
	case errors.As(first, &ce):
		out.printf("first broken link:\n")
		out.printf("  stream    %s\n", ce.Stream)
		out.printf("  revision  %d\n", ce.Revision)
		out.printf("  position  %s\n", ce.Position)
		out.printf("  broken    %s\n", ce.What)
		out.printf("  expected  %s\n", ce.Expected)
		out.printf("  found     %s\n", ce.Found)
	case readErr == nil:
		out.printf("result    OK: every stream's revisions run from 0 without a gap, every prevHash and hash holds, positions increase, event IDs are unique\n")
	}
	if readErr != nil {
		out.printf("unreadable after %d events: %v\n", sum.Events, readErr)
	}
	if out.err != nil {
		return fmt.Errorf("verify: %w", out.err)
	}

	switch {
	case first != nil && readErr != nil:
		return &exitError{code: 1, err: fmt.Errorf("verify %s: %d of %d events broken, first: %w; then the log became unreadable: %w", source, sum.Errors, sum.Events, first, readErr)}
	case first != nil:
		return &exitError{code: 1, err: fmt.Errorf("verify %s: %d of %d events broken, first: %w", source, sum.Errors, sum.Events, first)}
	case readErr != nil:
		return &exitError{code: 1, err: fmt.Errorf("verify %s: %w", source, readErr)}
	}
	return nil
}

// errWriter remembers the first write error, so that a run of prints is checked once.
type errWriter struct {
	w   io.Writer
	err error
}

func (e *errWriter) Write(p []byte) (int, error) {
	if e.err != nil {
		return 0, e.err
	}
	n, err := e.w.Write(p)
	e.err = err
	return n, err
}

func (e *errWriter) printf(format string, args ...any) { fmt.Fprintf(e, format, args...) }

// export is "csc export [--format jsonl|csv] [--after P] [--until T] [--stream PREFIX] [--out FILE]":
// it streams the selected events to stdout, or to FILE (written whole or not at all: a failed export
// leaves no file behind).
func (a *auditor) export(ctx context.Context, args []string) error {
	var (
		sf                                storeFlags
		format, after, until, prefix, out string
	)
	fs := a.flagSet("export", &sf)
	fs.StringVar(&format, "format", string(export.JSONL), "jsonl (verifiable with csc verify --file) or csv")
	fs.StringVar(&after, "after", "", "only the events after this position (continue an earlier export from its last position)")
	fs.StringVar(&until, "until", "", "only the events recorded up to this RFC 3339 time: the log as it stood then")
	fs.StringVar(&prefix, "stream", "", "only the streams whose names start with this prefix, e.g. roadmap- or collaboratory-csc")
	fs.StringVar(&out, "out", "", "write to this file instead of stdout")
	if err := parse(fs, args, a.stdout); err != nil {
		return err
	}
	f, err := export.ParseFormat(format)
	if err != nil {
		return usagef("--format %q: want jsonl or csv", format)
	}
	filter := export.Filter{StreamPrefix: prefix}
	if filter.After, err = parsePosition("after", after); err != nil {
		return err
	}
	if until != "" {
		if filter.Until, err = parseTime("until", until); err != nil {
			return err
		}
	}

	st, err := a.openStore(ctx, sf)
	if err != nil {
		return err
	}
	defer st.Close()

	dest := a.stdout
	var file *outFile
	if out != "" {
		if file, err = createOutFile(out); err != nil {
			return err
		}
		defer file.abort()
		dest = file
	}
	w, err := export.NewWriter(dest, f)
	if err != nil {
		return err
	}
	bar := newProgress(a.stderr, a.showProgress(sf), "export", st.total(ctx, filter.After))
	err = func() error {
		defer bar.done()
		for ev, err := range filter.Apply(observe(st.ReadAll(ctx, filter.After), bar)) {
			if err != nil {
				return fmt.Errorf("export from %s: %w", st.name, err)
			}
			if err := w.Write(ev); err != nil {
				return err
			}
		}
		return w.Close()
	}()
	if err != nil {
		return err
	}
	if file == nil {
		return nil
	}
	if err := file.commit(); err != nil {
		return err
	}
	last := "none"
	if w.Events() > 0 {
		last = w.Last().String()
	}
	_, err = fmt.Fprintf(a.stdout, "exported %d events from %s to %s (%s); last position %s\n", w.Events(), st.name, out, f, last)
	return err
}

// observe shows the events of seq on bar as they pass.
func observe(seq iter.Seq2[eventstore.RecordedEvent, error], bar *progress) iter.Seq2[eventstore.RecordedEvent, error] {
	if bar == nil {
		return seq
	}
	return func(yield func(eventstore.RecordedEvent, error) bool) {
		for ev, err := range seq {
			if err == nil {
				bar.event(ev)
			}
			if !yield(ev, err) {
				return
			}
		}
	}
}

// outFile is an export file being written: a temporary file next to the destination (mode 0600: the
// log names people), renamed over it by commit, removed by abort.
type outFile struct {
	*os.File
	dest      string
	committed bool
}

func createOutFile(dest string) (*outFile, error) {
	if info, err := os.Stat(dest); err == nil && info.IsDir() {
		return nil, usagef("--out %s is a folder", dest)
	}
	f, err := os.CreateTemp(filepath.Dir(dest), "."+filepath.Base(dest)+".*.partial")
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, usagef("--out %s: the folder does not exist", dest)
		}
		return nil, fmt.Errorf("export to %s: %w", dest, err)
	}
	return &outFile{File: f, dest: dest}, nil
}

func (o *outFile) commit() error {
	if err := o.Sync(); err != nil {
		return fmt.Errorf("export to %s: %w", o.dest, err)
	}
	if err := o.Close(); err != nil {
		return fmt.Errorf("export to %s: %w", o.dest, err)
	}
	if err := os.Rename(o.Name(), o.dest); err != nil {
		return fmt.Errorf("export to %s: %w", o.dest, err)
	}
	o.committed = true
	return nil
}

func (o *outFile) abort() {
	if !o.committed {
		o.Close()
		os.Remove(o.Name())
	}
}
