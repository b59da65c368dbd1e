package domain

import (
	"encoding/json"
	"testing"
	"time"
)

func TestDate(t *testing.T) {
	for _, tc := range []struct {
		in   string
		ok   bool
		want Date
	}{
		{"2026-11-28", true, Date{2026, time.November, 28}},
		{"2024-02-29", true, Date{2024, time.February, 29}},
		{"2000-02-29", true, Date{2000, time.February, 29}},
		{"1900-02-29", false, Date{}},
		{"2026-04-31", false, Date{}},
		{"2026-13-01", false, Date{}},
		{"2026-00-10", false, Date{}},
		{"0000-01-01", false, Date{}},
		{"2026-1-01", false, Date{}},
		{"2026/01/01", false, Date{}},
		{"2026-01-01T00:00:00Z", false, Date{}},
		{"20x6-01-01", false, Date{}},
	} {
		got, err := ParseDate(tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("ParseDate(%q) = %v, %v", tc.in, got, err)
		}
		if tc.ok && got.String() != tc.in {
			t.Errorf("String() = %q, want %q", got.String(), tc.in)
		}
	}
	a, b := d("2026-01-31"), d("2026-02-01")
	if !a.Before(b) || !b.After(a) || a.Compare(a) != 0 || d("2025-12-31").Compare(a) != -1 || a.Compare(d("2025-12-31")) != 1 {
		t.Fatal("ordering")
	}
	if a.Time() != time.Date(2026, 1, 31, 0, 0, 0, 0, time.UTC) || DateOf(a.Time().Add(23*time.Hour)) != a {
		t.Fatal("Time / DateOf")
	}
	if (Date{}).String() != "" || !(Date{}).IsZero() || a.IsZero() {
		t.Fatal("zero")
	}
	if got := NewDate(5, time.March, 7).String(); got != "0005-03-07" {
		t.Fatalf("padding: %q", got)
	}
}

func TestDate_JSON(t *testing.T) {
	type doc struct {
		D Date  `json:"d"`
		P *Date `json:"p,omitempty"`
	}
	data, err := json.Marshal(doc{D: d("2026-11-28")})
	if err != nil || string(data) != `{"d":"2026-11-28"}` {
		t.Fatalf("marshal: %s %v", data, err)
	}
	var got doc
	if err := json.Unmarshal([]byte(`{"d":"2026-11-28","p":"2027-01-02"}`), &got); err != nil ||
		got.D != d("2026-11-28") || *got.P != d("2027-01-02") {
		t.Fatalf("unmarshal: %+v %v", got, err)
	}
	for _, in := range []string{`{"d":""}`, `{"d":null}`} {
		got = doc{D: d("2020-01-01")}
		if err := json.Unmarshal([]byte(in), &got); err != nil || !got.D.IsZero() {
			t.Fatalf("%s: %+v %v", in, got, err)
		}
	}
	for _, in := range []string{`{"d":20261128}`, `{"d":"2026-02-30"}`, `{"d":"28/11/2026"}`} {
		if err := json.Unmarshal([]byte(in), &got); err == nil {
			t.Fatalf("%s accepted", in)
		}
	}
	if data, _ := json.Marshal(doc{}); string(data) != `{"d":""}` {
		t.Fatalf("zero: %s", data)
	}
}
