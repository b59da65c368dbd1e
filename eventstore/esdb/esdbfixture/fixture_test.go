package esdbfixture_test

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	esdbclient "github.com/EventStore/EventStore-Client-Go/v4/esdb"
	"github.com/google/uuid"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/metropolis/csc/eventstore/esdb/esdbfixture"
)

// These tests drive the fixture with the real client, to pin the protocol semantics the adapter
// relies on (and that the fixture imitates from the server's documentation and source).

func client(t *testing.T, f *esdbfixture.Fixture) *esdbclient.Client {
	t.Helper()
	conf, err := esdbclient.ParseConnectionString(f.URL())
	if err != nil {
		t.Fatal(err)
	}
	conf.Logger = esdbclient.NoopLogging()
	c, err := esdbclient.NewClient(conf)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func events(typ string, n int) []esdbclient.EventData {
	out := make([]esdbclient.EventData, n)
	for i := range out {
		out[i] = esdbclient.EventData{EventID: uuid.New(), EventType: typ, ContentType: esdbclient.ContentTypeJson, Data: []byte(`{}`)}
	}
	return out
}

func appendTo(t *testing.T, c *esdbclient.Client, stream string, expected esdbclient.ExpectedRevision, evs []esdbclient.EventData) *esdbclient.WriteResult {
	t.Helper()
	res, err := c.AppendToStream(context.Background(), stream, esdbclient.AppendToStreamOptions{ExpectedRevision: expected}, evs...)
	if err != nil {
		t.Fatalf("append to %s: %v", stream, err)
	}
	return res
}

// drain returns a function that reads a read stream to its end.
func drain(t *testing.T) func(*esdbclient.ReadStream, error) []*esdbclient.RecordedEvent {
	return func(rs *esdbclient.ReadStream, err error) []*esdbclient.RecordedEvent {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		defer rs.Close()
		var out []*esdbclient.RecordedEvent
		for {
			ev, err := rs.Recv()
			if errors.Is(err, io.EOF) {
				return out
			}
			if err != nil {
				t.Fatalf("after %d events: %v", len(out), err)
			}
			out = append(out, ev.OriginalEvent())
		}
	}
}

func readAll(t *testing.T, c *esdbclient.Client, dir esdbclient.Direction, from esdbclient.AllPosition, count uint64) []*esdbclient.RecordedEvent {
	t.Helper()
	rs, err := c.ReadAll(context.Background(), esdbclient.ReadAllOptions{Direction: dir, From: from}, count)
	return drain(t)(rs, err)
}

func TestAppendExpectedVersions(t *testing.T) {
	cases := []struct {
		name     string
		existing int
		expected esdbclient.ExpectedRevision
		wantRev  uint64 // on success
		wantGot  string // the current revision in the error, "" for success
	}{
		{name: "any, missing", expected: esdbclient.Any{}, wantRev: 1},
		{name: "no stream, missing", expected: esdbclient.NoStream{}, wantRev: 1},
		{name: "exact, missing", expected: esdbclient.Revision(0), wantGot: "no_stream"},
		{name: "stream exists, missing", expected: esdbclient.StreamExists{}, wantGot: "no_stream"},
		{name: "no stream, existing", existing: 3, expected: esdbclient.NoStream{}, wantGot: "2"},
		{name: "exact current", existing: 3, expected: esdbclient.Revision(2), wantRev: 4},
		{name: "exact behind", existing: 3, expected: esdbclient.Revision(1), wantGot: "2"},
		{name: "exact ahead", existing: 3, expected: esdbclient.Revision(7), wantGot: "2"},
		{name: "stream exists, existing", existing: 3, expected: esdbclient.StreamExists{}, wantRev: 4},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := client(t, esdbfixture.Start(t, esdbfixture.Options{}))
			if tc.existing > 0 {
				appendTo(t, c, "s", esdbclient.NoStream{}, events("Seed", tc.existing))
			}
			res, err := c.AppendToStream(context.Background(), "s", esdbclient.AppendToStreamOptions{ExpectedRevision: tc.expected}, events("E", 2)...)
			if tc.wantGot == "" {
				if err != nil || res.NextExpectedVersion != tc.wantRev {
					t.Fatalf("want success at revision %d, got %+v, %v", tc.wantRev, res, err)
				}
				return
			}
			var e *esdbclient.Error
			if !errors.As(err, &e) || e.Code() != esdbclient.ErrorCodeWrongExpectedVersion || !strings.Contains(err.Error(), "but got '"+tc.wantGot+"'") {
				t.Fatalf("want a wrong expected version saying the stream is at %s, got %v", tc.wantGot, err)
			}
		})
	}
}

func TestIdempotentAppendAndPositions(t *testing.T) {
	c := client(t, esdbfixture.Start(t, esdbfixture.Options{}))
	appendTo(t, c, "other", esdbclient.NoStream{}, events("Other", 1))
	evs := events("Once", 3)
	first := appendTo(t, c, "s", esdbclient.NoStream{}, evs)
	appendTo(t, c, "s", esdbclient.Any{}, events("Later", 2))
	for _, expected := range []esdbclient.ExpectedRevision{esdbclient.NoStream{}, esdbclient.Any{}} {
		if again := appendTo(t, c, "s", expected, evs); *again != *first {
			t.Fatalf("retry with %T: want the first result %+v, got %+v", expected, *first, *again)
		}
	}
	got := drain(t)(c.ReadStream(context.Background(), "s", esdbclient.ReadStreamOptions{}, 100))
	if len(got) != 5 {
		t.Fatalf("stream after retries: want 5 events, got %d", len(got))
	}
	// The append answers with its commit position, the position of its first event; the events of
	// one append share it and have increasing prepare positions.
	if first.CommitPosition != first.PreparePosition || got[0].Position != (esdbclient.Position{Commit: first.CommitPosition, Prepare: first.PreparePosition}) {
		t.Fatalf("append result %+v: want the position of its first event %+v", *first, got[0].Position)
	}
	for i := 1; i < 3; i++ {
		if got[i].Position.Commit != first.CommitPosition || got[i].Position.Prepare <= got[i-1].Position.Prepare {
			t.Fatalf("event %d of the append: want commit %d and a prepare after %d, got %+v", i, first.CommitPosition, got[i-1].Position.Prepare, got[i].Position)
		}
	}
}

func TestReads(t *testing.T) {
	f := esdbfixture.Start(t, esdbfixture.Options{})
	c := client(t, f)
	appendTo(t, c, "a", esdbclient.NoStream{}, events("A", 3))
	appendTo(t, c, "b", esdbclient.NoStream{}, events("B", 2))
	all := readAll(t, c, esdbclient.Forwards, esdbclient.Start{}, 1000)
	if len(all) < 6 || !strings.HasPrefix(all[0].EventType, "$") || !strings.HasPrefix(all[0].StreamID, "$") || all[0].Position.Commit == 0 {
		t.Fatalf("$all: want system events first, at a non-zero position, then the 5 appended, got %d events starting with %s %s at %+v", len(all), all[0].StreamID, all[0].EventType, all[0].Position)
	}
	user := all[len(all)-5:]
	p := user[1].Position

	rs, err := c.ReadStream(context.Background(), "missing", esdbclient.ReadStreamOptions{}, 10)
	if err != nil {
		t.Fatal(err)
	}
	defer rs.Close()
	var e *esdbclient.Error
	if _, err := rs.Recv(); !errors.As(err, &e) || e.Code() != esdbclient.ErrorCodeResourceNotFound {
		t.Fatalf("read of a missing stream: want stream not found on the first receive, got %v", err)
	}

	cases := []struct {
		name string
		got  []*esdbclient.RecordedEvent
		want []*esdbclient.RecordedEvent
	}{
		{"$all forwards from a position includes it", readAll(t, c, esdbclient.Forwards, p, 2), user[1:3]},
		{"$all backwards from a position excludes it", readAll(t, c, esdbclient.Backwards, p, 1), user[:1]},
		{"$all backwards from the end", readAll(t, c, esdbclient.Backwards, esdbclient.End{}, 2), []*esdbclient.RecordedEvent{user[4], user[3]}},
		{"$all forwards from the end", readAll(t, c, esdbclient.Forwards, esdbclient.End{}, 2), nil},
		{"stream forwards from a revision", drain(t)(c.ReadStream(context.Background(), "a", esdbclient.ReadStreamOptions{From: esdbclient.Revision(1)}, 10)), user[1:3]},
		{"stream backwards from the end", drain(t)(c.ReadStream(context.Background(), "a", esdbclient.ReadStreamOptions{Direction: esdbclient.Backwards, From: esdbclient.End{}}, 2)), []*esdbclient.RecordedEvent{user[2], user[1]}},
		{"stream forwards past the end", drain(t)(c.ReadStream(context.Background(), "b", esdbclient.ReadStreamOptions{From: esdbclient.Revision(2)}, 10)), nil},
	}
	for _, tc := range cases {
		if len(tc.got) != len(tc.want) {
			t.Fatalf("%s: want %d events, got %d", tc.name, len(tc.want), len(tc.got))
		}
		for i := range tc.want {
			if tc.got[i].EventID != tc.want[i].EventID || tc.got[i].Position != tc.want[i].Position {
				t.Fatalf("%s: event %d: want %s at %+v, got %s at %+v", tc.name, i, tc.want[i].EventID, tc.want[i].Position, tc.got[i].EventID, tc.got[i].Position)
			}
		}
	}

	f.Stop()
	if err := f.Restart(); err != nil {
		t.Fatal(err)
	}
	if again := readAll(t, client(t, f), esdbclient.Forwards, esdbclient.Start{}, 1000); len(again) != len(all) {
		t.Fatalf("$all after a restart: want the same %d events, got %d", len(all), len(again))
	}
}

func TestSubscribeToAll(t *testing.T) {
	f := esdbfixture.Start(t, esdbfixture.Options{})
	c := client(t, f)
	appendTo(t, c, "a", esdbclient.NoStream{}, events("A", 6))
	f.WriteSystemEvent("$stats", "$statsCollected")
	all := readAll(t, c, esdbclient.Forwards, esdbclient.Start{}, 1000)
	user := all[len(all)-7 : len(all)-1]

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sub, err := c.SubscribeToAll(ctx, esdbclient.SubscribeToAllOptions{
		From:            user[1].Position,
		Filter:          esdbclient.ExcludeSystemEventsFilter(),
		MaxSearchWindow: 2,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	next := func() *esdbclient.SubscriptionEvent {
		t.Helper()
		got := make(chan *esdbclient.SubscriptionEvent, 1)
		go func() { got <- sub.Recv() }()
		select {
		case ev := <-got:
			return ev
		case <-time.After(time.Minute):
			t.Fatal("subscription: nothing received within a minute")
			return nil
		}
	}
	var ids []uuid.UUID
	checkpoints, caughtUp := 0, false
	for !caughtUp {
		ev := next()
		switch {
		case ev.EventAppeared != nil:
			ids = append(ids, ev.EventAppeared.OriginalEvent().EventID)
		case ev.CheckPointReached != nil:
			checkpoints++
		case ev.CaughtUp != nil:
			caughtUp = true
		case ev.SubscriptionDropped != nil:
			t.Fatalf("subscription dropped: %v", ev.SubscriptionDropped.Error)
		}
	}
	if len(ids) != 4 || ids[0] != user[2].EventID || ids[3] != user[5].EventID {
		t.Fatalf("catch-up from the second event: want the 4 events after it (exclusive start, no system event), got %v", ids)
	}
	if checkpoints == 0 {
		t.Fatal("filtered catch-up with a search window of 2: want checkpoints, got none")
	}

	live := events("Live", 1)
	appendTo(t, c, "a", esdbclient.Any{}, live)
	for {
		ev := next()
		if ev.EventAppeared != nil {
			if id := ev.EventAppeared.OriginalEvent().EventID; id != live[0].EventID {
				t.Fatalf("live: want %s, got %s", live[0].EventID, id)
			}
			break
		}
	}
	if n := f.DropSubscriptions(); n != 1 {
		t.Fatalf("DropSubscriptions: want 1, got %d", n)
	}
	for {
		ev := next()
		if ev.SubscriptionDropped != nil {
			if status.Code(ev.SubscriptionDropped.Error) != codes.Unavailable {
				t.Fatalf("dropped subscription: want status Unavailable, got %v", ev.SubscriptionDropped.Error)
			}
			break
		}
		if ev.EventAppeared != nil {
			t.Fatalf("after the drop: want no event, got %s", ev.EventAppeared.OriginalEvent().EventID)
		}
	}
}
