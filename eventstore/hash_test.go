package eventstore_test

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/metropolis/csc/eventstore"
)

// The expected hashes were computed outside Go, with the Python recipe in HashEvent's doc comment.
func TestHashEventGolden(t *testing.T) {
	tests := []struct {
		name     string
		stream   string
		revision uint64
		typ      string
		data     []byte
		md       eventstore.Metadata
		want     string
	}{
		{
			name: "all fields", stream: "roadmap-städte", revision: 2, typ: "counter.incremented", data: []byte(`{"by":3}`),
			md: eventstore.Metadata{
				Actor: "u1", Role: "member", City: "berlin", CommandID: "00000000-0000-0000-0000-000000000001",
				CorrelationID: "corr", CausationID: "cause", CommandHash: "inputhash", SchemaVersion: 2, PrevHash: "abc",
			},
			want: "a0f0385d468f48b8964c083d0fc34a18623d632b403bd7fd8d88a7ba7175e7fc",
		},
		{
			name: "empty values", stream: "s", revision: 0, typ: "t", data: nil,
			want: "df359ef1ed1fe116fdf191bd007541fc5b03f63404e1493d78627fa7bd162200",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := eventstore.HashEvent(tt.stream, tt.revision, tt.typ, tt.data, tt.md)
			if err != nil || got != tt.want {
				t.Fatalf("HashEvent = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

func TestHashEventCoversEveryField(t *testing.T) {
	type input struct {
		stream   string
		revision uint64
		typ      string
		data     string
		md       eventstore.Metadata
	}
	base := input{
		stream: "counter-1", revision: 3, typ: "counter.incremented", data: `{"by":1}`,
		md: eventstore.Metadata{Actor: "a", Role: "r", City: "c", CommandID: "id", CorrelationID: "co",
			CausationID: "ca", CommandHash: "ch", SchemaVersion: 1, PrevHash: "p"},
	}
	recorded := time.Date(2019, 5, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name   string
		change func(*input)
		same   bool
	}{
		{"stream", func(in *input) { in.stream = "counter-2" }, false},
		{"revision", func(in *input) { in.revision = 4 }, false},
		{"type", func(in *input) { in.typ = "counter.reset" }, false},
		{"data", func(in *input) { in.data = `{"by":2}` }, false},
		{"actor", func(in *input) { in.md.Actor = "b" }, false},
		{"role", func(in *input) { in.md.Role = "x" }, false},
		{"city", func(in *input) { in.md.City = "x" }, false},
		{"commandId", func(in *input) { in.md.CommandID = "x" }, false},
		{"correlationId", func(in *input) { in.md.CorrelationID = "x" }, false},
		{"causationId", func(in *input) { in.md.CausationID = "x" }, false},
		{"commandHash", func(in *input) { in.md.CommandHash = "x" }, false},
		{"schemaVersion", func(in *input) { in.md.SchemaVersion = 2 }, false},
		{"prevHash", func(in *input) { in.md.PrevHash = "q" }, false},
		// Length prefixes keep field boundaries: moving a byte from one field to the next changes the hash.
		{"boundary between actor and role", func(in *input) { in.md.Actor, in.md.Role = "ar", "" }, false},
		{"boundary between stream and revision", func(in *input) { in.stream, in.revision = "counter-13", 3 }, false},
		{"hash is not covered", func(in *input) { in.md.Hash = "anything" }, true},
		{"recorded is not covered", func(in *input) { in.md.Recorded = &recorded }, true},
	}
	hash := func(in input) string {
		h, err := eventstore.HashEvent(in.stream, in.revision, in.typ, []byte(in.data), in.md)
		if err != nil {
			t.Fatalf("HashEvent: %v", err)
		}
		return h
	}
	want := hash(base)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := base
			tt.change(&in)
			if got := hash(in); (got == want) != tt.same {
				t.Fatalf("hash after changing %s: %s, base %s; want same=%v", tt.name, got, want, tt.same)
			}
		})
	}
}

// TestMetadataFieldsAreHashed fails when Metadata gains a field: add it to HashEvent's encoding (or
// say there why it is not covered), to the verifier's list of known keys, and to this list.
func TestMetadataFieldsAreHashed(t *testing.T) {
	want := []string{"actor", "role", "city", "commandId", "correlationId", "causationId", "commandHash",
		"schemaVersion", "prevHash", "hash", "recorded"}
	typ := reflect.TypeFor[eventstore.Metadata]()
	var got []string
	for i := range typ.NumField() {
		name, _, _ := strings.Cut(typ.Field(i).Tag.Get("json"), ",")
		got = append(got, name)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Metadata wire names %v, want %v", got, want)
	}
}

func TestHashEventRefusesEmptyNames(t *testing.T) {
	for _, tt := range []struct{ stream, typ string }{{"", "t"}, {"s", ""}} {
		if _, err := eventstore.HashEvent(tt.stream, 0, tt.typ, nil, eventstore.Metadata{}); err == nil {
			t.Errorf("HashEvent(%q, %q) succeeded, want an error", tt.stream, tt.typ)
		}
	}
}

// TestHashEventMatchesTheRecipe recomputes the documented canonical encoding independently, for
// events of every size (HashEvent builds the encoding in a buffer that grows past 2 KiB).
func TestHashEventMatchesTheRecipe(t *testing.T) {
	field := func(b []byte) []byte {
		n := make([]byte, 8)
		binary.BigEndian.PutUint64(n, uint64(len(b)))
		return append(n, b...)
	}
	md := eventstore.Metadata{Actor: "a", Role: "r", City: "c", CommandID: "id", CorrelationID: "co",
		CausationID: "ca", CommandHash: "ch", SchemaVersion: 12, PrevHash: strings.Repeat("p", 64)}
	for _, size := range []int{0, 1, 1500, 2048, 5000, 70000} {
		data := []byte(strings.Repeat("d", size))
		var enc []byte
		for _, f := range []string{"csc-event/v1", "stream-1", "42", "type.x", string(data), md.Actor, md.Role, md.City,
			md.CommandID, md.CorrelationID, md.CausationID, md.CommandHash, "12", md.PrevHash} {
			enc = append(enc, field([]byte(f))...)
		}
		sum := sha256.Sum256(enc)
		got, err := eventstore.HashEvent("stream-1", 42, "type.x", data, md)
		if err != nil || got != hex.EncodeToString(sum[:]) {
			t.Errorf("%d bytes of data: HashEvent = %q, %v; want %x", size, got, err, sum)
		}
	}
}
