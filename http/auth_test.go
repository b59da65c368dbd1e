package http_test

import (
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/metropolis/csc/domain"
	cschttp "github.com/metropolis/csc/http"
)

func TestTokens(t *testing.T) {
	now := time.Date(2026, 3, 14, 9, 30, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	tokens, err := cschttp.NewTokens([]byte(testSecret), clock)
	if err != nil {
		t.Fatal(err)
	}
	other, err := cschttp.NewTokens([]byte(strings.Repeat("x", 40)), clock)
	if err != nil {
		t.Fatal(err)
	}
	later, err := cschttp.NewTokens([]byte(testSecret), func() time.Time { return now.Add(2 * time.Hour) })
	if err != nil {
		t.Fatal(err)
	}
	member := cschttp.Principal{Subject: "ana", Role: domain.RoleMember, City: "berlin"}
	good, err := tokens.Issue(member, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if p, err := tokens.Verify(good); err != nil || p != member {
		t.Fatalf("verify a good token: %+v, %v", p, err)
	}

	sign := func(method jwt.SigningMethod, key any, claims jwt.MapClaims) string {
		s, err := jwt.NewWithClaims(method, claims).SignedString(key)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	exp := now.Add(time.Hour).Unix()
	cases := []struct {
		name     string
		verifier *cschttp.Tokens
		token    string
	}{
		{"other secret", other, good},
		{"expired", later, good},
		{"alg none", tokens, sign(jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType,
			jwt.MapClaims{"sub": "x", "role": "admin", "iss": "csc", "exp": exp})},
		{"HS512", tokens, sign(jwt.SigningMethodHS512, []byte(testSecret), jwt.MapClaims{"sub": "x", "role": "admin", "iss": "csc", "exp": exp})},
		{"other issuer", tokens, sign(jwt.SigningMethodHS256, []byte(testSecret), jwt.MapClaims{"sub": "x", "role": "admin", "iss": "evil", "exp": exp})},
		{"no expiry", tokens, sign(jwt.SigningMethodHS256, []byte(testSecret), jwt.MapClaims{"sub": "x", "role": "admin", "iss": "csc"})},
		{"unknown role", tokens, sign(jwt.SigningMethodHS256, []byte(testSecret), jwt.MapClaims{"sub": "x", "role": "root", "iss": "csc", "exp": exp})},
		{"member without city", tokens, sign(jwt.SigningMethodHS256, []byte(testSecret), jwt.MapClaims{"sub": "x", "role": "member", "iss": "csc", "exp": exp})},
		{"coordinator with city", tokens, sign(jwt.SigningMethodHS256, []byte(testSecret), jwt.MapClaims{"sub": "x", "role": "coordinator", "city": "berlin", "iss": "csc", "exp": exp})},
		{"no subject", tokens, sign(jwt.SigningMethodHS256, []byte(testSecret), jwt.MapClaims{"role": "admin", "iss": "csc", "exp": exp})},
		{"garbage", tokens, "not.a.token"},
		{"tampered", tokens, good[:len(good)-2] + "xx"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if p, err := c.verifier.Verify(c.token); err == nil {
				t.Errorf("verified as %+v", p)
			}
		})
	}

	t.Run("issue refuses", func(t *testing.T) {
		for _, p := range []cschttp.Principal{
			{Subject: "x", Role: "root"},
			{Subject: "x", Role: domain.RoleMember},
			{Subject: "x", Role: domain.RoleMember, City: "Not A Slug"},
			{Subject: "x", Role: domain.RoleAuditor, City: "berlin"},
			{Subject: " ", Role: domain.RoleAdmin},
		} {
			if _, err := tokens.Issue(p, time.Hour); err == nil {
				t.Errorf("issued a token for %+v", p)
			}
		}
		if _, err := tokens.Issue(member, 0); err == nil {
			t.Error("issued a token with no lifetime")
		}
	})
	if _, err := cschttp.NewTokens([]byte("short"), nil); err == nil {
		t.Error("accepted a 5-byte secret")
	}

	// A verified token is remembered, but not past its expiry.
	moving := now
	tk, err := cschttp.NewTokens([]byte(testSecret), func() time.Time { return moving })
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if _, err := tk.Verify(good); err != nil {
			t.Fatalf("verify before expiry: %v", err)
		}
	}
	moving = now.Add(time.Hour + time.Second)
	if p, err := tk.Verify(good); err == nil {
		t.Errorf("a remembered token verified after its expiry as %+v", p)
	}
}

// TestUnauthorized: a missing, malformed or foreign token is 401 with WWW-Authenticate, appending
// nothing.
func TestUnauthorized(t *testing.T) {
	ts := startServer(t, "")
	foreign, err := cschttp.NewTokens([]byte(strings.Repeat("f", 40)), nil)
	if err != nil {
		t.Fatal(err)
	}
	fake, err := foreign.Issue(cschttp.Principal{Subject: "mallory", Role: domain.RoleAdmin}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	for name, auth := range map[string]string{
		"none": "", "basic": "Basic YWxhZGRpbjpvcGVuc2VzYW1l", "empty bearer": "Bearer ", "garbage": "Bearer abc",
		"foreign secret": "Bearer " + fake,
	} {
		t.Run(name, func(t *testing.T) {
			ts := ts.with(t)
			before := ts.head()
			r := ts.do(req{method: "POST", path: "/v1/roadmap-items", body: proposal("berlin"), header: map[string]string{"Authorization": auth}})
			if r.status != 401 || r.header.Get("WWW-Authenticate") == "" {
				t.Fatalf("status %d, WWW-Authenticate %q", r.status, r.header.Get("WWW-Authenticate"))
			}
			if p := r.problem(t); p.Type != cschttp.ProblemTypePrefix+cschttp.ProblemUnauthorized {
				t.Errorf("problem type %s", p.Type)
			}
			if ts.head() != before {
				t.Error("an unauthorised request appended events")
			}
		})
	}
}
