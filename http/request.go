package http

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/metropolis/csc/domain"
	"github.com/metropolis/csc/eventstore"
)

// Request and response headers of the API besides the standard ones.
const (
	// IdempotencyKeyHeader carries the command ID of a write: a UUID, or any other key of 1..255
	// printable ASCII characters (turned into a UUIDv5 within the route's namespace).
	IdempotencyKeyHeader = "Idempotency-Key"
	// PositionHeader answers a write with the $all position of its last event (opaque: pass it back
	// as minPosition).
	PositionHeader = "CSC-Position"
	// ReplayedHeader is "true" on the answer to a write whose Idempotency-Key was already recorded.
	ReplayedHeader = "Idempotent-Replayed"
)

// decodeBody reads a JSON request body into v: at most MaxBodyBytes (413), application/json only
// (415), one JSON value whose keys are exactly the names of v's fields, each at most once per object
// (400). An empty body is an error unless optional, in which case v is left as it is and decodeBody
// reports false. keys caches the field names of v's type.
//
// The body is read into buf (reset first), which the caller may then reuse: nothing decoded into v
// refers to it.
func decodeBody(w http.ResponseWriter, r *http.Request, v any, optional bool, buf *bytes.Buffer, keys *keySchemas) (bool, error) {
	buf.Reset()
	if n := r.ContentLength; n > 0 && n <= MaxBodyBytes {
		buf.Grow(int(n) + bytes.MinRead) // one read, no growing
	}
	_, err := buf.ReadFrom(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
	body := buf.Bytes()
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return false, &requestError{status: http.StatusRequestEntityTooLarge, code: ProblemPayloadTooLarge,
				detail: fmt.Sprintf("the request body is over %d bytes", MaxBodyBytes)}
		}
		return false, errBadRequest("the request body could not be read: " + err.Error())
	}
	if len(bytes.TrimSpace(body)) == 0 {
		if optional {
			return false, nil
		}
		return false, errBadRequest("a JSON request body is required")
	}
	if !isJSON(r.Header.Get("Content-Type")) {
		return false, &requestError{status: http.StatusUnsupportedMediaType, code: ProblemUnsupportedMedia,
			detail: fmt.Sprintf("the Content-Type is %q; send application/json", r.Header.Get("Content-Type"))}
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return false, jsonError(err, body, v)
	}
	if _, err := dec.Token(); err != io.EOF {
		return false, errBadRequest("the request body must hold exactly one JSON value")
	}
	if fe, bad := checkKeys(body, keys.of(reflect.TypeOf(v))); bad {
		if fe.Code == fieldDuplicate {
			return false, errBadRequest("field "+strconv.Quote(fe.Field)+" is given twice", fe)
		}
		return false, errBadRequest("unknown field "+strconv.Quote(fe.Field), fe)
	}
	return true, nil
}

// isJSON reports whether a Content-Type is application/json (any parameters, e.g. charset=utf-8).
func isJSON(contentType string) bool {
	mt, _, err := mime.ParseMediaType(contentType)
	return err == nil && mt == "application/json"
}

// jsonError turns a decoding error of body into v into a 400 problem that names the field where it
// can (its full JSON path, e.g. "milestones[0].due").
func jsonError(err error, body []byte, v any) error {
	var (
		syntax  *json.SyntaxError
		typeErr *json.UnmarshalTypeError
	)
	switch {
	case errors.As(err, &syntax):
		return errBadRequest(fmt.Sprintf("the request body is not valid JSON (at byte %d): %v", syntax.Offset, syntax))
	case errors.Is(err, io.ErrUnexpectedEOF):
		return errBadRequest("the request body is not valid JSON: it ends too early")
	case errors.As(err, &typeErr):
		field := jsonPath(typeErr.Field)
		if field == "" {
			field = "(body)"
		}
		msg := fmt.Sprintf("must be a JSON %s, not %s", jsonKind(typeErr.Type.Kind().String()), typeErr.Value)
		return errBadRequest("a field has the wrong JSON type: "+field+": "+msg,
			domain.FieldError{Field: field, Code: fieldType, Message: field + ": " + msg})
	}
	// An unknown field (encoding/json names only its last key) or a value whose own decoder refused
	// it (e.g. a date that is not YYYY-MM-DD; encoding/json names no field): find it.
	if fe, ok := locateField(body, reflect.TypeOf(v), ""); ok {
		if fe.Code == fieldUnknown {
			return errBadRequest("unknown field "+strconv.Quote(fe.Field), fe)
		}
		return errBadRequest("the request body has a malformed value: "+fe.Message, fe)
	}
	if strings.HasPrefix(err.Error(), "json: unknown field ") {
		name := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		return errBadRequest("unknown field "+strconv.Quote(name),
			domain.FieldError{Field: name, Code: fieldUnknown, Message: name + ": unknown field"})
	}
	return errBadRequest("the request body has a malformed value: " + err.Error())
}

// jsonPath turns the Go path of a decoding error ("ItemFields.sdgTargets") into the JSON path
// ("sdgTargets"): the names of embedded structs, which start with an upper-case letter while every
// JSON name of the API starts with a lower-case one, are dropped.
func jsonPath(goPath string) string {
	var parts []string
	for _, p := range strings.Split(goPath, ".") {
		if p != "" && (p[0] < 'A' || p[0] > 'Z') {
			parts = append(parts, p)
		}
	}
	return strings.Join(parts, ".")
}

func jsonKind(goKind string) string {
	switch goKind {
	case "int", "int8", "int16", "int32", "int64", "uint", "uint8", "uint16", "uint32", "uint64":
		return "integer"
	case "float32", "float64":
		return "number"
	case "slice", "array":
		return "array"
	case "struct", "map":
		return "object"
	case "bool":
		return "boolean"
	}
	return goKind
}

// keyNamespace is the UUIDv5 namespace of idempotency keys that are not UUIDs; each route gets its
// own namespace within it, so that one key string used on two routes names two commands.
func keyNamespace(route string) uuid.UUID {
	return uuid.NewSHA1(uuid.NewSHA1(uuid.NameSpaceURL, []byte("urn:csc:idempotency-key")), []byte(route))
}

// commandID returns the command ID of a write on route: the Idempotency-Key as a UUID, a UUIDv5 of a
// key that is not one, or a fresh ID when there is no key (made true).
func (s *Server) commandID(r *http.Request, route string) (id uuid.UUID, made bool, err error) {
	values := r.Header.Values(IdempotencyKeyHeader)
	if len(values) == 0 {
		return s.newID(), true, nil
	}
	if len(values) > 1 {
		return uuid.Nil, false, errBadRequest("send one Idempotency-Key header")
	}
	key := values[0]
	if key == "" || len(key) > 255 {
		return uuid.Nil, false, errBadRequest("the Idempotency-Key must have 1..255 characters")
	}
	for i := 0; i < len(key); i++ {
		if key[i] < 0x20 || key[i] > 0x7e {
			return uuid.Nil, false, errBadRequest("the Idempotency-Key must be printable ASCII")
		}
	}
	if id, err := uuid.Parse(key); err == nil && id != uuid.Nil {
		return id, false, nil
	}
	return uuid.NewSHA1(keyNamespace(route), []byte(key)), false, nil
}

// ifMatch parses If-Match: one strong entity tag holding a revision ("3"), or "*" (no condition). A
// missing header is no condition either.
func ifMatch(r *http.Request) (*uint64, error) {
	values := r.Header.Values("If-Match")
	if len(values) == 0 {
		return nil, nil
	}
	v := strings.TrimSpace(strings.Join(values, ","))
	if v == "*" {
		return nil, nil
	}
	if strings.Contains(v, ",") {
		return nil, errBadRequest("If-Match must name one revision, e.g. \"3\" (from an ETag)")
	}
	if !strings.HasPrefix(v, `"`) || !strings.HasSuffix(v, `"`) || len(v) < 3 {
		return nil, errBadRequest("If-Match must be a strong entity tag such as \"3\" (from an ETag)")
	}
	rev, err := strconv.ParseUint(v[1:len(v)-1], 10, 64)
	if err != nil {
		return nil, errBadRequest("If-Match must hold a revision number such as \"3\" (from an ETag)")
	}
	return &rev, nil
}

// etag is the entity tag of a stream revision.
func etag(revision uint64) string { return `"` + strconv.FormatUint(revision, 10) + `"` }

func itoa(n uint64) string { return strconv.FormatUint(n, 10) }

// readParams are the parameters every read takes.
type readParams struct {
	// asOf is the moment the read is about; zero means now.
	asOf time.Time
	// minPosition is the position the read models must have reached before answering.
	minPosition eventstore.Position
}

// parseReadParams reads ?asOf=<RFC 3339> and ?minPosition=<position>.
func parseReadParams(r *http.Request) (readParams, error) {
	var p readParams
	q := r.URL.Query()
	if v := q.Get("asOf"); v != "" {
		t, err := time.Parse(time.RFC3339Nano, v)
		if err != nil {
			return p, errBadRequest("asOf must be an RFC 3339 time such as 2026-03-14T09:30:00Z",
				domain.FieldError{Field: "asOf", Code: domain.FieldFormat, Message: "asOf: must be an RFC 3339 time"})
		}
		p.asOf = t.UTC()
	}
	if v := q.Get("minPosition"); v != "" {
		pos, err := eventstore.ParsePosition(v)
		if err != nil {
			return p, errBadRequest("minPosition must be a position as returned in CSC-Position",
				domain.FieldError{Field: "minPosition", Code: domain.FieldFormat, Message: "minPosition: not a position"})
		}
		p.minPosition = pos
	}
	return p, nil
}

// bufferPool recycles the buffers of request bodies and digests (see prepareWrite). A buffer that
// grew past maxPooledBuffer is left to the garbage collector rather than kept.
type bufferPool struct{ pool sync.Pool }

const maxPooledBuffer = 64 << 10

func (p *bufferPool) get() *bytes.Buffer {
	if b, ok := p.pool.Get().(*bytes.Buffer); ok {
		return b
	}
	return new(bytes.Buffer)
}

func (p *bufferPool) put(b *bytes.Buffer) {
	if b.Cap() <= maxPooledBuffer {
		p.pool.Put(b)
	}
}

// writeJSON writes v as a JSON response with status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
