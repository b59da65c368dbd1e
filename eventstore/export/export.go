// Package export takes the CSC event log away from its store: it writes events as JSON Lines or CSV
// with stable columns, streaming (one event in memory at a time), and reads a JSON Lines export back as
// events, so that an auditor can check the hash chains of a copy of the log offline with the same
// eventstore.Verifier that checks a live store.
//
// # Columns
//
// Every export has the same columns, in this order (the CSV header row and the JSON keys):
//
//	position   the $all position, in its text form ("57", or "C/P" on EventStoreDB)
//	stream     the stream name
//	revision   the event's revision in its stream (0 for the first)
//	eventId    the event ID (UUID)
//	type       the event type
//	recorded   when the event was recorded (RFC 3339, UTC): the original time of an event copied from
//	           another store (metadata "recorded"), else the time the store committed it
//	actor, role, city, commandId, hash, prevHash
//	           the metadata fields of the same names, repeated as columns for reading and filtering
//	data       the event's data (JSON), byte for byte as stored
//	metadata   the event's metadata (JSON), byte for byte as stored
//
// In JSON Lines, data and metadata are embedded as JSON values, byte for byte. A payload that cannot be
// embedded so (not one line of valid JSON in UTF-8, e.g. empty) is written as "dataBase64" or "metadataBase64"
// instead (standard base64 of the stored bytes), so that the hash, which covers the stored bytes, can
// always be recomputed from the export. In CSV, data and metadata are text columns.
//
// A JSON Lines export read by ReadJSONL yields the events it holds; the metadata columns must agree
// with the metadata JSON (which is what the hash covers), so that no column can say something the
// verified metadata does not.
package export

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"iter"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/metropolis/csc/eventstore"
)

// Format is an export format.
type Format string

// The formats of an export.
const (
	JSONL Format = "jsonl" // JSON Lines: one JSON object per event; verifiable offline
	CSV   Format = "csv"   // RFC 4180 CSV with a header row
)

// ParseFormat returns the Format named s ("jsonl" or "csv").
func ParseFormat(s string) (Format, error) {
	switch f := Format(s); f {
	case JSONL, CSV:
		return f, nil
	}
	return "", fmt.Errorf("parse format %q: want %q or %q", s, JSONL, CSV)
}

// Column names, in export order.
const (
	ColPosition  = "position"
	ColStream    = "stream"
	ColRevision  = "revision"
	ColEventID   = "eventId"
	ColType      = "type"
	ColRecorded  = "recorded"
	ColActor     = "actor"
	ColRole      = "role"
	ColCity      = "city"
	ColCommandID = "commandId"
	ColHash      = "hash"
	ColPrevHash  = "prevHash"
	ColData      = "data"
	ColMetadata  = "metadata"

	// In JSON Lines only, in place of data or metadata when the stored bytes are not one line of JSON.
	ColDataBase64     = "dataBase64"
	ColMetadataBase64 = "metadataBase64"
)

// Columns returns the columns of every export, in order.
func Columns() []string {
	return []string{ColPosition, ColStream, ColRevision, ColEventID, ColType, ColRecorded, ColActor, ColRole,
		ColCity, ColCommandID, ColHash, ColPrevHash, ColData, ColMetadata}
}

// Filter selects the events of an export. The zero Filter selects the whole log.
type Filter struct {
	// After selects the events strictly after this position (an export after the last position of an
	// earlier export continues it: the two files concatenated are one export).
	After eventstore.Position
	// Until, when set, ends the export before the first event recorded after it (see RecordedAt): the
	// log as it stood at Until, a prefix of $all.
	Until time.Time
	// StreamPrefix, when set, selects the streams whose names start with it.
	StreamPrefix string
}

// Apply yields the events of events (in $all order) that f selects. It stops after the first error
// of events, which it yields.
func (f Filter) Apply(events iter.Seq2[eventstore.RecordedEvent, error]) iter.Seq2[eventstore.RecordedEvent, error] {
	return func(yield func(eventstore.RecordedEvent, error) bool) {
		for ev, err := range events {
			if err != nil {
				yield(eventstore.RecordedEvent{}, err)
				return
			}
			if !f.After.Before(ev.Position) {
				continue
			}
			if !f.Until.IsZero() && RecordedAt(ev).After(f.Until) {
				return
			}
			if !strings.HasPrefix(ev.Stream, f.StreamPrefix) {
				continue
			}
			if !yield(ev, nil) {
				return
			}
		}
	}
}

// RecordedAt returns when ev was recorded: its effective time (eventstore.EffectiveTime), the time
// kept in its metadata when it was copied from another store or written as history, else the time its
// store committed it. Both are in UTC.
func RecordedAt(ev eventstore.RecordedEvent) time.Time {
	var md struct {
		Recorded *time.Time `json:"recorded"`
	}
	if json.Unmarshal(ev.Metadata, &md) != nil {
		md.Recorded = nil
	}
	return eventstore.EffectiveTime(ev, eventstore.Metadata{Recorded: md.Recorded})
}

// Writer writes events in one format. It buffers: Close flushes. A Writer is not safe for concurrent
// use.
type Writer struct {
	format Format
	out    *bufio.Writer
	csv    *csv.Writer // CSV only
	line   []byte      // JSON Lines: the line being built, reused
	header bool        // CSV: the header row is written
	events int
	last   eventstore.Position
}

// NewWriter returns a Writer of format on w.
func NewWriter(w io.Writer, format Format) (*Writer, error) {
	if _, err := ParseFormat(string(format)); err != nil {
		return nil, fmt.Errorf("new export writer: %w", err)
	}
	ew := &Writer{format: format, out: bufio.NewWriterSize(w, 64<<10)}
	if format == CSV {
		ew.csv = csv.NewWriter(ew.out)
	}
	return ew, nil
}

// Events returns the number of events written.
func (w *Writer) Events() int { return w.events }

// Last returns the position of the last event written (the zero Position before the first).
func (w *Writer) Last() eventstore.Position { return w.last }

// row is an event's columns besides data and metadata.
type row struct {
	position, stream, revision, eventID, typ, recorded string
	actor, role, city, commandID, hash, prevHash       string
}

func rowOf(ev eventstore.RecordedEvent) (row, error) {
	if !utf8.ValidString(ev.Stream) || !utf8.ValidString(ev.Type) {
		return row{}, fmt.Errorf("stream or type name of the event at position %s is not UTF-8 text", ev.Position)
	}
	// The columns repeat the metadata as it decodes; metadata that does not decode (which the Verifier
	// reports) leaves them empty.
	var md eventstore.Metadata
	_ = json.Unmarshal(ev.Metadata, &md)
	return row{
		position: ev.Position.String(), stream: ev.Stream, revision: strconv.FormatUint(ev.Revision, 10),
		eventID: ev.ID.String(), typ: ev.Type, recorded: RecordedAt(ev).Format(time.RFC3339Nano),
		actor: md.Actor, role: md.Role, city: md.City, commandID: md.CommandID, hash: md.Hash, prevHash: md.PrevHash,
	}, nil
}

// Write writes one event.
func (w *Writer) Write(ev eventstore.RecordedEvent) error {
	r, err := rowOf(ev)
	if err != nil {
		return fmt.Errorf("export %s revision %d: %w", ev.Stream, ev.Revision, err)
	}
	switch w.format {
	case CSV:
		err = w.writeCSV(r, ev)
	default:
		err = w.writeJSONL(r, ev)
	}
	if err != nil {
		return fmt.Errorf("export %s revision %d: %w", ev.Stream, ev.Revision, err)
	}
	w.events++
	w.last = ev.Position
	return nil
}

func (w *Writer) writeCSV(r row, ev eventstore.RecordedEvent) error {
	if !w.header {
		if err := w.csv.Write(Columns()); err != nil {
			return err
		}
		w.header = true
	}
	return w.csv.Write([]string{r.position, r.stream, r.revision, r.eventID, r.typ, r.recorded, r.actor, r.role,
		r.city, r.commandID, r.hash, r.prevHash, string(ev.Data), string(ev.Metadata)})
}

func (w *Writer) writeJSONL(r row, ev eventstore.RecordedEvent) error {
	b := w.line[:0]
	b = append(b, '{')
	b = appendString(b, ColPosition, r.position, false)
	b = appendString(b, ColStream, r.stream, true)
	b = appendKey(b, ColRevision, true)
	b = append(b, r.revision...)
	for _, kv := range [...][2]string{
		{ColEventID, r.eventID}, {ColType, r.typ}, {ColRecorded, r.recorded}, {ColActor, r.actor},
		{ColRole, r.role}, {ColCity, r.city}, {ColCommandID, r.commandID}, {ColHash, r.hash}, {ColPrevHash, r.prevHash},
	} {
		b = appendString(b, kv[0], kv[1], true)
	}
	b = appendPayload(b, ColData, ColDataBase64, ev.Data)
	b = appendPayload(b, ColMetadata, ColMetadataBase64, ev.Metadata)
	b = append(b, '}', '\n')
	w.line = b
	_, err := w.out.Write(b)
	return err
}

func appendKey(b []byte, key string, comma bool) []byte {
	if comma {
		b = append(b, ',')
	}
	b = append(b, '"')
	b = append(b, key...)
	return append(b, '"', ':')
}

func appendString(b []byte, key, value string, comma bool) []byte {
	b = appendKey(b, key, comma)
	q, _ := json.Marshal(value) // a string always marshals (invalid UTF-8 is refused earlier or was decoded from JSON)
	return append(b, q...)
}

// appendPayload embeds p as the JSON value of key when it is one line of valid JSON in UTF-8 without
// surrounding white space (so that reading the value back gives the same bytes), else writes it in
// base64 under key64.
func appendPayload(b []byte, key, key64 string, p []byte) []byte {
	if embeddable(p) {
		b = appendKey(b, key, true)
		return append(b, p...)
	}
	b = appendKey(b, key64, true)
	b = append(b, '"')
	b = base64.StdEncoding.AppendEncode(b, p)
	return append(b, '"')
}

func embeddable(p []byte) bool {
	if len(p) == 0 || isSpace(p[0]) || isSpace(p[len(p)-1]) || bytes.ContainsAny(p, "\r\n") {
		return false
	}
	return utf8.Valid(p) && json.Valid(p)
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\r' || c == '\n' }

// Close writes what is buffered (and, in CSV, the header row of an empty export).
func (w *Writer) Close() error {
	if w.format == CSV {
		if !w.header {
			if err := w.csv.Write(Columns()); err != nil {
				return fmt.Errorf("export: %w", err)
			}
			w.header = true
		}
		w.csv.Flush()
		if err := w.csv.Error(); err != nil {
			return fmt.Errorf("export: %w", err)
		}
	}
	if err := w.out.Flush(); err != nil {
		return fmt.Errorf("export: %w", err)
	}
	return nil
}

// ErrBadLine is matched (errors.Is) by every *LineError.
var ErrBadLine = errors.New("not an exported event")

// LineError reports a line of a JSON Lines export that is not an exported event.
type LineError struct {
	Line int // 1-based
	Err  error
}

func (e *LineError) Error() string { return fmt.Sprintf("line %d: %v: %v", e.Line, ErrBadLine, e.Err) }

// Unwrap returns the cause.
func (e *LineError) Unwrap() error { return e.Err }

// Is makes errors.Is(err, ErrBadLine) true.
func (e *LineError) Is(target error) bool { return target == ErrBadLine }

// MaxLine bounds the length of one line ReadJSONL accepts (one event with its data and metadata).
const MaxLine = 64 << 20

// ReadJSONL yields the events of the JSON Lines export read from r, in file order, one line at a time.
// It stops after yielding the first error: a *LineError for a line that is not an exported event (an
// unknown, missing or repeated key, a column that disagrees with the metadata, ...), or a read error.
func ReadJSONL(r io.Reader) iter.Seq2[eventstore.RecordedEvent, error] {
	return func(yield func(eventstore.RecordedEvent, error) bool) {
		sc := bufio.NewScanner(r)
		sc.Buffer(make([]byte, 0, 64<<10), MaxLine)
		line := 0
		for sc.Scan() {
			line++
			ev, err := parseLine(sc.Bytes())
			if err != nil {
				yield(eventstore.RecordedEvent{}, &LineError{Line: line, Err: err})
				return
			}
			if !yield(ev, nil) {
				return
			}
		}
		if err := sc.Err(); err != nil {
			if errors.Is(err, bufio.ErrTooLong) {
				err = &LineError{Line: line + 1, Err: fmt.Errorf("longer than %d bytes", MaxLine)}
			} else {
				err = fmt.Errorf("read export after line %d: %w", line, err)
			}
			yield(eventstore.RecordedEvent{}, err)
		}
	}
}

// parseLine reads one exported event. Keys must be exactly the column names, each once; the data and
// metadata values are kept byte for byte.
func parseLine(b []byte) (eventstore.RecordedEvent, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return eventstore.RecordedEvent{}, errors.New("not a JSON object")
	}
	text := make(map[string]string, 12)
	var (
		revision           []byte
		data, meta         []byte
		haveData, haveMeta bool
	)
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return eventstore.RecordedEvent{}, err
		}
		key, _ := tok.(string)
		switch key {
		case ColRevision:
			if revision != nil {
				return eventstore.RecordedEvent{}, fmt.Errorf("key %q twice", key)
			}
			var raw json.RawMessage
			if err := dec.Decode(&raw); err != nil {
				return eventstore.RecordedEvent{}, fmt.Errorf("%s: %w", key, err)
			}
			revision = raw
		case ColData, ColDataBase64:
			if haveData {
				return eventstore.RecordedEvent{}, fmt.Errorf("key %q: the data is given twice", key)
			}
			if data, err = decodePayload(dec, key == ColDataBase64); err != nil {
				return eventstore.RecordedEvent{}, fmt.Errorf("%s: %w", key, err)
			}
			haveData = true
		case ColMetadata, ColMetadataBase64:
			if haveMeta {
				return eventstore.RecordedEvent{}, fmt.Errorf("key %q: the metadata is given twice", key)
			}
			if meta, err = decodePayload(dec, key == ColMetadataBase64); err != nil {
				return eventstore.RecordedEvent{}, fmt.Errorf("%s: %w", key, err)
			}
			haveMeta = true
		case ColPosition, ColStream, ColEventID, ColType, ColRecorded, ColActor, ColRole, ColCity, ColCommandID, ColHash, ColPrevHash:
			if _, dup := text[key]; dup {
				return eventstore.RecordedEvent{}, fmt.Errorf("key %q twice", key)
			}
			var raw json.RawMessage
			if err := dec.Decode(&raw); err != nil {
				return eventstore.RecordedEvent{}, fmt.Errorf("%s: %w", key, err)
			}
			var s string
			if raw[0] != '"' || json.Unmarshal(raw, &s) != nil {
				return eventstore.RecordedEvent{}, fmt.Errorf("%s: %s is not a string", key, raw)
			}
			text[key] = s
		default:
			return eventstore.RecordedEvent{}, fmt.Errorf("unknown key %q", key)
		}
	}
	if _, err := dec.Token(); err != nil { // the closing '}'
		return eventstore.RecordedEvent{}, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return eventstore.RecordedEvent{}, errors.New("data after the object")
	}
	for _, c := range Columns() {
		switch c {
		case ColRevision:
			if revision == nil {
				return eventstore.RecordedEvent{}, fmt.Errorf("no %q", c)
			}
		case ColData:
			if !haveData {
				return eventstore.RecordedEvent{}, fmt.Errorf("no %q", c)
			}
		case ColMetadata:
			if !haveMeta {
				return eventstore.RecordedEvent{}, fmt.Errorf("no %q", c)
			}
		default:
			if _, ok := text[c]; !ok {
				return eventstore.RecordedEvent{}, fmt.Errorf("no %q", c)
			}
		}
	}
	return eventOf(text, revision, data, meta)
}

func decodePayload(dec *json.Decoder, base64Encoded bool) ([]byte, error) {
	if base64Encoded {
		var s string
		if err := dec.Decode(&s); err != nil {
			return nil, err
		}
		p, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			return nil, err
		}
		if len(p) == 0 {
			return nil, nil
		}
		return p, nil
	}
	var raw json.RawMessage
	if err := dec.Decode(&raw); err != nil {
		return nil, err
	}
	return []byte(raw), nil
}

// eventOf checks the columns of a parsed line and makes its event.
func eventOf(text map[string]string, revision, data, meta []byte) (eventstore.RecordedEvent, error) {
	pos, err := eventstore.ParsePosition(text[ColPosition])
	if err != nil || pos.IsZero() {
		return eventstore.RecordedEvent{}, fmt.Errorf("position %q is not a position", text[ColPosition])
	}
	rev, err := strconv.ParseUint(string(revision), 10, 64)
	if err != nil || (len(revision) > 1 && revision[0] == '0') {
		return eventstore.RecordedEvent{}, fmt.Errorf("revision %s is not a revision", revision)
	}
	id, err := parseUUID(text[ColEventID])
	if err != nil {
		return eventstore.RecordedEvent{}, fmt.Errorf("eventId %q: %w", text[ColEventID], err)
	}
	recorded, err := time.Parse(time.RFC3339Nano, text[ColRecorded])
	if err != nil {
		return eventstore.RecordedEvent{}, fmt.Errorf("recorded %q is not an RFC 3339 time", text[ColRecorded])
	}
	ev := eventstore.RecordedEvent{
		ID: id, Stream: text[ColStream], Revision: rev, Position: pos, Type: text[ColType],
		Data: data, Metadata: meta, Recorded: recorded.UTC(),
	}
	if ev.Stream == "" || ev.Type == "" {
		return eventstore.RecordedEvent{}, errors.New("empty stream or type")
	}
	// The columns must say what the metadata says, as the export wrote them (empty when the metadata
	// does not decode: the Verifier reports that metadata).
	want, err := rowOf(ev)
	if err != nil {
		return eventstore.RecordedEvent{}, err
	}
	for _, c := range []struct{ name, found, want string }{
		{ColActor, text[ColActor], want.actor}, {ColRole, text[ColRole], want.role}, {ColCity, text[ColCity], want.city},
		{ColCommandID, text[ColCommandID], want.commandID}, {ColHash, text[ColHash], want.hash},
		{ColPrevHash, text[ColPrevHash], want.prevHash}, {ColRecorded, recorded.UTC().Format(time.RFC3339Nano), want.recorded},
	} {
		if c.found != c.want {
			return eventstore.RecordedEvent{}, fmt.Errorf("column %s is %q but the metadata says %q", c.name, c.found, c.want)
		}
	}
	return ev, nil
}

// parseUUID parses a UUID in its canonical form only (lowercase, with hyphens), as the export writes it.
func parseUUID(s string) (uuid.UUID, error) {
	id, err := uuid.Parse(s)
	if err != nil {
		return uuid.UUID{}, err
	}
	if id.String() != s {
		return uuid.UUID{}, errors.New("not a UUID in canonical form")
	}
	return id, nil
}
