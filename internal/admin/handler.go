// Package admin is the emulator's own front door, under /_cloudhsm-local/: health, the virtual
// clock, cluster activation, on-demand backups, reset, fault injection, the request history and
// state snapshots and fixtures (docs/BEHAVIOUR.md §9), plus the client the cloudhsm-local subcommands use to
// call it.
//
// It speaks plain JSON over HTTP and delegates every action to the service; it must never hold
// state or apply rules of its own.
package admin

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/cloudhsm-local/cloudhsm-local/internal/api"
	"github.com/cloudhsm-local/cloudhsm-local/internal/service"
)

// Prefix is the path under which the admin API lives.
const Prefix = "/_cloudhsm-local/"

// Actions are what the admin API can ask of the service.
type Actions interface {
	// VirtualNow returns the virtual time, which every timestamp of the API comes from.
	VirtualNow(ctx context.Context) (time.Time, error)
	AdvanceClock(ctx context.Context, d time.Duration) (time.Time, error)
	SetClock(ctx context.Context, t time.Time) (time.Time, error)
	Activate(ctx context.Context, clusterID string) (*api.Cluster, error)
	TakeBackup(ctx context.Context, clusterID string) (*api.Backup, error)
	TakeBackups(ctx context.Context, clusterID string, n int) ([]string, error)
	Reset(ctx context.Context) error
	ResetToRealTime(ctx context.Context) error
	StoreKind() string
	// ExportState and ImportState are the state snapshots of state.go.
	ExportState(ctx context.Context, w io.Writer) error
	ImportState(ctx context.Context, doc io.ReadSeeker, replace bool) (service.Imported, error)
}

// Health is the body of GET /_cloudhsm-local/health.
type Health struct {
	Status  string `json:"status"`
	Store   string `json:"store"`
	Version string `json:"version"`
	Now     string `json:"now"`
	Faults  int    `json:"faults"` // fault-injection rules that may still apply
}

// Clock is the body of the clock endpoints: the virtual time in RFC 3339.
type Clock struct {
	Now string `json:"now"`
}

// ClockChange is the body of POST /_cloudhsm-local/clock: exactly one of Advance (a Go
// duration such as "168h") or Set (RFC 3339).
type ClockChange struct {
	Advance string `json:"advance,omitempty"`
	Set     string `json:"set,omitempty"`
}

// BackupCount is the optional body of POST /_cloudhsm-local/clusters/ID/backups. Without a
// body, or without Count, the request takes one backup and answers {"Backup": ...}.
type BackupCount struct {
	// Count is how many backups to take, 1 to MaxBackupCount, in one transaction; the answer
	// is then BackupsTaken.
	Count *int `json:"Count,omitempty"`
}

// MaxBackupCount caps BackupCount.Count: the backups are taken in one transaction, which holds
// the store's writer while it runs.
const MaxBackupCount = 10_000

// BackupsTaken answers a take-backup request that gave a Count: how many backups were taken
// and their IDs, oldest first.
type BackupsTaken struct {
	Count     int      `json:"Count"`
	BackupIDs []string `json:"BackupIds"`
}

// ResetRequest is the optional body of POST /_cloudhsm-local/reset.
type ResetRequest struct {
	// Clock also returns the virtual clock to real time; without it the clock keeps its time.
	Clock bool `json:"clock,omitempty"`
}

// ResetDone answers POST /_cloudhsm-local/reset: the store is empty, and the clock reads Now.
type ResetDone struct {
	Status string `json:"status"` // "reset"
	Now    string `json:"now"`
}

// Error is the body of every admin error response.
type Error struct {
	Error string `json:"error"`
}

// maxBody caps admin request bodies.
const maxBody = 64 << 10

// MaxClockMove caps one move of the virtual clock (ten years of 366 days): everything due is
// applied day by day in one transaction, so a move of centuries would hold the store for hours.
// Move further in steps.
const MaxClockMove = 10 * 366 * 24 * time.Hour

// NewHandler returns the admin API handler; version is reported by health. Options add the
// fault endpoints (WithFaults) and the request history (WithHistory).
func NewHandler(svc Actions, version string, logger *slog.Logger, opts ...Option) http.Handler {
	h := &handler{svc: svc, version: version, log: logger}
	for _, opt := range opts {
		opt(h)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+Prefix+"health", h.wrap(h.health))
	mux.HandleFunc("GET "+Prefix+"clock", h.wrap(h.clock))
	mux.HandleFunc("POST "+Prefix+"clock", h.wrap(h.moveClock))
	mux.HandleFunc("POST "+Prefix+"clusters/{id}/activate", h.wrap(h.activate))
	mux.HandleFunc("POST "+Prefix+"clusters/{id}/backups", h.wrap(h.takeBackup))
	mux.HandleFunc("POST "+Prefix+"reset", h.wrap(h.reset))
	h.faultRoutes(mux)                                              // faults.go
	h.requestsRoutes(mux)                                           // requests.go
	h.stateRoutes(mux)                                              // state.go
	mux.HandleFunc("POST "+Prefix+"fixture", h.wrap(h.seedFixture)) // fixture.go
	mux.HandleFunc(Prefix, h.wrap(func(*http.Request) (any, error) {
		return nil, statusError{http.StatusNotFound, "no such admin endpoint; see docs/BEHAVIOUR.md §9"}
	}))
	return mux
}

type handler struct {
	svc     Actions
	version string
	log     *slog.Logger
	faults  Faults  // nil: the fault endpoints answer 404
	history History // nil: the request history is off (requests.go)
	seeder  Seeder  // nil: POST fixture answers 404 (fixture.go)
	region  string  // of a fixture's clusters that name none
}

// statusError is an admin error with its HTTP status.
type statusError struct {
	status int
	msg    string
}

func (e statusError) Error() string { return e.msg }

// wrap turns an action into a handler that writes its result or its error as JSON.
func (h *handler) wrap(fn func(r *http.Request) (any, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, maxBody)
		out, err := fn(r)
		h.respond(w, r, out, err)
	}
}

// respond writes an action's result, or its error, as JSON.
func (h *handler) respond(w http.ResponseWriter, r *http.Request, out any, err error) {
	status := http.StatusOK
	if err != nil {
		status, out = h.errorStatus(r, err), Error{Error: err.Error()}
	}
	body, _ := json.Marshal(out)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(append(body, '\n'))
}

func (h *handler) errorStatus(r *http.Request, err error) int {
	var se statusError
	switch {
	case errors.As(err, &se):
		return se.status
	case errors.Is(err, service.ErrNotFound):
		return http.StatusNotFound
	case errors.Is(err, service.ErrConflict):
		return http.StatusConflict
	case errors.Is(err, service.ErrInvalid):
		return http.StatusBadRequest
	}
	h.log.Error("admin request failed", "path", r.URL.Path, "err", err)
	return http.StatusInternalServerError
}

func (h *handler) health(r *http.Request) (any, error) {
	now, err := h.svc.VirtualNow(r.Context())
	if err != nil {
		return nil, err
	}
	return Health{Status: "ok", Store: h.svc.StoreKind(), Version: h.version, Now: now.Format(time.RFC3339Nano), Faults: h.activeFaults()}, nil
}

func (h *handler) clock(r *http.Request) (any, error) {
	now, err := h.svc.VirtualNow(r.Context())
	return Clock{Now: now.Format(time.RFC3339Nano)}, err
}

func (h *handler) moveClock(r *http.Request) (any, error) {
	var req ClockChange
	if err := decode(r.Body, &req); err != nil {
		return nil, err
	}
	var now time.Time
	var err error
	switch {
	case req.Advance != "" && req.Set == "":
		d, perr := time.ParseDuration(req.Advance)
		if perr != nil {
			return nil, statusError{http.StatusBadRequest, "advance must be a duration such as \"168h\" or \"30m\": " + perr.Error()}
		}
		if d > MaxClockMove {
			return nil, tooFar(d)
		}
		now, err = h.svc.AdvanceClock(r.Context(), d)
	case req.Set != "" && req.Advance == "":
		t, perr := time.Parse(time.RFC3339Nano, req.Set)
		if perr != nil {
			return nil, statusError{http.StatusBadRequest, "set must be an RFC 3339 time such as \"2030-01-01T00:00:00Z\": " + perr.Error()}
		}
		if now, err = h.svc.VirtualNow(r.Context()); err == nil && t.Sub(now) > MaxClockMove {
			return nil, tooFar(t.Sub(now))
		}
		if err == nil {
			now, err = h.svc.SetClock(r.Context(), t)
		}
	default:
		return nil, statusError{http.StatusBadRequest, "give exactly one of {\"advance\":\"168h\"} or {\"set\":\"<RFC 3339>\"}"}
	}
	return Clock{Now: now.Format(time.RFC3339Nano)}, err
}

func tooFar(d time.Duration) error {
	return statusError{http.StatusBadRequest, fmt.Sprintf("the clock moves at most %s (ten years) at a time, not %s: move it in steps", MaxClockMove, d)}
}

func (h *handler) activate(r *http.Request) (any, error) {
	c, err := h.svc.Activate(r.Context(), r.PathValue("id"))
	if err != nil {
		return nil, err
	}
	return struct{ Cluster *api.Cluster }{c}, nil
}

func (h *handler) takeBackup(r *http.Request) (any, error) {
	var req BackupCount
	if err := decodeOptional(r.Body, &req); err != nil {
		return nil, err
	}
	if req.Count == nil {
		b, err := h.svc.TakeBackup(r.Context(), r.PathValue("id"))
		if err != nil {
			return nil, err
		}
		return struct{ Backup *api.Backup }{b}, nil
	}
	if n := *req.Count; n < 1 || n > MaxBackupCount {
		return nil, statusError{http.StatusBadRequest, fmt.Sprintf("Count must be from 1 to %d, not %d (send no body for one backup)", MaxBackupCount, n)}
	}
	ids, err := h.svc.TakeBackups(r.Context(), r.PathValue("id"), *req.Count)
	if err != nil {
		return nil, err
	}
	return BackupsTaken{Count: len(ids), BackupIDs: ids}, nil
}

func (h *handler) reset(r *http.Request) (any, error) {
	var req ResetRequest
	if err := decodeOptional(r.Body, &req); err != nil {
		return nil, err
	}
	reset := h.svc.Reset
	if req.Clock {
		reset = h.svc.ResetToRealTime
	}
	if err := reset(r.Context()); err != nil {
		return nil, err
	}
	h.clearHistory()
	now, err := h.svc.VirtualNow(r.Context())
	if err != nil {
		return nil, err
	}
	return ResetDone{Status: "reset", Now: now.Format(time.RFC3339Nano)}, nil
}

// decodeOptional is decode for a body that may also be empty (or only white space), which
// leaves v as it is.
func decodeOptional(body io.Reader, v any) error {
	raw, err := io.ReadAll(body)
	if err != nil {
		return statusError{http.StatusBadRequest, "read the request body: " + err.Error()}
	}
	if len(bytes.TrimSpace(raw)) == 0 {
		return nil
	}
	return decode(bytes.NewReader(raw), v)
}

// decode reads exactly one JSON object into v, rejecting unknown fields and anything after it.
func decode(body io.Reader, v any) error {
	dec := json.NewDecoder(body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return statusError{http.StatusBadRequest, "request body must be a JSON object: " + err.Error()}
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return statusError{http.StatusBadRequest, "request body must be one JSON object, with nothing after it"}
	}
	return nil
}
