package http

import (
	"reflect"
	"testing"
)

func TestCheckKeys(t *testing.T) {
	var keys keySchemas
	schema := keys.of(reflect.TypeFor[UpdateRequest]())
	for _, c := range []struct {
		name, body  string
		field, code string // "": accepted
	}{
		{"exact keys", `{"narrative":"n","milestonesReached":["m1"],"evidence":[{"uri":"https://x","sha256":"ab"}],"measurement":{"value":1,"period":"2026-01"}}`, "", ""},
		{"an escaped key is its value", `{"n\u0061rrative":"n"}`, "", ""},
		{"keys inside a string value are not keys", `{"narrative":"{\"Narrative\":1,\"narrative\":2}"}`, "", ""},
		{"whitespace everywhere", " {\n\t\"narrative\" :\r\"n\" , \"evidence\" : [ { \"uri\" : \"u\" } ] } ", "", ""},
		{"another case", `{"Narrative":"n"}`, "Narrative", fieldUnknown},
		{"another case, in an array's object", `{"evidence":[{"uri":"u"},{"URI":"u"}]}`, "evidence[1].URI", fieldUnknown},
		{"twice", `{"narrative":"a","narrative":"b"}`, "narrative", fieldDuplicate},
		{"twice, once escaped", `{"narrative":"a","n\u0061rrative":"b"}`, "narrative", fieldDuplicate},
		{"twice, nested", `{"measurement":{"value":1,"value":2}}`, "measurement.value", fieldDuplicate},
		{"the same key in two objects", `{"evidence":[{"uri":"a"},{"uri":"b"}]}`, "", ""},
	} {
		fe, bad := checkKeys([]byte(c.body), schema)
		switch {
		case c.field == "" && bad:
			t.Errorf("%s: want accepted, got %+v", c.name, fe)
		case c.field != "" && (!bad || fe.Field != c.field || fe.Code != c.code):
			t.Errorf("%s: want {%s %s}, got %+v (refused: %v)", c.name, c.field, c.code, fe, bad)
		}
	}
}

// TestCheckKeysAllocatesNothing: the check runs on every write; a body it accepts costs no allocation.
func TestCheckKeysAllocatesNothing(t *testing.T) {
	var keys keySchemas
	schema := keys.of(reflect.TypeFor[UpdateRequest]())
	body := []byte(`{"progressPercent":40,"narrative":"n","milestonesReached":["m1","m2"],"evidence":[{"uri":"https://x","sha256":"ab"}],"measurement":{"value":1,"period":"2026-01"}}`)
	if n := testing.AllocsPerRun(100, func() {
		if _, bad := checkKeys(body, schema); bad {
			t.Fatal("refused")
		}
	}); n != 0 {
		t.Fatalf("checkKeys of a good body: %v allocations, want 0", n)
	}
}
