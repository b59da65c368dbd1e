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

	"github.com/google/uuid"

	"github.com/metropolis/csc/domain"
	"github.com/metropolis/csc/eventstore"
	cschttp "github.com/metropolis/csc/http"
)

// Files in the data folder.
const (
	secretFile = "token-secret" // the HS256 key, made once (mode 0600) unless CSC_TOKEN_SECRET is set
	tokensFile = "tokens.json"  // the first start's tokens (mode 0600)
	lockFile   = "serve.lock"   // locked by the running csc serve (lock_unix.go; mode 0600)
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

// writeTokens writes tokens.json into the data folder (mode 0600) unless it exists. It reports
// whether it wrote it.
func writeTokens(path string, tokens *cschttp.Tokens) (bool, error) {
	if _, err := os.Stat(path); err == nil {
		return false, nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return false, fmt.Errorf("write tokens: %w", err)
	}
	issue := func(p cschttp.Principal) (string, error) { return tokens.Issue(p, FirstStartTokenTTL) }
	var (
		tf  = TokensFile{Members: make(map[string]string)}
		err error
	)
	if tf.Admin, err = issue(cschttp.Principal{Subject: "admin", Role: domain.RoleAdmin}); err != nil {
		return false, err
	}
	if tf.Coordinator, err = issue(cschttp.Principal{Subject: "coordinator", Role: domain.RoleCoordinator}); err != nil {
		return false, err
	}
	if tf.Auditor, err = issue(cschttp.Principal{Subject: "auditor", Role: domain.RoleAuditor}); err != nil {
		return false, err
	}
	for _, c := range domain.FoundingCities() {
		t, err := issue(cschttp.Principal{Subject: memberSubject(c.ID), Role: domain.RoleMember, City: c.ID})
		if err != nil {
			return false, err
		}
		tf.Members[c.ID] = t
	}
	b, err := json.MarshalIndent(tf, "", "  ")
	if err != nil {
		return false, fmt.Errorf("write tokens: %w", err)
	}
	if err := writeNew(path, append(b, '\n')); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return false, nil
		}
		return false, fmt.Errorf("write tokens: %w", err)
	}
	return true, nil
}

// memberSubject is the subject of the member token of a city made by csc serve and csc token issue.
func memberSubject(city string) string { return "member-" + city }

// writeNew creates path with mode 0600 and content b; it fails with fs.ErrExist when path exists. The
// content is written to a temporary file first and linked into place, so that no reader ever sees a
// half-written file.
func writeNew(path string, b []byte) error {
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
	return os.Link(tmp.Name(), path)
}
