package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"iter"
	"strconv"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/metropolis/csc/domain"
	"github.com/metropolis/csc/eventstore"
	"github.com/metropolis/csc/eventstore/export"
	"github.com/metropolis/csc/projections"
)

// Replay is what csc replay --format json prints: the read models as of a moment.
type Replay struct {
	// Position is that of the last event included ("0" for none); AsOf the moment health and overdue
	// are evaluated at (the --as-of time, the recorded time of the event at --position, or now).
	Position string                     `json:"position"`
	AsOf     time.Time                  `json:"asOf"`
	Events   uint64                     `json:"events"` // events applied
	Progress []projections.CityProgress `json:"progress"`
	Matrix   *projections.Matrix        `json:"matrix,omitempty"`
	Items    []projections.ItemSummary  `json:"items,omitempty"`
}

// replay is "csc replay [--as-of T | --position P] [--format table|json] [--matrix] [--items]": the
// read models built from the log up to that moment (without a limit: the whole log, as of now).
func (a *auditor) replay(ctx context.Context, args []string) error {
	var (
		sf                     storeFlags
		asOf, position, format string
		matrix, items          bool
	)
	fs := a.flagSet("replay", &sf)
	fs.StringVar(&asOf, "as-of", "", "the RFC 3339 time to replay up to: the log as it stood then")
	fs.StringVar(&position, "position", "", "the $all position to replay up to (inclusive)")
	fs.StringVar(&format, "format", "table", "table or json")
	fs.BoolVar(&matrix, "matrix", false, "also print the cross-city matrix (themes and SDG 11 targets)")
	fs.BoolVar(&items, "items", false, "also print the roadmap item list")
	if err := parse(fs, args, a.stdout); err != nil {
		return err
	}
	if format != "table" && format != "json" {
		return usagef("--format %q: want table or json", format)
	}
	if asOf != "" && position != "" {
		return usagef("replay: give --as-of or --position, not both")
	}
	var (
		at  projections.AsOf
		err error
	)
	if asOf != "" {
		if at.Time, err = parseTime("as-of", asOf); err != nil {
			return err
		}
	}
	if position != "" {
		if at.Position, err = parsePosition("position", position); err != nil {
			return err
		}
		if at.Position.IsZero() {
			return usagef("--position 0: the log is empty before it; give the position of an event")
		}
	}

	st, err := a.openStore(ctx, sf)
	if err != nil {
		return err
	}
	defer st.Close()
	bar := newProgress(a.stderr, a.showProgress(sf), "replay", st.total(ctx, eventstore.Position{}))
	watched := &watchedStore{Store: st.Store, bar: bar, limit: at.Position}
	models, err := projections.BuildAsOf(ctx, watched, domain.NewCodec(), at)
	bar.done()
	if err != nil {
		return fmt.Errorf("replay from %s: %w", st.name, err)
	}

	// Health and overdue are evaluated at the moment replayed to.
	now := at.Time
	switch {
	case !at.Position.IsZero():
		now = watched.lastRecorded()
	case now.IsZero():
		now = a.now().UTC()
	}
	r := Replay{Position: models.Position().String(), AsOf: now, Events: models.Stats().Events, Progress: models.Progress(now)}
	if r.Progress == nil {
		r.Progress = []projections.CityProgress{}
	}
	if matrix {
		m := models.Matrix()
		r.Matrix = &m
	}
	if items {
		r.Items = models.Items(projections.ItemFilter{}, now)
		if r.Items == nil {
			r.Items = []projections.ItemSummary{}
		}
	}
	if format == "json" {
		enc := json.NewEncoder(a.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(r)
	}
	return printReplay(a.stdout, r)
}

// watchedStore is the store a replay reads: it shows the events read on the progress bar and keeps
// the recorded time of the last event at or before limit.
type watchedStore struct {
	eventstore.Store
	bar   *progress
	limit eventstore.Position

	mu   sync.Mutex
	last time.Time
}

func (w *watchedStore) ReadAll(ctx context.Context, after eventstore.Position) iter.Seq2[eventstore.RecordedEvent, error] {
	return w.watch(w.Store.ReadAll(ctx, after))
}

// ReadAllViews is ReadAll with read-only payloads when the store offers them (sqlite.Store does):
// the replay builds read models, which only read payloads, and projections takes the views.
func (w *watchedStore) ReadAllViews(ctx context.Context, after eventstore.Position) iter.Seq2[eventstore.RecordedEvent, error] {
	if v, ok := w.Store.(interface {
		ReadAllViews(context.Context, eventstore.Position) iter.Seq2[eventstore.RecordedEvent, error]
	}); ok {
		return w.watch(v.ReadAllViews(ctx, after))
	}
	return w.ReadAll(ctx, after)
}

// watch passes on the events of src, counting them on the progress bar and keeping the recorded
// time of the last one up to the limit.
func (w *watchedStore) watch(src iter.Seq2[eventstore.RecordedEvent, error]) iter.Seq2[eventstore.RecordedEvent, error] {
	return func(yield func(eventstore.RecordedEvent, error) bool) {
		for ev, err := range src {
			if err == nil {
				w.bar.event(ev)
				if !w.limit.IsZero() && !w.limit.Before(ev.Position) {
					w.mu.Lock()
					w.last = export.RecordedAt(ev)
					w.mu.Unlock()
				}
			}
			if !yield(ev, err) {
				return
			}
		}
	}
}

func (w *watchedStore) lastRecorded() time.Time {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.last
}

// printReplay prints r as tables.
func printReplay(w io.Writer, r Replay) error {
	// One tabwriter for everything: a line without tabs ends a table, so each table aligns its own
	// columns.
	out := &errWriter{w: w}
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "As of %s: position %s, %d events\n\n", r.AsOf.Format(time.RFC3339), r.Position, r.Events)

	fmt.Fprintln(tw, "CITY\tPROPOSED\tCHANGES REQ.\tAPPROVED\tIN PROGRESS\tON HOLD\tCOMPLETED\tREJECTED\tCANCELLED")
	for _, c := range r.Progress {
		s := c.Stages
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\n", c.City, s.Proposed, s.ChangesRequested, s.Approved,
			s.InProgress, s.OnHold, s.Completed, s.Rejected, s.Cancelled)
	}
	fmt.Fprintln(tw)
	fmt.Fprintln(tw, "CITY\tON TRACK\tBEHIND\tAT RISK\tACHIEVED\tNOT STARTED\tCOMPLETION\tMILESTONES\tOVERDUE\tBUDGET\tLAST UPDATE")
	for _, c := range r.Progress {
		h := c.Health
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\t%s\t%d/%d\t%d\t%s\t%s\n", c.City, h.OnTrack, h.Behind, h.AtRisk, h.Achieved,
			h.NotStarted, percent(c.Completion), c.Milestones.Reached, c.Milestones.Total, c.Overdue, budget(c.Budget), day(c.LastUpdate))
	}

	if r.Matrix != nil {
		fmt.Fprint(tw, "\nItems (completion of those committed to) per theme and SDG 11 target\n\n")
		fmt.Fprint(tw, "CITY")
		for _, th := range r.Matrix.Themes {
			fmt.Fprint(tw, "\t"+strings.ToUpper(string(th)))
		}
		for _, tg := range r.Matrix.Targets {
			fmt.Fprint(tw, "\t"+tg)
		}
		fmt.Fprintln(tw)
		for _, row := range r.Matrix.Rows {
			fmt.Fprint(tw, row.City)
			for _, th := range r.Matrix.Themes {
				fmt.Fprint(tw, "\t"+matrixCell(row.Themes[th]))
			}
			for _, tg := range r.Matrix.Targets {
				fmt.Fprint(tw, "\t"+matrixCell(row.Targets[tg]))
			}
			fmt.Fprintln(tw)
		}
	}

	if r.Items != nil {
		fmt.Fprint(tw, "\nRoadmap items\n\n")
		fmt.Fprintln(tw, "ID\tCITY\tTHEME\tSTAGE\tHEALTH\tPROGRESS\tDUE\tOVERDUE\tTITLE")
		for _, it := range r.Items {
			health := string(it.Health)
			if health == "" {
				health = "-"
			}
			overdue := "-"
			if it.Overdue {
				overdue = "yes"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", it.ID, it.City, it.Theme, it.Stage, health,
				percent(it.Progress), it.DueDate, overdue, it.Title)
		}
	}
	if err := tw.Flush(); out.err == nil {
		out.err = err
	}
	return out.err
}

func percent(f float64) string { return strconv.FormatFloat(100*f, 'f', 0, 64) + "%" }

func day(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.DateOnly)
}

func budget(amounts []projections.Amount) string {
	if len(amounts) == 0 {
		return "-"
	}
	parts := make([]string, len(amounts))
	for i, a := range amounts {
		parts[i] = a.Currency + " " + grouped(a.Amount)
	}
	return strings.Join(parts, ", ")
}

// grouped formats an amount with its thousands grouped by commas, and cents only when there are any.
func grouped(v float64) string {
	s := strconv.FormatFloat(v, 'f', 2, 64)
	s = strings.TrimSuffix(s, ".00")
	whole, frac, _ := strings.Cut(s, ".")
	sign := ""
	if strings.HasPrefix(whole, "-") {
		sign, whole = "-", whole[1:]
	}
	var b strings.Builder
	for i, c := range whole {
		if i > 0 && (len(whole)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if frac != "" {
		return sign + b.String() + "." + frac
	}
	return sign + b.String()
}

func matrixCell(c projections.MatrixCell) string {
	if c.Items == 0 {
		return "-"
	}
	if c.Committed == 0 {
		return strconv.Itoa(c.Items)
	}
	return fmt.Sprintf("%d (%s)", c.Items, percent(c.Completion))
}
