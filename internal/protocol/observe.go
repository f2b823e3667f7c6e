package protocol

import (
	"log/slog"
	"net/http"
	"time"

	"github.com/cloudhsm-local/cloudhsm-local/internal/api"
	"github.com/cloudhsm-local/cloudhsm-local/internal/clock"
	"github.com/cloudhsm-local/cloudhsm-local/internal/identity"
)

// Outcome is how one request ended: what its log line says and what an Observer is told.
type Outcome struct {
	RequestID string
	// Operation is the operation the X-Amz-Target named when it is one of the service's, and
	// "" otherwise (no target yet, or an unknown one), so that it takes at most 19 values.
	Operation string
	// Account and Region are the caller's once identified, "" before (and whenever strict
	// mode refused the credentials).
	Account, Region string
	Status          int
	// Error is the error name answered (the __type), "" on success.
	Error    api.ErrorCode
	Duration time.Duration
}

// Observer is told how each request ended (metrics, say).
type Observer interface {
	// Request is called once per request, after its answer is written. It MUST be safe for
	// concurrent use and return at once.
	Request(o Outcome)
}

// WithObserver makes the handler tell o how every request ended.
func WithObserver(o Observer) Option {
	return func(h *handler) { h.observer = o }
}

// answer is what writeResult or writeError wrote.
type answer struct {
	status  int
	code    api.ErrorCode // "" on success
	message string        // the error message, "" on success
}

// finish ends a request: one log line at Debug level, with the operation, the caller's
// account and region, the status, the error name and message, the duration and the request
// ID, and the Observer's Outcome. The access key and anything secret never reach the line.
func (h *handler) finish(r *http.Request, reqID, op string, who identity.Caller, a answer, start clock.Mark) {
	if !h.operations[op] {
		op = ""
	}
	o := Outcome{RequestID: reqID, Operation: op, Account: who.Account, Region: who.Region,
		Status: a.status, Error: a.code, Duration: start.Elapsed()}
	if h.observer != nil {
		h.observer.Request(o)
	}
	if !h.log.Enabled(r.Context(), slog.LevelDebug) {
		return
	}
	attrs := []slog.Attr{
		slog.String("request_id", reqID), slog.String("operation", op),
		slog.String("account", o.Account), slog.String("region", o.Region),
		slog.Int("status", o.Status), slog.Duration("duration", o.Duration),
	}
	if a.code != "" {
		attrs = append(attrs, slog.String("error", string(a.code)), slog.String("message", a.message))
	}
	h.log.LogAttrs(r.Context(), slog.LevelDebug, "request", attrs...)
}
