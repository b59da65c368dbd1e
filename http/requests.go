package http

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"time"

	"github.com/gorilla/mux"
)

// RequestIDHeader carries the request ID in and out: a client's own ID (1..128 printable ASCII
// characters) is kept, otherwise the server makes one. Every log line and problem of the request names it.
const RequestIDHeader = "X-Request-ID"

// unmatchedRoute is the route label of requests that matched no route (404, 405).
const unmatchedRoute = "unmatched"

// requestInfo is what the layers of one request learn about it, for its log line and metrics.
type requestInfo struct {
	id      string
	route   string // the mux path template, or unmatchedRoute
	subject string
	role    string
	// vars are the route variables when the route table matched the request (nvars of them).
	vars  [maxRouteVars]routeVar
	nvars int
	// principal is who the request acts as, once authenticate has checked its token.
	principal     Principal
	authenticated bool
}

type infoKey struct{}

func infoFrom(ctx context.Context) *requestInfo {
	info, _ := ctx.Value(infoKey{}).(*requestInfo)
	return info
}

// requestID returns the request's ID ("" outside a request).
func requestID(ctx context.Context) string {
	if info := infoFrom(ctx); info != nil {
		return info.id
	}
	return ""
}

// setLogSubject records who the request acts as, for its log line.
func setLogSubject(ctx context.Context, p Principal) {
	if info := infoFrom(ctx); info != nil {
		info.subject, info.role = p.Subject, string(p.Role)
	}
}

// markRoute is the mux middleware that records the matched route's template (the metrics label:
// never the raw path, whose IDs would make the label set unbounded).
func markRoute(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if info := infoFrom(r.Context()); info != nil {
			if rt := mux.CurrentRoute(r); rt != nil {
				if tpl, err := rt.GetPathTemplate(); err == nil {
					info.route = tpl
				}
			}
		}
		next.ServeHTTP(w, r)
	})
}

// observe wraps the router: it gives each request an ID (X-Request-ID in and out), turns a panic into a
// 500 problem, counts and times the request by route template, method and status, and logs one line.
func (s *Server) observe(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		id := r.Header.Get(RequestIDHeader)
		if !validRequestID(id) {
			id = s.newID().String()
		}
		info := &requestInfo{id: id, route: unmatchedRoute}
		r = r.WithContext(context.WithValue(r.Context(), infoKey{}, info))
		w.Header().Set(RequestIDHeader, id)
		rec := &recorder{ResponseWriter: w}

		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				s.log.Error("handler panicked", "requestId", id, "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
				if !rec.wrote {
					s.problem(rec, r, fmt.Errorf("handler panicked: %v", v))
				}
			}
			status := rec.statusCode()
			elapsed := time.Since(start)
			if s.metrics != nil {
				s.metrics.observe(info.route, r.Method, status, elapsed)
			}
			level := slog.LevelInfo
			if status >= 500 {
				level = slog.LevelWarn
			}
			s.log.LogAttrs(r.Context(), level, "request",
				slog.String("requestId", id), slog.String("method", r.Method), slog.String("route", info.route),
				slog.String("path", r.URL.Path), slog.Int("status", status), slog.Duration("duration", elapsed),
				slog.String("subject", info.subject), slog.String("role", info.role))
		}()
		next.ServeHTTP(rec, r)
	})
}

// validRequestID accepts 1..128 printable ASCII characters.
func validRequestID(id string) bool {
	if id == "" || len(id) > 128 {
		return false
	}
	for i := 0; i < len(id); i++ {
		if id[i] < 0x21 || id[i] > 0x7e {
			return false
		}
	}
	return true
}

// recorder remembers the status a handler wrote. Unwrap lets http.ResponseController reach the
// connection's writer (Flush, write deadlines) through it.
type recorder struct {
	http.ResponseWriter
	status int
	wrote  bool
}

func (rec *recorder) WriteHeader(code int) {
	if !rec.wrote {
		rec.status, rec.wrote = code, true
	}
	rec.ResponseWriter.WriteHeader(code)
}

func (rec *recorder) Write(b []byte) (int, error) {
	if !rec.wrote {
		rec.status, rec.wrote = http.StatusOK, true
	}
	return rec.ResponseWriter.Write(b)
}

func (rec *recorder) Unwrap() http.ResponseWriter { return rec.ResponseWriter }

func (rec *recorder) statusCode() int {
	if !rec.wrote {
		return http.StatusOK
	}
	return rec.status
}
