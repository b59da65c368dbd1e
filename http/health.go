package http

import (
	"net/http"
)

// Health is the body of /healthz and /readyz.
type Health struct {
	Status string `json:"status"` // "ok", or "catching_up" (readyz only)
	// Position is the read models' position (readyz only).
	Position string `json:"position,omitempty"`
}

// handleHealthz answers 200 while the process serves requests (liveness).
func (s *Server) handleHealthz(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, Health{Status: "ok"})
}

// handleReadyz answers 200 once the read models have caught up with the log as it was when they
// started, 503 before (readiness: a load balancer sends no reads to a server still replaying), and a
// 503 problem naming the reason once the projections have stopped (the read models no longer follow
// the log).
func (s *Server) handleReadyz(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	if err := s.runner.Stopped(); err != nil {
		s.problem(w, r, errProjectionsStopped(err))
		return
	}
	h := Health{Status: "ok", Position: s.runner.Position().String()}
	if !s.runner.Ready() {
		h.Status = "catching_up"
		writeJSON(w, http.StatusServiceUnavailable, h)
		return
	}
	writeJSON(w, http.StatusOK, h)
}

// Retry-After (seconds) of reads refused while the read models catch up.
const notReadyRetryAfter = 5

// errProjectionsStopped is the 503 of a read (or readiness) once the projections runner has stopped
// with err.
func errProjectionsStopped(err error) error {
	return &requestError{status: http.StatusServiceUnavailable, code: ProblemUnavailable, retryAfter: notReadyRetryAfter,
		detail: "the read models have stopped following the log: " + err.Error()}
}

// errNotReady is the 503 of a read while the read models are catching up.
var errNotReady = &requestError{status: http.StatusServiceUnavailable, code: ProblemUnavailable, retryAfter: notReadyRetryAfter,
	detail: "the read models are catching up with the log: try again shortly"}

// checkReady refuses a read of the live read models unless they have caught up and still follow the
// log.
func (s *Server) checkReady() error {
	if err := s.runner.Stopped(); err != nil {
		return errProjectionsStopped(err)
	}
	if !s.runner.Ready() {
		return errNotReady
	}
	return nil
}
