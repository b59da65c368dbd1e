package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"

	"github.com/metropolis/csc/domain"
	"github.com/metropolis/csc/eventstore"
	cschttp "github.com/metropolis/csc/http"
)

// Files in the data folder.
const (
	secretFile = "token-secret" // the HS256 key, made once (mode 0600) unless CSC_TOKEN_SECRET is set
	tokensFile = "tokens.json"  // the first start's tokens (mode 0600)
	lockFile   = "serve.lock"   // locked by the running csc serve on EventStoreDB (a SQLite store's is <file>.lock)
)

// FirstStartTokenTTL is the lifetime of the tokens written to tokens.json.
const FirstStartTokenTTL = 365 * 24 * time.Hour

// Who the server acts as when it launches the collaboratory (recorded in the launch event's metadata).
const systemActor = "csc-serve"

// pilotName and pilotPhase describe the pilot collaboratory launched on first start.
const (
	pilotName  = "Cities Sustainability Collaboratory"
	pilotPhase = "2018-2020"
)

// launchCommandID is the command ID of the pilot's launch: fixed, so that two servers starting at once
// on one empty store launch it once.
func launchCommandID(slug string) uuid.UUID {
	return uuid.NewSHA1(uuid.NameSpaceURL, []byte("urn:csc:launch:"+slug))
}

// launchPilot launches the pilot collaboratory with the seven founding cities unless it is launched
// already. It reports whether it launched it now.
func launchPilot(ctx context.Context, collab *cschttp.CollaboratoryEngine, now time.Time) (bool, error) {
	return launchPilotAt(ctx, collab, now, false)
}

// launchPilotAt is launchPilot deciding at now; with backdated, the launch is also recorded as having
// happened at now (eventstore.Command.Recorded), not when the store commits it: the start of the
// demo's history (demoLaunch).
func launchPilotAt(ctx context.Context, collab *cschttp.CollaboratoryEngine, now time.Time, backdated bool) (bool, error) {
	stream := domain.CollaboratoryStream(domain.PilotSlug)
	st, _, _, err := collab.Load(ctx, stream)
	if err != nil {
		return false, fmt.Errorf("launch %s: %w", stream, err)
	}
	if st.Launched {
		return false, nil
	}
	founding := domain.FoundingCities()
	slugs := make([]string, len(founding))
	for i, c := range founding {
		slugs[i] = c.ID
	}
	cmd := domain.LaunchCollaboratory{Slug: domain.PilotSlug, Name: pilotName, Phase: pilotPhase, FoundingCities: slugs}
	dctx := domain.Context{Now: now, Actor: systemActor, Role: domain.RoleAdmin}
	command := eventstore.Command{
		ID: launchCommandID(domain.PilotSlug), Name: cmd.CommandName(), Actor: systemActor, Role: string(domain.RoleAdmin),
	}
	if backdated {
		command.Recorded = &now
	}
	res, err := collab.Execute(ctx, stream, command, func(st domain.Collaboratory, _ bool) ([]domain.Event, error) {
		return domain.DecideCollaboratory(st, cmd, dctx)
	})
	if err != nil {
		if errors.Is(err, domain.ErrAlreadyExists) {
			return false, nil // another server launched it between Load and Execute
		}
		return false, fmt.Errorf("launch %s: %w", stream, err)
	}
	return !res.Replayed, nil
}

// loadSecret returns the token secret: CSC_TOKEN_SECRET when set, else the content of
// <data>/token-secret, which create makes (32 random bytes, hex) when it does not exist. It also says
// where the secret came from.
// Without create, a missing file is errNoSecret.
func loadSecret(envSecret, dataDir string, create bool) ([]byte, string, error) {
	if envSecret != "" {
		if err := checkEnvSecret(envSecret); err != nil {
			return nil, "", err
		}
		return []byte(envSecret), "CSC_TOKEN_SECRET", nil
	}
	path := filepath.Join(dataDir, secretFile)
	b, err := os.ReadFile(path)
	switch {
	case err == nil:
		secret := strings.TrimSpace(string(b))
		if len(secret) < cschttp.MinSecretLen {
			return nil, "", fmt.Errorf("token secret %s is too short (%d bytes, at least %d)", path, len(secret), cschttp.MinSecretLen)
		}
		return []byte(secret), path, nil
	case !errors.Is(err, fs.ErrNotExist):
		return nil, "", fmt.Errorf("read token secret: %w", err)
	case !create:
		return nil, "", fmt.Errorf("%w: set CSC_TOKEN_SECRET, or run csc serve once with this data folder (%s)", errNoSecret, dataDir)
	}
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return nil, "", fmt.Errorf("make token secret: %w", err)
	}
	secret := hex.EncodeToString(raw)
	if err := writeNew(path, []byte(secret+"\n")); err != nil {
		if errors.Is(err, fs.ErrExist) { // another process made it first: use theirs
			return loadSecret("", dataDir, false)
		}
		return nil, "", fmt.Errorf("write token secret: %w", err)
	}
	return []byte(secret), path, nil
}

// errNoSecret is loadSecret's error when there is no secret and it may not make one.
var errNoSecret = errors.New("no token secret")

// checkEnvSecret checks the secret given in CSC_TOKEN_SECRET.
func checkEnvSecret(secret string) error {
	if len(secret) < cschttp.MinSecretLen {
		return fmt.Errorf("CSC_TOKEN_SECRET has %d bytes; use at least %d (e.g. openssl rand -hex 32)", len(secret), cschttp.MinSecretLen)
	}
	return nil
}

// TokensFile is the content of tokens.json: a token per role and one member token per founding city.
type TokensFile struct {
	Admin       string            `json:"admin"`
	Coordinator string            `json:"coordinator"`
	Auditor     string            `json:"auditor"`
	Members     map[string]string `json:"members"`
}

// tokensMissing is writeTokens's reason for writing tokens.json when there was none.
const tokensMissing = "no tokens file"

// tokenRenewal is how long before their expiry the tokens of tokens.json are replaced at a start.
const tokenRenewal = 24 * time.Hour

// writeTokens writes tokens.json into the data folder (mode 0600) with tokens signed with secret, unless
// it exists and its tokens still verify with secret at now and a day later. It reports why it wrote it:
// "" when it did not, tokensMissing when there was no file, else why the tokens in the file would have
// been refused.
func writeTokens(path string, secret []byte, now func() time.Time) (string, error) {
	tokens, err := cschttp.NewTokens(secret, now)
	if err != nil {
		return "", fmt.Errorf("write tokens: %w", err)
	}
	reason := tokensMissing
	b, err := os.ReadFile(path)
	switch {
	case err == nil:
		later, err := cschttp.NewTokens(secret, func() time.Time { return now().Add(tokenRenewal) })
		if err != nil {
			return "", fmt.Errorf("write tokens: %w", err)
		}
		if reason = staleTokens(b, tokens, later); reason == "" {
			return "", nil
		}
	case !errors.Is(err, fs.ErrNotExist):
		return "", fmt.Errorf("write tokens: %w", err)
	}
	tf := TokensFile{Members: make(map[string]string)}
	for _, h := range tokenHolders() {
		t, err := tokens.Issue(h.p, FirstStartTokenTTL)
		if err != nil {
			return "", err
		}
		tf.setToken(h, t)
	}
	b, err = json.MarshalIndent(tf, "", "  ")
	if err != nil {
		return "", fmt.Errorf("write tokens: %w", err)
	}
	if reason == tokensMissing {
		err = writeNew(path, append(b, '\n'))
		if errors.Is(err, fs.ErrExist) {
			return "", nil
		}
	} else {
		err = writeFile(path, append(b, '\n'), true)
	}
	if err != nil {
		return "", fmt.Errorf("write tokens: %w", err)
	}
	return reason, nil
}

// tokenHolder is the holder of a token of tokens.json.
type tokenHolder struct {
	name string // for messages
	p    cschttp.Principal
}

// tokenHolders are the holders of the tokens of tokens.json: the admin, the coordinator, the auditor
// and a member of each founding city.
func tokenHolders() []tokenHolder {
	hs := []tokenHolder{
		{"admin", cschttp.Principal{Subject: "admin", Role: domain.RoleAdmin}},
		{"coordinator", cschttp.Principal{Subject: "coordinator", Role: domain.RoleCoordinator}},
		{"auditor", cschttp.Principal{Subject: "auditor", Role: domain.RoleAuditor}},
	}
	for _, c := range domain.FoundingCities() {
		hs = append(hs, tokenHolder{c.ID + " member", cschttp.Principal{Subject: memberSubject(c.ID), Role: domain.RoleMember, City: c.ID}})
	}
	return hs
}

// token returns h's token in tf ("" when there is none).
func (tf *TokensFile) token(h tokenHolder) string {
	switch h.p.Role {
	case domain.RoleAdmin:
		return tf.Admin
	case domain.RoleCoordinator:
		return tf.Coordinator
	case domain.RoleAuditor:
		return tf.Auditor
	}
	return tf.Members[h.p.City]
}

// setToken sets h's token in tf.
func (tf *TokensFile) setToken(h tokenHolder, token string) {
	switch h.p.Role {
	case domain.RoleAdmin:
		tf.Admin = token
	case domain.RoleCoordinator:
		tf.Coordinator = token
	case domain.RoleAuditor:
		tf.Auditor = token
	default:
		if tf.Members == nil {
			tf.Members = make(map[string]string)
		}
		tf.Members[h.p.City] = token
	}
}

// staleTokens says why the tokens.json content b would be refused (a token missing, signed with
// another secret, expired, or expiring within tokenRenewal: later verifies at that time), or "" when
// every token verifies and is the holder's.
func staleTokens(b []byte, tokens, later *cschttp.Tokens) string {
	var tf TokensFile
	if err := json.Unmarshal(b, &tf); err != nil {
		return fmt.Sprintf("it is not a tokens file (%v)", err)
	}
	for _, w := range tokenHolders() {
		t := tf.token(w)
		if t == "" {
			return "it has no " + w.name + " token"
		}
		p, err := tokens.Verify(t)
		switch {
		case errors.Is(err, jwt.ErrTokenSignatureInvalid):
			return "its tokens are signed with another secret (CSC_TOKEN_SECRET or " + secretFile + " changed)"
		case errors.Is(err, jwt.ErrTokenExpired):
			return "its tokens have expired"
		case err != nil:
			return fmt.Sprintf("the %s token is refused: %v", w.name, err)
		case p != w.p:
			return fmt.Sprintf("the %s token is for %s (role %s, city %q)", w.name, p.Subject, p.Role, p.City)
		}
		if _, err := later.Verify(t); err != nil {
			return "its tokens expire within " + tokenRenewal.String()
		}
	}
	return ""
}

// memberSubject is the subject of the member token of a city made by csc serve and csc token issue.
func memberSubject(city string) string { return "member-" + city }

// writeNew creates path with mode 0600 and content b; it fails with fs.ErrExist when path exists.
func writeNew(path string, b []byte) error { return writeFile(path, b, false) }

// writeFile writes b into path with mode 0600: a new file, failing with fs.ErrExist when path exists,
// or with replace, in place of the file at path. The content is written to a temporary file first and
// linked (or renamed) into place, so that no reader ever sees a half-written file.
func writeFile(path string, b []byte, replace bool) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if replace {
		return os.Rename(tmp.Name(), path)
	}
	return os.Link(tmp.Name(), path)
}
