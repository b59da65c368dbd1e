package http

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/metropolis/csc/domain"
)

// TokenIssuer is the "iss" claim of every CSC token; tokens from another issuer are refused.
const TokenIssuer = "csc"

// MinSecretLen is the shortest token secret accepted (HS256 wants at least 256 bits of key).
const MinSecretLen = 32

// Principal is who a request acts as, taken from its bearer token.
type Principal struct {
	Subject string      // "sub": the member or user id
	Role    domain.Role // "role"
	City    string      // "city": the member's city slug; "" for the other roles
}

// claims is the JWT payload of a CSC token.
type claims struct {
	Role string `json:"role"`
	City string `json:"city,omitempty"`
	jwt.RegisteredClaims
}

// Tokens issues and verifies the bearer tokens of the API: JWTs signed with HS256 carrying sub, role,
// city (members only), iss, iat and exp. It is safe for concurrent use.
//
// Verifying a JWT (base64, JSON, HMAC) costs more than the rest of a small request's handling, and
// clients send the same token again and again: verified tokens are remembered (up to
// verifiedCacheSize, then the memory starts over) until they expire.
type Tokens struct {
	secret []byte
	now    func() time.Time

	mu       sync.RWMutex
	verified map[string]verifiedToken
}

// verifiedCacheSize bounds the number of remembered verified tokens.
const verifiedCacheSize = 4096

type verifiedToken struct {
	p       Principal
	expires time.Time
}

// NewTokens returns a token issuer and verifier for secret (at least MinSecretLen bytes). now is the
// clock for iat and exp; nil means time.Now.
func NewTokens(secret []byte, now func() time.Time) (*Tokens, error) {
	if len(secret) < MinSecretLen {
		return nil, fmt.Errorf("new tokens: the secret has %d bytes, at least %d are needed", len(secret), MinSecretLen)
	}
	if now == nil {
		now = time.Now
	}
	return &Tokens{secret: append([]byte(nil), secret...), now: now, verified: make(map[string]verifiedToken)}, nil
}

// CheckPrincipal reports whether p can be put in a token: a known role, a subject, and a city (a
// slug) for members only.
func CheckPrincipal(p Principal) error {
	switch p.Role {
	case domain.RoleMember:
		if !domain.IsSlug(p.City) {
			return fmt.Errorf("a member token needs a city slug, got %q", p.City)
		}
	case domain.RoleCoordinator, domain.RoleAuditor, domain.RoleAdmin:
		if p.City != "" {
			return fmt.Errorf("only member tokens carry a city (role %s)", p.Role)
		}
	default:
		return fmt.Errorf("unknown role %q (want member, coordinator, auditor or admin)", p.Role)
	}
	if strings.TrimSpace(p.Subject) == "" {
		return errors.New("a token needs a subject")
	}
	return nil
}

// Issue returns a signed token for p that expires after ttl.
func (t *Tokens) Issue(p Principal, ttl time.Duration) (string, error) {
	if err := CheckPrincipal(p); err != nil {
		return "", fmt.Errorf("issue token: %w", err)
	}
	if ttl <= 0 {
		return "", fmt.Errorf("issue token: the lifetime must be positive, got %v", ttl)
	}
	now := t.now()
	c := claims{
		Role: string(p.Role),
		City: p.City,
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    TokenIssuer,
			Subject:   p.Subject,
			IssuedAt:  jwt.NewNumericDate(now),
			ExpiresAt: jwt.NewNumericDate(now.Add(ttl)),
		},
	}
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString(t.secret)
	if err != nil {
		return "", fmt.Errorf("issue token: %w", err)
	}
	return s, nil
}

// Verify checks a token's signature (HS256 only), issuer and expiry, and returns its principal.
func (t *Tokens) Verify(token string) (Principal, error) {
	t.mu.RLock()
	v, ok := t.verified[token]
	t.mu.RUnlock()
	if ok {
		if t.now().Before(v.expires) {
			return v.p, nil
		}
		t.mu.Lock()
		delete(t.verified, token)
		t.mu.Unlock()
	}
	p, expires, err := t.verify(token)
	if err != nil {
		return Principal{}, err
	}
	t.mu.Lock()
	if len(t.verified) >= verifiedCacheSize {
		clear(t.verified)
	}
	t.verified[token] = verifiedToken{p: p, expires: expires}
	t.mu.Unlock()
	return p, nil
}

// verify checks a token in full and returns its principal and expiry.
func (t *Tokens) verify(token string) (Principal, time.Time, error) {
	var c claims
	_, err := jwt.ParseWithClaims(token, &c, func(*jwt.Token) (any, error) { return t.secret, nil },
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
		jwt.WithIssuer(TokenIssuer),
		jwt.WithExpirationRequired(),
		jwt.WithTimeFunc(t.now),
	)
	if err != nil {
		return Principal{}, time.Time{}, fmt.Errorf("verify token: %w", err)
	}
	p := Principal{Subject: c.Subject, Role: domain.Role(c.Role), City: c.City}
	if err := CheckPrincipal(p); err != nil {
		return Principal{}, time.Time{}, fmt.Errorf("verify token: %w", err)
	}
	return p, c.ExpiresAt.Time, nil
}

// principalKey is the context key of the request's Principal.
type principalKey struct{}

func withPrincipal(ctx context.Context, p Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// principalFrom returns the request's principal; ok is false on a public route.
func principalFrom(ctx context.Context) (Principal, bool) {
	if info := infoFrom(ctx); info != nil && info.authenticated {
		return info.principal, true
	}
	p, ok := ctx.Value(principalKey{}).(Principal)
	return p, ok
}

// access is who may call a route (before the domain's own checks on writes).
type access int

const (
	// public routes need no token (health, readiness, metrics, the OpenAPI document).
	public access = iota
	// anyRole routes need a valid token of any role: every read of the read models, and every write
	// (whose command the domain then authorises: Authorize, then the decider with the item's city).
	anyRole
	// logReaders routes expose the raw event log: auditors, coordinators and admins.
	logReaders
)

// allows reports whether a principal with role may call a route with access a.
func (a access) allows(role domain.Role) bool {
	switch a {
	case public, anyRole:
		return true
	case logReaders:
		return role == domain.RoleAuditor || role == domain.RoleCoordinator || role == domain.RoleAdmin
	}
	return false
}

// authenticate returns the middleware that checks the bearer token of a route with access a: no or a
// bad token is 401 (with WWW-Authenticate), a role the route does not allow is 403.
func (s *Server) authenticate(a access, next http.Handler) http.Handler {
	if a == public {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		token, ok := bearer(r.Header.Get("Authorization"))
		if !ok {
			s.problem(w, r, errUnauthorized("a bearer token is required: Authorization: Bearer <token>"))
			return
		}
		p, err := s.tokens.Verify(token)
		if err != nil {
			s.problem(w, r, errUnauthorized("the bearer token is not valid: "+tokenFault(err)))
			return
		}
		setLogSubject(r.Context(), p)
		if !a.allows(p.Role) {
			s.problem(w, r, &requestError{status: http.StatusForbidden, code: "forbidden",
				detail: fmt.Sprintf("role %s may not read the raw event log", p.Role)})
			return
		}
		if info := infoFrom(r.Context()); info != nil {
			// The request's info carries the principal: no copy of the request for a context value.
			info.principal, info.authenticated = p, true
			next.ServeHTTP(w, r)
			return
		}
		next.ServeHTTP(w, r.WithContext(withPrincipal(r.Context(), p)))
	})
}

// bearer extracts the token of an "Authorization: Bearer <token>" header (the scheme is case-insensitive).
func bearer(header string) (string, bool) {
	scheme, token, ok := strings.Cut(header, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	token = strings.TrimSpace(token)
	return token, token != ""
}

// tokenFault names what is wrong with a token without echoing it.
func tokenFault(err error) string {
	switch {
	case errors.Is(err, jwt.ErrTokenExpired):
		return "it has expired"
	case errors.Is(err, jwt.ErrTokenSignatureInvalid), errors.Is(err, jwt.ErrTokenUnverifiable):
		return "its signature does not verify"
	case errors.Is(err, jwt.ErrTokenMalformed):
		return "it is malformed"
	case errors.Is(err, jwt.ErrTokenInvalidIssuer):
		return "it was not issued by csc"
	}
	return "its claims are not acceptable"
}
