package eventstore

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"

	"github.com/google/uuid"
)

// ErrBrokenChain is matched (errors.Is) by every *ChainError.
var ErrBrokenChain = errors.New("broken event chain")

// What a ChainError found broken.
const (
	BrokenPosition = "position" // the $all position does not come after the previous event's
	BrokenGap      = "gap"      // positions count the events (DensePositions), and this one skips some
	BrokenID       = "event id" // the event ID was already seen in $all
	BrokenRevision = "revision" // the stream revision does not follow the stream's previous event
	BrokenMetadata = "metadata" // the metadata is not a Metadata object with known fields only
	BrokenPrevHash = "prevHash" // prevHash is not the hash of the stream's previous event
	BrokenHash     = "hash"     // the recorded hash is not the hash of the event's content
)

// ChainError is the first broken link the Verifier found in one event.
type ChainError struct {
	Stream   string
	Revision uint64
	Position Position
	// What is one of the Broken* constants.
	What string
	// Expected and Found describe the mismatch in text (revisions, hashes, positions, ...).
	Expected string
	Found    string
}

func (e *ChainError) Error() string {
	return fmt.Sprintf("verify %s revision %d at position %s: %v: %s: expected %s, found %s",
		e.Stream, e.Revision, e.Position, ErrBrokenChain, e.What, e.Expected, e.Found)
}

// Is makes errors.Is(err, ErrBrokenChain) true.
func (e *ChainError) Is(target error) bool { return target == ErrBrokenChain }

// VerifySummary describes the log a Verifier has seen.
type VerifySummary struct {
	Streams int
	Events  int
	// Errors is the number of events for which Check returned an error.
	Errors int
	// Digest is the lowercase hex SHA-256 over the stream heads (see Summary): two copies of a log
	// with the same Digest end every stream at the same revision and hash.
	Digest string
}

type streamHead struct {
	revision uint64
	hash     string
}

// Verifier checks a log event by event, fed in $all order: within each stream, revisions are
// contiguous from 0, each prevHash is the hash recorded by the stream's previous event, and each
// recorded hash is the HashEvent of the event's content; over $all, positions strictly increase and
// event IDs are unique. Metadata must be a JSON object whose keys are exactly Metadata's wire names,
// each at most once, so that no unhashed field can slip in.
//
// Memory grows with the number of streams (their heads) and events (a set of 16-byte IDs).
// A Verifier is not safe for concurrent use.
type Verifier struct {
	heads  map[string]streamHead
	ids    map[uuid.UUID]struct{}
	last   Position
	dense  bool
	events int
	errors int
}

// NewVerifier returns a Verifier that has seen nothing yet.
func NewVerifier() *Verifier {
	return &Verifier{heads: make(map[string]streamHead), ids: make(map[uuid.UUID]struct{})}
}

// DensePositions tells v that the log it checks, from its first event, has positions that count the
// events (1, 2, 3, ...), as the SQLite store's do: a position that skips one then proves that events
// were removed, even the last ones of their streams, which the hash chains alone cannot show (only the
// Digest, compared with one kept earlier, shows the removal of the last events of the log). Call it
// before the first Check.
func (v *Verifier) DensePositions() { v.dense = true }

// Check verifies the next event of $all and returns the first broken link in it as a *ChainError
// (nil when it is sound). After an error it records the event as found (its position, ID, revision and
// recorded hash), so that checking can go on and later errors stay local to the events that cause them.
func (v *Verifier) Check(ev RecordedEvent) error {
	err := v.check(ev)
	v.events++
	if err != nil {
		v.errors++
	}
	return err
}

func (v *Verifier) check(ev RecordedEvent) error {
	broken := func(what, expected, found string) error {
		return &ChainError{Stream: ev.Stream, Revision: ev.Revision, Position: ev.Position,
			What: what, Expected: expected, Found: found}
	}
	var first error
	note := func(err error) {
		if first == nil {
			first = err
		}
	}

	if !v.last.Before(ev.Position) {
		note(broken(BrokenPosition, "after "+v.last.String(), ev.Position.String()))
	} else {
		if want := v.last.Commit + 1; v.dense && ev.Position.Commit != want {
			note(broken(BrokenGap, fmt.Sprintf("position %d (positions count the events: %d missing)", want, ev.Position.Commit-want),
				ev.Position.String()))
		}
		v.last = ev.Position
	}

	if _, dup := v.ids[ev.ID]; dup {
		note(broken(BrokenID, "an ID not seen before", ev.ID.String()))
	}
	v.ids[ev.ID] = struct{}{}

	head, seen := v.heads[ev.Stream]
	wantRev, prevHash := uint64(0), ""
	if seen {
		wantRev, prevHash = head.revision+1, head.hash
	}
	if ev.Revision != wantRev {
		note(broken(BrokenRevision, strconv.FormatUint(wantRev, 10), strconv.FormatUint(ev.Revision, 10)))
	}

	md, err := decodeMetadataStrict(ev.Metadata)
	if err != nil {
		// Remember the hash the event claims, if it can be read at all, so that the next event of the
		// stream is checked against it and this error stays local.
		var claimed struct{ Hash string }
		_ = json.Unmarshal(ev.Metadata, &claimed)
		v.heads[ev.Stream] = streamHead{revision: ev.Revision, hash: claimed.Hash}
		note(broken(BrokenMetadata, "a metadata object with known fields only", err.Error()))
		return first
	}
	v.heads[ev.Stream] = streamHead{revision: ev.Revision, hash: md.Hash}
	if md.PrevHash != prevHash {
		note(broken(BrokenPrevHash, quoteHash(prevHash), quoteHash(md.PrevHash)))
	}
	sum, err := HashEvent(ev.Stream, ev.Revision, ev.Type, ev.Data, md)
	if err != nil {
		note(broken(BrokenHash, "a hashable event", err.Error()))
	} else if sum != md.Hash {
		note(broken(BrokenHash, quoteHash(sum), quoteHash(md.Hash)))
	}
	return first
}

func quoteHash(h string) string {
	if h == "" {
		return `""`
	}
	return h
}

// Summary returns the number of streams and events seen and the Digest of the stream heads.
//
// Digest is the lowercase hex SHA-256 of the concatenation of length-prefixed fields (each an
// unsigned 64-bit big-endian byte length followed by the bytes, as in HashEvent): first the literal
// "csc-heads/v1", then for every stream in ascending byte order of its name, three fields: the stream
// name, its last revision (decimal ASCII) and the hash recorded by its last event.
func (v *Verifier) Summary() VerifySummary {
	streams := make([]string, 0, len(v.heads))
	for s := range v.heads {
		streams = append(streams, s)
	}
	slices.Sort(streams)
	h := sha256.New()
	writeField(h, []byte("csc-heads/v1"))
	var num [20]byte
	for _, s := range streams {
		head := v.heads[s]
		writeField(h, []byte(s))
		writeField(h, strconv.AppendUint(num[:0], head.revision, 10))
		writeField(h, []byte(head.hash))
	}
	return VerifySummary{
		Streams: len(v.heads),
		Events:  v.events,
		Errors:  v.errors,
		Digest:  hex.EncodeToString(h.Sum(nil)),
	}
}

// metadataKey reports whether k is the wire name of a Metadata field, and which (a bit index).
func metadataKey(k string) (int, bool) {
	switch k {
	case "actor":
		return 0, true
	case "role":
		return 1, true
	case "city":
		return 2, true
	case "commandId":
		return 3, true
	case "correlationId":
		return 4, true
	case "causationId":
		return 5, true
	case "commandHash":
		return 6, true
	case "schemaVersion":
		return 7, true
	case "prevHash":
		return 8, true
	case "hash":
		return 9, true
	case "recorded":
		return 10, true
	}
	return 0, false
}

// decodeMetadataStrict decodes stored metadata for verification. Unlike encoding/json alone, it
// refuses keys that are not exactly a Metadata wire name (encoding/json matches keys case-insensitively
// and keeps the last of duplicate keys), duplicate keys and trailing data, so that what a reader
// decodes is what the hash covers.
func decodeMetadataStrict(b []byte) (Metadata, error) {
	// Fast path: metadata exactly as the engine writes it (encoding/json of a Metadata) has only known
	// keys, no duplicates, no keys in another case and nothing after the object.
	var md Metadata
	if err := json.Unmarshal(b, &md); err == nil {
		if canonical, err := json.Marshal(md); err == nil && bytes.Equal(canonical, b) {
			return md, nil
		}
	}
	md = Metadata{}
	strict := json.NewDecoder(bytes.NewReader(b))
	strict.DisallowUnknownFields()
	if err := strict.Decode(&md); err != nil {
		return Metadata{}, fmt.Errorf("decode metadata: %w", err)
	}
	if err := checkMetadataKeys(b); err != nil {
		return Metadata{}, err
	}
	return md, nil
}

// checkMetadataKeys checks that b is one JSON object whose keys are Metadata wire names, each at most
// once, and nothing else.
func checkMetadataKeys(b []byte) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	tok, err := dec.Token()
	if err != nil {
		return fmt.Errorf("decode metadata: %w", err)
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return errors.New("decode metadata: not a JSON object")
	}
	var seen uint32
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return fmt.Errorf("decode metadata: %w", err)
		}
		key, _ := tok.(string)
		bit, ok := metadataKey(key)
		if !ok {
			return fmt.Errorf("decode metadata: unknown field %q", key)
		}
		if seen&(1<<bit) != 0 {
			return fmt.Errorf("decode metadata: duplicate field %q", key)
		}
		seen |= 1 << bit
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			return fmt.Errorf("decode metadata: field %q: %w", key, err)
		}
	}
	if _, err := dec.Token(); err != nil { // the closing '}'
		return fmt.Errorf("decode metadata: %w", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("decode metadata: data after the object")
	}
	return nil
}
