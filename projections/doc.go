// Package projections builds the CSC read models from the event log and keeps them up to date:
// per-city progress, the cross-city matrix, the roadmap item list and detail with its history, the
// roster and the activity feed. Read models are pure folds over recorded events; nothing in them is
// stored anywhere but in memory, and any of them can be rebuilt from the log at any time.
//
// # Runner
//
// A Runner reads $all from the start, feeds every read model, publishes them once they have caught
// up with the head of the log, then follows live appends through the store's subscription (Run).
// Position and WaitFor let a query wait until the read models include a given write (read your
// writes); Ready tells whether the first catch-up is done; Rebuild builds everything again while
// the current models keep answering, and swaps the new ones in once caught up. BuildAsOf builds the
// read models as of a moment (a recorded time or a position) without touching the live ones.
//
// Reading is a pipeline: one goroutine scans the store, decoders decode batches in parallel, and
// the fold applies them in log order. Decoding uses the domain codec as its reference; events at
// their type's current schema version take a fast path that reads only the fields the read models
// use, and falls back to the codec on anything unusual (see decoder). An event type the codec does
// not know is skipped, counted and logged (forward compatibility); a known type that does not decode
// stops the runner with an error naming the position and the stream.
//
// # Stages and commitment
//
// Stage counts cover every item. The items "committed to" are those approved, in progress, on hold
// or completed: completion, health, milestones and budget are computed over them. An item is "open"
// until it is completed, rejected or cancelled, and overdue when it is open and its due date is over
// (from 00:00 UTC the day after its due date).
//
// # Health
//
// Health is computed at query time against a moment t (now, or the as-of time) and never stored:
//
//   - not_started: approved, implementation not started.
//   - achieved: completed; or in progress or on hold with actual progress a = 1.
//   - in progress or on hold with a < 1: with e(t) the expected progress, on_track while
//     a >= 0.95 e(t), behind while a >= 0.85 e(t) (and not on track), at_risk otherwise.
//   - proposed, changes requested, rejected, cancelled: no health.
//
// Actual and expected progress, both 0..1, are measured on one of two bases:
//
//   - indicator basis, when the item has an indicator (target value != baseline value) and at
//     least one measurement: a = (v - baseline) / (target - baseline), v the value in force (after
//     corrections) of the latest submitted measurement, clamped to 0..1 and rounded down to
//     millionths; e(t) grows linearly from 0 at 1 January 00:00 UTC of the baseline year to 1 at
//     1 January 00:00 UTC of the year after the target year.
//   - progress basis, otherwise: a = the latest reported progress percentage / 100 (0 when none was
//     reported); e(t) grows linearly from 0 at 00:00 UTC of the start date to 1 at 00:00 UTC of the
//     day after the due date.
//
// e(t) is 0 before its timeline and 1 after it. Because a is fixed until the item's next event and
// e grows linearly, the health of a running item changes at two instants computed exactly in
// integer nanoseconds: on track up to and including t1 = from + floor(100 a (to-from) / 95), behind
// up to and including t2 = from + floor(100 a (to-from) / 85), at risk after t2 (with a >= 0.95, t1
// never comes; with a >= 0.85, t2 never comes). Each city keeps the sorted t1, t2 and due instants
// of its items, so a progress query counts health and overdue items with binary searches instead of
// visiting the items.
//
// Completion is the mean actual progress of the committed items (a completed item counts 1). Budget
// planned sums the committed items' budgets per currency, exactly (in thousandths).
package projections
