package http

import (
	"bytes"
	"encoding/json"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/metropolis/csc/domain"
)

// fieldDuplicate is the code of a key given twice in one JSON object.
const fieldDuplicate = "duplicate_field"

// encoding/json matches keys to fields without regard to case ({"TITLE": ...} sets Title) and keeps
// the last of duplicated keys, which DisallowUnknownFields lets through. A request body must name
// every field exactly as documented, once: checkKeys walks a body that decoded, against the request
// type, and refuses any other key with the field's full JSON path.

// keySchema is what checkKeys needs to know of a type: the JSON names of a struct's fields, the
// element of a slice or a map (whose keys are free), or nothing (a leaf: a scalar, or a type that
// decodes itself, such as a date).
type keySchema struct {
	fields map[string]*keySchema // a struct
	elem   *keySchema            // a slice, an array or a map
	isMap  bool
}

// keySchemas caches the schema of each request type. The zero value is ready; safe for concurrent use.
type keySchemas struct {
	m sync.Map // reflect.Type -> *keySchema
}

func (c *keySchemas) of(t reflect.Type) *keySchema {
	if s, ok := c.m.Load(t); ok {
		return s.(*keySchema)
	}
	s, _ := c.m.LoadOrStore(t, schemaOf(t, map[reflect.Type]*keySchema{}))
	return s.(*keySchema)
}

// schemaOf builds the schema of t (seen breaks cycles of recursive types).
func schemaOf(t reflect.Type, seen map[reflect.Type]*keySchema) *keySchema {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if s, ok := seen[t]; ok {
		return s
	}
	s := &keySchema{}
	seen[t] = s
	if reflect.PointerTo(t).Implements(unmarshalerType) {
		return s
	}
	switch t.Kind() {
	case reflect.Struct:
		s.fields = map[string]*keySchema{}
		for name, ft := range jsonFields(t) {
			s.fields[name] = schemaOf(ft, seen)
		}
	case reflect.Slice, reflect.Array:
		if t.Elem().Kind() != reflect.Uint8 { // []byte is a base64 string
			s.elem = schemaOf(t.Elem(), seen)
		}
	case reflect.Map:
		s.elem, s.isMap = schemaOf(t.Elem(), seen), true
	}
	return s
}

// checkKeys returns the first key of body (valid JSON for a value of schema s) that is not a field's
// exact name, or that its object repeats. It allocates only to report one.
func checkKeys(body []byte, s *keySchema) (domain.FieldError, bool) {
	k := keyChecker{b: body}
	k.value(s)
	if k.code == "" {
		return domain.FieldError{}, false
	}
	// The path was collected on the way out, innermost step first.
	slices.Reverse(k.steps)
	parent := joinSteps(k.steps[:len(k.steps)-1])
	name := joinPath(parent, k.steps[len(k.steps)-1].key)
	fe := domain.FieldError{Field: name, Code: k.code}
	switch {
	case k.code == fieldDuplicate:
		fe.Message = name + ": given twice"
	case k.hint != "":
		fe.Message = name + ": unknown field (field names are case-sensitive: " + joinPath(parent, k.hint) + ")"
	default:
		fe.Message = name + ": unknown field"
	}
	return fe, true
}

type keyChecker struct {
	b []byte
	i int
	// On a refused key: its code, the field it may have meant (another case), and the path to it,
	// innermost step first (each level adds its own as the walk unwinds).
	code  string
	hint  string
	steps []pathStep
}

// pathStep is one step of a JSON path: a key, or an index.
type pathStep struct {
	key     string
	index   int
	isIndex bool
}

func joinSteps(steps []pathStep) string {
	var b strings.Builder
	for _, st := range steps {
		if st.isIndex {
			b.WriteString("[" + strconv.Itoa(st.index) + "]")
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('.')
		}
		b.WriteString(st.key)
	}
	return b.String()
}

func (k *keyChecker) failed() bool { return k.code != "" }

func (k *keyChecker) space() {
	for k.i < len(k.b) {
		switch k.b[k.i] {
		case ' ', '\t', '\n', '\r':
			k.i++
		default:
			return
		}
	}
}

// value walks one JSON value at k.i, checking its keys against s (nil: anything goes).
func (k *keyChecker) value(s *keySchema) {
	k.space()
	if k.i >= len(k.b) {
		return
	}
	switch k.b[k.i] {
	case '{':
		k.object(s)
	case '[':
		k.i++
		var elem *keySchema
		if s != nil {
			elem = s.elem
		}
		for n := 0; ; n++ {
			k.space()
			if k.i >= len(k.b) {
				return
			}
			if k.b[k.i] == ']' {
				k.i++
				return
			}
			if k.b[k.i] == ',' {
				k.i++
			}
			if k.value(elem); k.failed() {
				k.steps = append(k.steps, pathStep{index: n, isIndex: true})
				return
			}
		}
	case '"':
		k.str()
	default: // a number, true, false or null
		for k.i < len(k.b) {
			switch k.b[k.i] {
			case ',', '}', ']', ' ', '\t', '\n', '\r':
				return
			}
			k.i++
		}
	}
}

func (k *keyChecker) object(s *keySchema) {
	k.i++ // {
	var stack [16][]byte
	seen := stack[:0]
	for {
		k.space()
		if k.i >= len(k.b) {
			return
		}
		switch k.b[k.i] {
		case '}':
			k.i++
			return
		case ',':
			k.i++
			continue
		}
		key := k.str()
		k.space()
		k.i++ // :
		escaped := bytes.IndexByte(key, '\\') >= 0
		for _, prev := range seen {
			if bytes.Equal(prev, key) || (escaped || bytes.IndexByte(prev, '\\') >= 0) && unquote(prev) == unquote(key) {
				k.code, k.steps = fieldDuplicate, append(k.steps, pathStep{key: unquote(key)})
				return
			}
		}
		seen = append(seen, key)
		var sub *keySchema
		switch {
		case s == nil, s.fields == nil && !s.isMap:
			// not checked: a leaf or a type of its own
		case s.isMap:
			sub = s.elem
		default:
			var ok bool
			if !escaped {
				sub, ok = s.fields[string(key)] // no allocation
			} else {
				sub, ok = s.fields[unquote(key)]
			}
			if !ok {
				k.code, k.steps = fieldUnknown, append(k.steps, pathStep{key: unquote(key)})
				for f := range s.fields {
					if strings.EqualFold(f, unquote(key)) {
						k.hint = f
						break
					}
				}
				return
			}
		}
		if k.value(sub); k.failed() {
			k.steps = append(k.steps, pathStep{key: unquote(key)})
			return
		}
	}
}

// str skips the JSON string at k.i and returns its raw content, between the quotes.
func (k *keyChecker) str() []byte {
	k.i++ // "
	start := k.i
	for k.i < len(k.b) {
		switch k.b[k.i] {
		case '\\':
			k.i += 2
			continue
		case '"':
			k.i++
			return k.b[start : k.i-1]
		}
		k.i++
	}
	return k.b[start:]
}

// unquote is the value of a JSON string's raw content.
func unquote(raw []byte) string {
	if bytes.IndexByte(raw, '\\') < 0 {
		return string(raw)
	}
	var s string
	if err := json.Unmarshal(append(append([]byte{'"'}, raw...), '"'), &s); err != nil {
		return string(raw)
	}
	return s
}
