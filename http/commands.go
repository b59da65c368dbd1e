package http

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/google/uuid"

	"github.com/metropolis/csc/domain"
	"github.com/metropolis/csc/eventstore"
)

// WriteResult is the body of every successful write: the ID of what was written (the item, city or
// member), the stream revision of its last event (also the ETag) and the $all position of that event
// (also CSC-Position). UpdateID names the roadmap update a submit created.
type WriteResult struct {
	ID       string `json:"id"`
	UpdateID string `json:"updateId,omitempty"`
	Revision uint64 `json:"revision"`
	Position string `json:"position"`
}

// write is one write request being turned into a command.
type write struct {
	principal Principal
	id        uuid.UUID // the command ID
	madeID    bool      // id was made for this request (no Idempotency-Key)
	hash      string    // digest of route, path, actor and canonical body
	ifRev     *uint64   // If-Match
}

// prepareWrite does what every write does before its command runs: it refuses a role that may never
// give the command (403, before anything else is looked at), decodes the body into req, and takes the
// command ID (Idempotency-Key), If-Match and the request's digest. route is the route's name: keys that
// are not UUIDs are namespaced by it.
func (s *Server) prepareWrite(w http.ResponseWriter, r *http.Request, route, command string, req any, optionalBody bool) (write, error) {
	p, _ := principalFrom(r.Context())
	if err := domain.Authorize(s.decisionContext(p), command, ""); err != nil {
		return write{}, err
	}
	buf := s.buffers.get()
	defer s.buffers.put(buf)
	if _, err := decodeBody(w, r, req, optionalBody, buf, &s.keys); err != nil {
		return write{}, err
	}
	id, made, err := s.commandID(r, route)
	if err != nil {
		return write{}, err
	}
	ifRev, err := ifMatch(r)
	if err != nil {
		return write{}, err
	}
	hash, err := requestDigest(buf, route, r.URL.Path, p, req)
	if err != nil {
		return write{}, err
	}
	return write{principal: p, id: id, madeID: made, hash: hash, ifRev: ifRev}, nil
}

// requestDigest is the digest of a write (the command's Hash, which a retry with the same command ID
// must repeat): the hex SHA-256 of route, path, subject, role and city, each followed by a zero byte,
// then of json.Marshal(req), the decoded request encoded again (so that a retry that formats its
// body differently is the same request). buf is the scratch space (reset first).
func requestDigest(buf *bytes.Buffer, route, path string, p Principal, req any) (string, error) {
	buf.Reset()
	for _, part := range [...]string{route, path, p.Subject, string(p.Role), p.City} {
		buf.WriteString(part)
		buf.WriteByte(0)
	}
	// An Encoder writes exactly what json.Marshal returns, and a newline.
	if err := json.NewEncoder(buf).Encode(req); err != nil {
		return "", fmt.Errorf("encode %s request: %w", route, err)
	}
	sum := sha256.Sum256(buf.Bytes()[:buf.Len()-1])
	return hex.EncodeToString(sum[:]), nil
}

// decisionContext is what the deciders learn about the actor. Now is the server's clock.
func (s *Server) decisionContext(p Principal) domain.Context {
	return domain.Context{Now: s.now(), Actor: p.Subject, Role: p.Role, City: p.City}
}

// engineCommand is the command the engine records for wr.
func (wr write) engineCommand(name string) eventstore.Command {
	return eventstore.Command{
		ID:         wr.id,
		Name:       name,
		Actor:      wr.principal.Subject,
		Role:       string(wr.principal.Role),
		City:       wr.principal.City,
		Hash:       wr.hash,
		IfRevision: wr.ifRev,
	}
}

// derivedID is the ID of what a command creates (an item, an update, a member): a UUIDv5 of the
// command ID, so that a retried command targets the same stream and creates the same thing.
func derivedID(commandID uuid.UUID, kind string) string {
	return uuid.NewSHA1(commandID, []byte(kind)).String()
}

// proposalItemID is the ID of the item a proposal creates, derived from its command ID as
// derivedID does. When the server made the command ID (a write without an Idempotency-Key: a
// UUIDv7, ordered by time), the item ID keeps the time: it is a UUIDv8 (RFC 9562, section 5.8)
// whose first 48 bits are the command ID's Unix milliseconds and whose other bits are those of the
// UUIDv5. Items proposed about the same time then sit side by side in the store's (stream,
// revision) index, and the appends to the items being worked on touch a few of its pages instead of
// a random page each: on a 1,000,000-event log the command p99 under load fell from 88-100 ms to
// 30-39 ms (BENCHMARKS.md). With an Idempotency-Key the item ID is the UUIDv5, as it always was,
// so that a retry names the same item whatever the key.
func proposalItemID(wr write) string {
	id := uuid.NewSHA1(wr.id, []byte(derivedItem))
	if wr.madeID && wr.id.Version() == 7 {
		copy(id[:6], wr.id[:6])
		id[6] = id[6]&0x0f | 0x80 // version 8; the variant bits are the UUIDv5's
	}
	return id.String()
}

// newV7 is a new UUIDv7; it fails only when the system's random source does.
func newV7() uuid.UUID { return uuid.Must(uuid.NewV7()) }

// runItem runs an item command on the item's stream. cities tells a proposal which cities take part
// (nil for the other commands).
func (s *Server) runItem(r *http.Request, wr write, itemID string, cmd domain.ItemCommand, cities func(string) bool) (eventstore.Result, error) {
	dctx := s.decisionContext(wr.principal)
	dctx.Cities = cities
	ec := wr.engineCommand(cmd.CommandName())
	// A proposal's item ID derives from its command ID: when the server made that ID, no stream can
	// hold the item yet, and the engine need not read one.
	_, proposal := cmd.(domain.ProposeRoadmapItem)
	ec.NewStream = proposal && wr.madeID
	return s.items.Execute(r.Context(), domain.ItemStream(itemID), ec,
		func(st domain.RoadmapItem, _ bool) ([]domain.Event, error) {
			return domain.DecideItem(st, cmd, dctx)
		})
}

// runCollaboratory runs a collaboratory command on the served collaboratory's stream.
func (s *Server) runCollaboratory(r *http.Request, wr write, cmd domain.CollaboratoryCommand) (eventstore.Result, error) {
	dctx := s.decisionContext(wr.principal)
	return s.collab.Execute(r.Context(), domain.CollaboratoryStream(s.slug), wr.engineCommand(cmd.CommandName()),
		func(st domain.Collaboratory, _ bool) ([]domain.Event, error) {
			return domain.DecideCollaboratory(st, cmd, dctx)
		})
}

// takingPart returns the cities taking part in the served collaboratory: those of the collaboratory
// engine's folded state (cached: it sees every collaboratory write of this process), and, for a city
// that state does not know, those of the live roster (which also sees the writes of other processes on
// the same store).
func (s *Server) takingPart(r *http.Request) (func(string) bool, error) {
	st, _, _, err := s.collab.Load(r.Context(), domain.CollaboratoryStream(s.slug))
	if err != nil {
		return nil, fmt.Errorf("load collaboratory %s: %w", s.slug, err)
	}
	return func(slug string) bool {
		if st.HasCity(slug) {
			return true
		}
		for _, c := range s.runner.Models().Roster().Cities {
			if c.ID == slug {
				return true
			}
		}
		return false
	}, nil
}

// written answers a write: status (201 for what it created, else 200), ETag, CSC-Position, the
// replay marker, an optional Location, and the WriteResult.
func written(w http.ResponseWriter, status int, res eventstore.Result, body WriteResult, location string) {
	body.Revision = res.Revision
	body.Position = res.Position.String()
	w.Header().Set("ETag", etag(res.Revision))
	w.Header().Set(PositionHeader, body.Position)
	w.Header().Set("Cache-Control", "no-store")
	if res.Replayed {
		w.Header().Set(ReplayedHeader, "true")
	}
	if location != "" {
		w.Header().Set("Location", location)
	}
	writeJSON(w, status, body)
}
