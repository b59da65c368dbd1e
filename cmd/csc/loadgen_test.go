package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestLoadgenCPUProfile: --cpuprofile writes one CPU profile per history size (named after the size
// when there are several), whose samples carry the loadgen label of the command clients. (The
// progress readers sleep most of the time: a short run need not sample them.) The command clients
// are lean, a few µs of CPU a command, and the profile samples every 10 ms: the run is long and wide
// enough (16 clients, 2 s) for their samples not to be a matter of luck, as with 4 clients for 1 s.
func TestLoadgenCPUProfile(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name  string
		sizes string
		files []string
	}{
		{"one size", "50", []string{"load.pprof"}},
		{"two sizes", "50,60", []string{"load-50.pprof", "load-60.pprof"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := filepath.Join(dir, tt.name)
			if err := os.Mkdir(out, 0o700); err != nil {
				t.Fatal(err)
			}
			m, logs, _ := testMain(map[string]string{})
			err := m.Run(context.Background(), []string{"loadgen", "--events", tt.sizes, "--clients", "16", "--duration", "2s",
				"--cpuprofile", filepath.Join(out, "load.pprof")})
			if err != nil {
				t.Fatalf("loadgen: %v\n%s", err, logs)
			}
			entries, err := os.ReadDir(out)
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, e := range entries {
				names = append(names, e.Name())
			}
			if len(names) != len(tt.files) {
				t.Fatalf("files %q, want %q", names, tt.files)
			}
			for i, name := range tt.files {
				if names[i] != name {
					t.Fatalf("files %q, want %q", names, tt.files)
				}
				labels := sampleLabels(t, profileBytes(t, filepath.Join(out, name)))
				t.Logf("%s: labelled samples %v", name, labels)
				if labels["loadgen=commands"] == 0 {
					t.Errorf("%s: no sample labelled loadgen=commands (labels: %v)", name, labels)
				}
			}
		})
	}
}

// sampleLabels counts the samples of a pprof profile (protocol buffer, see
// github.com/google/pprof/proto/profile.proto) by their "key=value" string labels.
func sampleLabels(t *testing.T, raw []byte) map[string]int {
	t.Helper()
	var (
		strs    []string
		samples [][]byte
	)
	for f := range protoFields(t, raw) {
		switch f.num {
		case 2: // Profile.sample
			samples = append(samples, f.bytes)
		case 6: // Profile.string_table
			strs = append(strs, string(f.bytes))
		}
	}
	str := func(i uint64) string {
		if i >= uint64(len(strs)) {
			t.Fatalf("string index %d out of %d", i, len(strs))
		}
		return strs[i]
	}
	counts := map[string]int{}
	for _, sample := range samples {
		for f := range protoFields(t, sample) {
			if f.num != 3 { // Sample.label
				continue
			}
			var key, value uint64
			for lf := range protoFields(t, f.bytes) {
				switch lf.num {
				case 1: // Label.key
					key = lf.varint
				case 2: // Label.str
					value = lf.varint
				}
			}
			counts[str(key)+"="+str(value)]++
		}
	}
	return counts
}

// protoField is one field of a protocol buffer message: a varint or length-delimited value.
type protoField struct {
	num    uint64
	varint uint64
	bytes  []byte
}

// protoFields yields the fields of the message b (varint and length-delimited wire types only, which
// is all a pprof profile uses besides packed repeated fields, also length-delimited).
func protoFields(t *testing.T, b []byte) func(func(protoField) bool) {
	return func(yield func(protoField) bool) {
		for len(b) > 0 {
			tag, n := binary.Uvarint(b)
			if n <= 0 {
				t.Fatal("bad field tag")
			}
			b = b[n:]
			f := protoField{num: tag >> 3}
			switch tag & 7 {
			case 0:
				f.varint, n = binary.Uvarint(b)
				if n <= 0 {
					t.Fatal("bad varint")
				}
				b = b[n:]
			case 2:
				l, n := binary.Uvarint(b)
				if n <= 0 || uint64(len(b)-n) < l {
					t.Fatal("bad length")
				}
				f.bytes, b = b[n:n+int(l)], b[n+int(l):]
			default:
				t.Fatalf("wire type %d", tag&7)
			}
			if !yield(f) {
				return
			}
		}
	}
}

// profileBytes returns the decompressed protocol buffer of a pprof profile.
func profileBytes(t *testing.T, path string) []byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatalf("%s is not a gzipped profile: %v", path, err)
	}
	raw, err := io.ReadAll(zr)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return raw
}

// TestLoadConn: the load client's hand-written HTTP/1.1 exchange against a real server: the body
// and headers arrive, a chunked response is read whole, a response that closes the connection is
// followed by a fresh one, a non-2xx status is an error, and an ended context unblocks a request
// that waits for its answer.
func TestLoadConn(t *testing.T) {
	release, reached := make(chan struct{}), make(chan struct{}, 1)
	var conns atomic.Int32
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer secret" {
			http.Error(w, "no token", http.StatusUnauthorized)
			return
		}
		switch r.URL.Path {
		case "/echo":
			body, _ := io.ReadAll(r.Body)
			fmt.Fprintf(w, `{"id":%q}`, r.Header.Get("Content-Type")+" "+string(body))
		case "/close":
			w.Header().Set("Connection", "close")
			fmt.Fprint(w, `{"id":"closed"}`)
		case "/big":
			w.Write(bytes.Repeat([]byte("x"), 100_000)) // more than net/http buffers: chunked
		case "/refused":
			http.Error(w, "refused", http.StatusUnprocessableEntity)
		case "/slow":
			reached <- struct{}{}
			<-release
		}
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	defer srv.Close()
	defer close(release)

	lc := &loadClient{host: strings.TrimPrefix(srv.URL, "http://"), auth: "Bearer secret"}
	c := lc.conn()
	defer c.close()
	ctx := context.Background()
	if id, err := c.post(ctx, "/echo", []byte(`{"a":1}`)); err != nil || id != `application/json {"a":1}` {
		t.Fatalf("post with a body: %q, %v", id, err)
	}
	if id, err := c.post(ctx, "/echo", nil); err != nil || id != " " {
		t.Fatalf("post without a body: %q, %v", id, err)
	}
	if err := c.get(ctx, "/big"); err != nil {
		t.Fatalf("chunked response: %v", err)
	}
	if n := conns.Load(); n != 1 {
		t.Fatalf("want one connection for three exchanges, got %d", n)
	}
	if id, err := c.post(ctx, "/close", nil); err != nil || id != "closed" {
		t.Fatalf("post answered with Connection: close: %q, %v", id, err)
	}
	if _, err := c.post(ctx, "/echo", nil); err != nil {
		t.Fatalf("post after the server closed the connection: %v", err)
	}
	if n := conns.Load(); n != 2 {
		t.Fatalf("want a second connection after the close, got %d", n)
	}
	if _, err := c.post(ctx, "/refused", nil); err == nil || !strings.Contains(err.Error(), "422") {
		t.Fatalf("post answered 422: want an error naming it, got %v", err)
	}

	cctx, cancel := context.WithCancel(ctx)
	slow := lc.conn()
	defer slow.close()
	done := make(chan error, 1)
	go func() { done <- slow.get(cctx, "/slow") }()
	<-reached // the request waits for its answer
	cancel()
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("a request whose context ended: want an error")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("an ended context did not unblock the request")
	}
}
