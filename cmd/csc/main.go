// Command csc is the CSC backend's one binary and its only composition root: it opens the store, wires
// the command engines, the projections and the HTTP API, and offers the operator's commands.
//
//	csc serve [--addr :8080] [--data ./csc-data] [--store URL] [--log-level info] [--demo]
//	csc token issue --role R [--city C] [--subject S] [--ttl D] [--data DIR]
//	csc loadgen [--events N] [--clients 64] [--duration 10s] [--rate R] [--out FILE]
//	csc bench [--out BENCHMARKS.md] [--quick] [--only NAME,...]
//	csc replay [--as-of T | --position P] [--format table|json] [--matrix] [--items] [--store URL] [--data DIR] [--quiet]
//	csc verify [--file EXPORT.jsonl] [--store URL] [--data DIR] [--quiet]
//	csc export [--format jsonl|csv] [--after P] [--until T] [--stream PREFIX] [--out FILE] [--store URL] [--data DIR] [--quiet]
//	csc copy --from STORE --to STORE [--quiet]
//
// The environment gives the defaults of the serve flags: CSC_ADDR, CSC_DATA, CSC_STORE,
// CSC_TOKEN_SECRET, CSC_LOG_LEVEL. GOGC and GOMEMLIMIT, when set, override csc's garbage-collector
// target of 400 and its soft memory limit of half the available memory (gc.go).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"sort"
	"strings"
	"syscall"
	"time"
)

func main() {
	gc := gcDefaults(os.Getenv, os.ReadFile)
	if gc.percent > 0 {
		debug.SetGCPercent(gc.percent)
	}
	if gc.memoryLimit > 0 {
		debug.SetMemoryLimit(gc.memoryLimit)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	m := NewMain()
	if err := m.Run(ctx, os.Args[1:]); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "csc:", err)
		}
		os.Exit(exitCode(err)) // 0 for help, 2 for a usage error, 1 for a failure (see audit.go)
	}
	if !m.Serving() {
		return
	}
	// Serve until SIGINT or SIGTERM, then drain and close. A second signal kills the process (the
	// default handling is restored by stop).
	<-ctx.Done()
	stop()
	if err := m.Close(); err != nil {
		fmt.Fprintln(os.Stderr, "csc:", err)
		os.Exit(1)
	}
}

// Main is the program. Tests drive it end to end: m := NewMain(); m.Run(ctx, args); ...; m.Close().
type Main struct {
	Stdout, Stderr io.Writer
	// Getenv reads the environment (os.Getenv; tests pass their own).
	Getenv func(string) string
	// Now is the clock of decisions and token times (time.Now).
	Now func() time.Time
	// ShutdownTimeout bounds how long Close waits for requests in flight.
	ShutdownTimeout time.Duration

	// app is the running server after a successful "serve"; nil otherwise.
	app *app
}

// NewMain returns a Main on the process's standard streams, environment and clock.
func NewMain() *Main {
	return &Main{Stdout: os.Stdout, Stderr: os.Stderr, Getenv: os.Getenv, Now: time.Now, ShutdownTimeout: 15 * time.Second}
}

// command is a subcommand of csc.
type command struct {
	summary string
	run     func(ctx context.Context, args []string) error
}

func (m *Main) commands() map[string]command {
	return map[string]command{
		"serve":   {"run the HTTP API on the data folder's store until Ctrl-C or SIGTERM (then it drains requests and stops)", m.runServe},
		"token":   {"issue a bearer token: csc token issue --role R [--city C] [--subject S] [--ttl D]", m.runToken},
		"loadgen": {"measure commands/s and query latency against a real server over loopback", m.runLoadgen},
		"bench": {"run the benchmarks and write BENCHMARKS.md (--out, --quick, --only)", func(ctx context.Context, args []string) error {
			return runBench(ctx, args, m.Stdout, m.Stderr)
		}},
		"replay": {"per-city progress as of a time or position, from the store read-only (--as-of, --position, --matrix, --items)", m.auditor().replay},
		"verify": {"check every hash chain of the store, or of an export (--file); exit 1 on a broken link", m.auditor().verify},
		"export": {"stream the log as JSON Lines or CSV (--format, --after, --until, --stream, --out)", m.auditor().export},
		"copy":   {"copy the log into another store (SQLite <-> EventStoreDB), resumable, then verify it (--from, --to)", m.runCopy},
	}
}

// Run runs the subcommand named by args[0]. "serve" returns once the server listens; it keeps serving
// until Close. The other subcommands run to completion.
//
// A usage error (an unknown command or flag, a stray argument, a bad flag value) is an error marked
// with usageError: csc prints it in one line and exits 2. A request for help (csc help, -h, --help)
// prints the usage on stdout and returns flag.ErrHelp: csc exits 0.
func (m *Main) Run(ctx context.Context, args []string) error {
	cmds := m.commands()
	switch {
	case len(args) == 0:
		m.usage(m.Stderr, cmds)
		return usagef("no command given")
	case args[0] == "help" && len(args) > 1: // csc help <command>: the command's flags
		if _, ok := cmds[args[1]]; ok && len(args) == 2 {
			return cmds[args[1]].run(ctx, []string{"-h"})
		}
		return usagef("help: unknown command %q (run csc help for the commands)", strings.Join(args[1:], " "))
	case args[0] == "help" || args[0] == "-h" || args[0] == "-help" || args[0] == "--help":
		m.usage(m.Stdout, cmds)
		return flag.ErrHelp
	}
	cmd, ok := cmds[args[0]]
	if !ok {
		return usagef("unknown command %q (run csc help for the commands)", args[0])
	}
	return cmd.run(ctx, args[1:])
}

// usage writes the list of commands to w.
func (m *Main) usage(w io.Writer, cmds map[string]command) {
	names := make([]string, 0, len(cmds))
	for name := range cmds {
		names = append(names, name)
	}
	sort.Strings(names)
	var b strings.Builder
	b.WriteString("usage: csc <command> [flags]\n\ncommands:\n")
	for _, name := range names {
		fmt.Fprintf(&b, "  %-8s %s\n", name, cmds[name].summary)
	}
	b.WriteString("\nRun csc <command> -h for the flags of a command.\n")
	fmt.Fprint(w, b.String())
}

// Serving reports whether Run started a server that Close must stop.
func (m *Main) Serving() bool { return m.app != nil }

// Close stops a server started by Run: it stops accepting requests and drains those in flight, stops
// the projections and closes the store. It does nothing when no server runs.
func (m *Main) Close() error {
	if m.app == nil {
		return nil
	}
	a := m.app
	m.app = nil
	return a.close(m.ShutdownTimeout)
}

// getenv returns the environment variable name, or def when it is empty.
func (m *Main) getenv(name, def string) string {
	if v := m.Getenv(name); v != "" {
		return v
	}
	return def
}
