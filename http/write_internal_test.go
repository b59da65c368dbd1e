package http

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"strings"
	"testing"

	"github.com/metropolis/csc/domain"
)

// TestRequestDigest: the digest of a write is the SHA-256 of route, path, subject, role and city (each
// followed by a zero byte) and of json.Marshal of the decoded request, whatever the scratch buffer
// held before; requests that differ in any of these differ in digest.
func TestRequestDigest(t *testing.T) {
	member := Principal{Subject: "m-1", Role: domain.RoleMember, City: "berlin"}
	coord := Principal{Subject: "c-1", Role: domain.RoleCoordinator}
	pct := 40
	cases := []struct {
		name        string
		route, path string
		p           Principal
		req         any
	}{
		{"empty", "approveItem", "/v1/roadmap-items/x/approve", coord, &EmptyRequest{}},
		{"update", "submitUpdate", "/v1/roadmap-items/x/updates", member, &UpdateRequest{ProgressPercent: &pct,
			Narrative: "<b>&\u2028 \"quoted\" städte", MilestonesReached: []string{"m1"}}},
		{"other path", "submitUpdate", "/v1/roadmap-items/y/updates", member, &UpdateRequest{ProgressPercent: &pct,
			Narrative: "<b>&\u2028 \"quoted\" städte", MilestonesReached: []string{"m1"}}},
		{"proposal", "proposeItem", "/v1/roadmap-items", member, &ProposeRequest{City: "berlin",
			ItemFields: domain.ItemFields{Title: strings.Repeat("t", 3000), Theme: domain.ThemeEcology}}},
		{"other actor", "proposeItem", "/v1/roadmap-items", coord, &ProposeRequest{City: "berlin",
			ItemFields: domain.ItemFields{Title: strings.Repeat("t", 3000), Theme: domain.ThemeEcology}}},
	}
	seen := map[string]string{}
	buf := bytes.NewBufferString("left over from an earlier request")
	for _, c := range cases {
		canonical, err := json.Marshal(c.req)
		if err != nil {
			t.Fatal(err)
		}
		h := sha256.New()
		for _, part := range []string{c.route, c.path, c.p.Subject, string(c.p.Role), c.p.City} {
			h.Write([]byte(part))
			h.Write([]byte{0})
		}
		h.Write(canonical)
		want := hex.EncodeToString(h.Sum(nil))
		got, err := requestDigest(buf, c.route, c.path, c.p, c.req)
		if err != nil || got != want {
			t.Errorf("%s: requestDigest = %q, %v; want %q", c.name, got, err, want)
		}
		if other, dup := seen[got]; dup {
			t.Errorf("%s and %s have the same digest", c.name, other)
		}
		seen[got] = c.name
	}
}
