package main

import (
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
