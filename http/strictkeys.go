package http

import (
	"encoding/json"
	"reflect"
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
// exact name, or that its object repeats.
func checkKeys(body []byte, s *keySchema) (domain.FieldError, bool) {
	k := keyChecker{b: body}
	k.value(s, "")
	return k.err, k.failed
}

type keyChecker struct {
	b      []byte
	i      int
	err    domain.FieldError
	failed bool
}

func (k *keyChecker) fail(fe domain.FieldError) {
	if !k.failed {
		k.err, k.failed = fe, true
	}
}

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
func (k *keyChecker) value(s *keySchema, path string) {
	k.space()
	if k.failed || k.i >= len(k.b) {
		return
	}
	switch k.b[k.i] {
	case '{':
		k.object(s, path)
	case '[':
		k.i++
		var elem *keySchema
		if s != nil {
			elem = s.elem
		}
		for n := 0; ; n++ {
			k.space()
			if k.failed || k.i >= len(k.b) {
				return
			}
			if k.b[k.i] == ']' {
				k.i++
				return
			}
			if k.b[k.i] == ',' {
				k.i++
			}
			k.value(elem, path+"["+strconv.Itoa(n)+"]")
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

func (k *keyChecker) object(s *keySchema, path string) {
	k.i++ // {
	var seen []string
	for {
		k.space()
		if k.failed || k.i >= len(k.b) {
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
		name := joinPath(path, key)
		for _, prev := range seen {
			if prev == key {
				k.fail(domain.FieldError{Field: name, Code: fieldDuplicate, Message: name + ": given twice"})
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
			if sub, ok = s.fields[key]; !ok {
				msg := name + ": unknown field"
				for f := range s.fields {
					if strings.EqualFold(f, key) {
						msg += " (field names are case-sensitive: " + joinPath(path, f) + ")"
						break
					}
				}
				k.fail(domain.FieldError{Field: name, Code: fieldUnknown, Message: msg})
				return
			}
		}
		k.value(sub, name)
	}
}

// str reads the JSON string at k.i and returns its value.
func (k *keyChecker) str() string {
	start := k.i
	k.i++ // "
	escaped := false
	for k.i < len(k.b) {
		switch k.b[k.i] {
		case '\\':
			escaped = true
			k.i += 2
			continue
		case '"':
			k.i++
			raw := k.b[start:k.i]
			if !escaped {
				return string(raw[1 : len(raw)-1])
			}
			var s string
			if err := json.Unmarshal(raw, &s); err != nil {
				return string(raw)
			}
			return s
		}
		k.i++
	}
	return ""
}
