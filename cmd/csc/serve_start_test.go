package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/metropolis/csc/eventstore"
)

// dataFiles lists the files in the data folder dir (none when it does not exist).
func dataFiles(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

// TestFailedStartWritesNothing: a start on a busy port and a start with a too short CSC_TOKEN_SECRET
// fail without writing the store, the secret or tokens.json (nor launching the collaboratory); a
// following good --demo start then records the launch first, before the back-dated demo history.
func TestFailedStartWritesNothing(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	for _, c := range []struct {
		name string
		env  map[string]string
		want string
	}{
		{"busy port", map[string]string{"CSC_DATA": dir, "CSC_ADDR": busy.Addr().String()}, "listen on " + busy.Addr().String()},
		{"short secret", map[string]string{"CSC_DATA": dir, "CSC_ADDR": "127.0.0.1:0", "CSC_TOKEN_SECRET": "short"}, "CSC_TOKEN_SECRET has 5 bytes"},
	} {
		t.Run(c.name, func(t *testing.T) {
			m, logs, _ := testMain(c.env)
			err := m.Run(context.Background(), []string{"serve"})
			if err == nil || !strings.Contains(err.Error(), c.want) {
				m.Close()
				t.Fatalf("serve: %v, want an error saying %q\n%s", err, c.want, logs)
			}
			if m.Serving() {
				t.Error("a failed start left a server running")
			}
			if files := dataFiles(t, dir); len(files) > 0 {
				t.Errorf("the failed start wrote %q into the data folder", files)
			}
		})
	}

	m, logs, _ := testMain(map[string]string{"CSC_DATA": dir, "CSC_ADDR": "127.0.0.1:0"})
	serve(t, m, "--demo")
	if !strings.Contains(logs.String(), "first start: launched") {
		t.Errorf("the good start after failed ones does not launch the collaboratory:\n%s", logs)
	}
	readTokens(t, dir)
	// Each event's effective time (what as-of views go by) is at or after the launch's.
	var launch time.Time
	for ev, err := range m.app.store.ReadAll(context.Background(), eventstore.Position{}) {
		if err != nil {
			t.Fatal(err)
		}
		var md eventstore.Metadata
		if err := json.Unmarshal(ev.Metadata, &md); err != nil {
			t.Fatal(err)
		}
		at := eventstore.EffectiveTime(ev, md)
		if launch.IsZero() {
			if !strings.HasPrefix(ev.Stream, "collaboratory-") {
				t.Fatalf("the first event is %s in %s, want the launch", ev.Type, ev.Stream)
			}
			launch = at
			continue
		}
		if at.Before(launch) {
			t.Fatalf("event %s (%s) is effective at %s, before the launch (%s): as-of views cut the demo off",
				ev.Position, ev.Type, at, launch)
		}
	}
}

// TestSecondServerRefused: a second csc serve on a store in use (the same data folder, or another one
// with the same store file) fails with a message naming the store and the other server, and leaves the first one serving; the auditor's commands still run
// beside the server; once the first server stops, a start succeeds.
func TestSecondServerRefused(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	env := map[string]string{"CSC_DATA": dir, "CSC_ADDR": "127.0.0.1:0"}
	m, _, _ := testMain(env)
	url := serve(t, m)
	tf := readTokens(t, dir)

	m2, logs2, _ := testMain(env)
	err := m2.Run(context.Background(), []string{"serve"})
	if err == nil {
		m2.Close()
		t.Fatal("a second server on the same data folder started")
	}
	if msg := err.Error(); !strings.Contains(msg, dir) || !strings.Contains(msg, "in use by another csc serve") || strings.Contains(msg, "\n") {
		t.Errorf("second start: %q, want one line naming the folder %s and the other server", msg, dir)
	}
	if code := exitCode(err); code != 1 {
		t.Errorf("second start exits %d, want 1", code)
	}
	if m2.Serving() {
		t.Error("the refused start left a server running")
	}
	if strings.Contains(logs2.String(), "event store opened") {
		t.Errorf("the refused start opened the store:\n%s", logs2)
	}
	call(t, "GET", url+"/v1/progress/berlin", tf.Coordinator, nil, nil) // the first one still serves
	lock := filepath.Join(dir, storeFile+".lock")
	if got := mode(t, lock); got != 0o600 {
		t.Errorf("%s has mode %o, want 600", lock, got)
	}

	// The lock is the store's, not the data folder's: a server with a data folder of its own on the
	// same store file is refused too.
	other := map[string]string{"CSC_DATA": filepath.Join(t.TempDir(), "other"), "CSC_ADDR": "127.0.0.1:0",
		"CSC_STORE": filepath.Join(dir, storeFile)}
	m4, _, _ := testMain(other)
	if err := m4.Run(context.Background(), []string{"serve"}); err == nil {
		m4.Close()
		t.Fatal("a second server on the same store file, with another data folder, started")
	} else if !strings.Contains(err.Error(), "in use by another csc serve") {
		t.Errorf("second start on the same store file: %v", err)
	}

	for _, args := range [][]string{{"replay", "--quiet"}, {"verify", "--quiet"}, {"export", "--quiet"}} {
		a, logs, _ := testMain(env)
		if err := a.Run(context.Background(), args); err != nil {
			t.Errorf("csc %s while a server runs: %v\n%s", strings.Join(args, " "), err, logs)
		}
	}

	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	m3, _, _ := testMain(env)
	serve(t, m3)
}

// TestStaleTokensRewritten: a start whose tokens.json holds tokens that would be refused (signed with
// another secret, expired, or expiring within a day) rewrites it (mode 0600) with tokens that work and
// logs why; a start whose tokens.json is good leaves it untouched.
func TestStaleTokensRewritten(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	secretA, secretB := strings.Repeat("a", 40), strings.Repeat("b", 40)
	start := time.Now()
	tokensPath := filepath.Join(dir, tokensFile)
	// run starts and stops a server at the clock's time now with the secret (none: the data
	// folder's) and returns its log, and whether tokens.json changed; the tokens in it must then work.
	run := func(t *testing.T, secret string, now time.Time) (string, bool) {
		t.Helper()
		before, _ := os.ReadFile(tokensPath)
		m, logs, _ := testMain(map[string]string{"CSC_DATA": dir, "CSC_ADDR": "127.0.0.1:0", "CSC_TOKEN_SECRET": secret})
		m.Now = func() time.Time { return now }
		url := serve(t, m)
		call(t, "GET", url+"/v1/progress/berlin", readTokens(t, dir).Members["berlin"], nil, nil)
		if err := m.Close(); err != nil {
			t.Fatal(err)
		}
		after, err := os.ReadFile(tokensPath)
		if err != nil {
			t.Fatal(err)
		}
		if got := mode(t, tokensPath); got != 0o600 {
			t.Errorf("%s has mode %o, want 600", tokensFile, got)
		}
		return logs.String(), !bytes.Equal(before, after)
	}
	later := start.Add(400 * 24 * time.Hour) // after the first tokens expired
	for _, step := range []struct {
		name    string
		secret  string
		now     time.Time
		rewrite string // the reason logged; "" for none
	}{
		{"first start", secretA, start, ""},
		{"same secret", secretA, start.Add(time.Hour), ""},
		{"another secret", secretB, start, "signed with another secret"},
		{"same secret again", secretB, start, ""},
		{"the data folder's secret", "", start, "signed with another secret"},
		{"expired", "", later, "have expired"},
		{"expiring within a day", "", later.Add(FirstStartTokenTTL - 12*time.Hour), "expire within 24h0m0s"},
		{"renewed", "", later.Add(FirstStartTokenTTL - 12*time.Hour), ""},
	} {
		t.Run(step.name, func(t *testing.T) {
			log, changed := run(t, step.secret, step.now)
			rewrote := strings.Contains(log, "rewrote "+tokensFile)
			switch {
			case step.name == "first start":
				if !changed || rewrote {
					t.Errorf("the first start wrote tokens.json: %v, logged a rewrite: %v\n%s", changed, rewrote, log)
				}
			case step.rewrite == "":
				if changed || rewrote {
					t.Errorf("a start with good tokens changed tokens.json: %v, logged a rewrite: %v\n%s", changed, rewrote, log)
				}
			default:
				if !changed || !rewrote || !strings.Contains(log, step.rewrite) {
					t.Errorf("tokens.json changed: %v; want it rewritten and a log saying so and %q:\n%s", changed, step.rewrite, log)
				}
			}
		})
	}
}

// TestServeStoreAndMessages: --store takes a file path as the auditor's commands do; a store in a
// missing folder is a usage error naming the folder; a failed start does not log "stopped cleanly"
// (a clean stop does); csc help says how the server stops.
func TestServeStoreAndMessages(t *testing.T) {
	tmp := t.TempDir()
	env := map[string]string{"CSC_DATA": filepath.Join(tmp, "data"), "CSC_ADDR": "127.0.0.1:0"}

	missing := filepath.Join(tmp, "nofolder")
	for _, store := range []string{"sqlite:" + filepath.Join(missing, "x.db"), filepath.Join(missing, "x.db")} {
		m, logs, _ := testMain(env)
		err := m.Run(context.Background(), []string{"serve", "--store", store})
		if err == nil {
			m.Close()
			t.Fatalf("serve --store %s started", store)
		}
		if code := exitCode(err); code != 2 || !strings.Contains(err.Error(), "the folder "+missing+" does not exist") {
			t.Errorf("serve --store %s: exit %d, %v; want 2 and the missing folder named", store, code, err)
		}
		if strings.Contains(logs.String(), "stopped cleanly") {
			t.Errorf("a failed start logs \"stopped cleanly\":\n%s", logs)
		}
	}

	path := filepath.Join(tmp, "elsewhere", "events.db")
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	m, logs, _ := testMain(env)
	serve(t, m, "--store", path)
	if !strings.Contains(logs.String(), "store=sqlite:"+path) {
		t.Errorf("serve --store %s does not serve that file:\n%s", path, logs)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(logs.String(), "stopped cleanly") {
		t.Errorf("a clean stop does not say so:\n%s", logs)
	}
	if _, err := os.Stat(path); err != nil {
		t.Errorf("the store file: %v", err)
	}

	h, _, out := testMain(env)
	_ = h.Run(context.Background(), []string{"help"})
	for _, line := range strings.Split(out.String(), "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "serve ") && (!strings.Contains(line, "Ctrl-C") || strings.Contains(line, "Close")) {
			t.Errorf("csc help's serve line does not say how a user stops it: %q", line)
		}
	}
}
