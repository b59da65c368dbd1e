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
// started, 503 before (readiness: a load balancer sends no reads to a server still replaying).
func (s *Server) handleReadyz(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	h := Health{Status: "ok", Position: s.runner.Position().String()}
	if !s.runner.Ready() {
		h.Status = "catching_up"
		writeJSON(w, http.StatusServiceUnavailable, h)
		return
	}
	writeJSON(w, http.StatusOK, h)
}
