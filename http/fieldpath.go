package http

import (
	"encoding/json"
	"maps"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"github.com/metropolis/csc/domain"
)

// The codes of request-body field errors the HTTP layer finds itself (the domain's codes, such as
// domain.FieldFormat, are used where they fit).
const (
	fieldUnknown = "unknown_field" // a key no field of the request has
	fieldType    = "type"          // a value of the wrong JSON type
)

var unmarshalerType = reflect.TypeFor[json.Unmarshaler]()

// locateField finds the first value of raw (JSON for a value of type t) that encoding/json refuses
// without naming its field: a key that is not a field (at any depth), or a value whose own decoder
// refused it (a date that is not YYYY-MM-DD). It returns the field's full JSON path, e.g.
// "milestones[0].due", under path. Keys are visited in sorted order, so the answer is stable.
func locateField(raw json.RawMessage, t reflect.Type, path string) (domain.FieldError, bool) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if reflect.PointerTo(t).Implements(unmarshalerType) {
		if err := json.Unmarshal(raw, reflect.New(t).Interface()); err != nil {
			name := orBody(path)
			return domain.FieldError{Field: name, Code: domain.FieldFormat, Message: name + ": " + err.Error()}, true
		}
		return domain.FieldError{}, false
	}
	switch t.Kind() {
	case reflect.Struct:
		var obj map[string]json.RawMessage
		if json.Unmarshal(raw, &obj) != nil {
			return domain.FieldError{}, false // not an object: a type error, reported as such
		}
		fields := jsonFields(t)
		for _, key := range slices.Sorted(maps.Keys(obj)) {
			ft, ok := fields[key]
			if !ok {
				name := joinPath(path, key)
				return domain.FieldError{Field: name, Code: fieldUnknown, Message: name + ": unknown field"}, true
			}
			if fe, ok := locateField(obj[key], ft, joinPath(path, key)); ok {
				return fe, true
			}
		}
	case reflect.Slice, reflect.Array:
		var items []json.RawMessage
		if json.Unmarshal(raw, &items) != nil {
			return domain.FieldError{}, false
		}
		for i, item := range items {
			if fe, ok := locateField(item, t.Elem(), path+"["+strconv.Itoa(i)+"]"); ok {
				return fe, true
			}
		}
	case reflect.Map:
		var obj map[string]json.RawMessage
		if json.Unmarshal(raw, &obj) != nil {
			return domain.FieldError{}, false
		}
		for _, key := range slices.Sorted(maps.Keys(obj)) {
			if fe, ok := locateField(obj[key], t.Elem(), joinPath(path, key)); ok {
				return fe, true
			}
		}
	}
	return domain.FieldError{}, false
}

// jsonFields maps the JSON names of a struct's fields (those of embedded structs without a name of
// their own included) to their types.
func jsonFields(t reflect.Type) map[string]reflect.Type {
	out := map[string]reflect.Type{}
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, _, _ := strings.Cut(tag, ",")
		if f.Anonymous && name == "" {
			ft := f.Type
			if ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct {
				for k, v := range jsonFields(ft) {
					if _, taken := out[k]; !taken {
						out[k] = v
					}
				}
				continue
			}
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		out[name] = f.Type
	}
	return out
}

func joinPath(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func orBody(path string) string {
	if path == "" {
		return "(body)"
	}
	return path
}
