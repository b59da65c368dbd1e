package eventstore

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
)

// metadataSamples are metadata values whose strings exercise every escaping rule of encoding/json.
func metadataSamples() []Metadata {
	odd := []string{"", "plain", `quote " and \ backslash`, "<script>&amp;</script>", "\b\f\n\r\t\x00\x01\x1f\x7f",
		"städte 城市 🚲", "bad \xff utf-8 \xc3", "line\u2028para\u2029", "\xe2\x80", strings.Repeat("long ", 100)}
	var out []Metadata
	for i, s := range odd {
		out = append(out, Metadata{
			Actor: s, Role: odd[(i+1)%len(odd)], City: odd[(i+2)%len(odd)], CommandID: odd[(i+3)%len(odd)],
			CorrelationID: odd[(i+4)%len(odd)], CausationID: odd[(i+5)%len(odd)], CommandHash: odd[(i+6)%len(odd)],
			SchemaVersion: i - 2, PrevHash: odd[(i+7)%len(odd)], Hash: odd[(i+8)%len(odd)],
		})
	}
	return append(out, Metadata{}, Metadata{SchemaVersion: 1, Hash: "h"})
}

// TestMarshalMetadata: the engine's metadata encoding is json.Marshal's, byte for byte; with Recorded
// (which the engine never sets) it is json.Marshal itself.
func TestMarshalMetadata(t *testing.T) {
	recorded := time.Date(2026, 3, 14, 9, 30, 0, 0, time.UTC)
	samples := metadataSamples()
	withRecorded := samples[1]
	withRecorded.Recorded = &recorded
	for i, md := range append(samples, withRecorded) {
		want, err := json.Marshal(md)
		if err != nil {
			t.Fatal(err)
		}
		got, err := marshalMetadata(md)
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("sample %d: marshalMetadata = %s, %v\nwant %s", i, got, err, want)
		}
	}
}

func FuzzMarshalMetadata(f *testing.F) {
	for _, md := range metadataSamples() {
		f.Add(md.Actor, md.Role, md.CommandHash, md.SchemaVersion, md.PrevHash)
	}
	f.Fuzz(func(t *testing.T, actor, role, hash string, version int, prev string) {
		md := Metadata{Actor: actor, Role: role, City: actor + role, CommandID: hash, CommandHash: hash,
			SchemaVersion: version, PrevHash: prev, Hash: hash}
		want, err := json.Marshal(md)
		if err != nil {
			t.Fatal(err)
		}
		got, err := marshalMetadata(md)
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("marshalMetadata = %s, %v\nwant %s", got, err, want)
		}
	})
}

// TestEventIDName: EventID is the UUIDv5 of "<index>:<hash>" in the command's namespace.
func TestEventIDName(t *testing.T) {
	cmd := uuid.MustParse("0b7c1f8e-8f0e-4c3e-9a57-3c1f0f7f2d11")
	for _, tt := range []struct {
		index int
		hash  string
	}{{0, ""}, {1, "abc"}, {12345, strings.Repeat("f", 64)}, {7, strings.Repeat("x", 300)}} {
		want := uuid.NewSHA1(cmd, []byte(strconv.Itoa(tt.index)+":"+tt.hash))
		if got := EventID(cmd, tt.index, tt.hash); got != want {
			t.Errorf("EventID(%d, %q) = %s, want %s", tt.index, tt.hash, got, want)
		}
	}
}
