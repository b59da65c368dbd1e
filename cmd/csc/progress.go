package main

import (
	"io"
	"os"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"

	"github.com/metropolis/csc/eventstore"
)

// isTerminal reports whether w is a terminal (progress bars are drawn only there).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// progress is a progress bar on the auditor's terminal. A nil *progress draws nothing, so that callers
// need not care whether one is shown.
//
// It counts in one of three ways: by $all position (a store whose positions count its events, so
// that the total is known from Head and the bar has an ETA), by event (a store whose positions are
// not counts: an event count and a rate, no total), or by bytes (an export file: a known size).
type progress struct {
	bar *progressbar.ProgressBar
	// base is the position the read starts after; byPosition: set the bar to the event's position
	// minus base rather than counting events.
	base       uint64
	byPosition bool
}

// progressTotal says what a progress bar counts to.
type progressTotal struct {
	// events: the number of events to go (-1: unknown); bytes: the number of bytes (0: not bytes).
	events, bytes int64
	// base is the $all position the read starts after, when events counts positions.
	base uint64
}

// newProgress returns a bar on w described by desc, or nil when bars are off (not a terminal, or
// --quiet).
func newProgress(w io.Writer, show bool, desc string, total progressTotal) *progress {
	if !show {
		return nil
	}
	opts := []progressbar.Option{
		progressbar.OptionSetWriter(w),
		progressbar.OptionSetDescription(desc),
		progressbar.OptionSetWidth(30),
		progressbar.OptionShowCount(),
		progressbar.OptionThrottle(100 * time.Millisecond),
		progressbar.OptionClearOnFinish(),
		// The spinner of an unknown total turns on each update, not from a goroutine of its own.
		progressbar.OptionSetSpinnerChangeInterval(0),
	}
	p := &progress{base: total.base}
	max := total.events
	switch {
	case total.bytes > 0:
		max = total.bytes
		opts = append(opts, progressbar.OptionShowBytes(true), progressbar.OptionSetPredictTime(true))
	case total.events > 0:
		p.byPosition = true
		opts = append(opts, progressbar.OptionShowIts(), progressbar.OptionSetItsString("events"), progressbar.OptionSetPredictTime(true))
	default:
		max = -1
		opts = append(opts, progressbar.OptionShowIts(), progressbar.OptionSetItsString("events"), progressbar.OptionShowTotalBytes(false))
	}
	p.bar = progressbar.NewOptions64(max, opts...)
	return p
}

// event advances the bar past ev.
func (p *progress) event(ev eventstore.RecordedEvent) {
	if p == nil {
		return
	}
	if p.byPosition {
		if ev.Position.Commit > p.base {
			_ = p.bar.Set64(min(int64(ev.Position.Commit-p.base), p.bar.GetMax64()))
		}
		return
	}
	_ = p.bar.Add64(1)
}

// setBytes sets the bar of a byte count.
func (p *progress) setBytes(n int64) {
	if p == nil {
		return
	}
	_ = p.bar.Set64(min(n, p.bar.GetMax64()))
}

// done removes the bar from the terminal; call it before printing the result or an error.
func (p *progress) done() {
	if p == nil {
		return
	}
	_ = p.bar.Finish()
}

// countingReader counts the bytes read through it and shows them on a progress bar.
type countingReader struct {
	r io.Reader
	n int64
	p *progress
}

func (c *countingReader) Read(b []byte) (int, error) {
	n, err := c.r.Read(b)
	c.n += int64(n)
	c.p.setBytes(c.n)
	return n, err
}
