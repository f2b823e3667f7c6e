package admin

import (
	"fmt"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/cloudhsm-local/cloudhsm-local/internal/api"
	"github.com/cloudhsm-local/cloudhsm-local/internal/history"
)

// History is the request history the admin API lists and reset clears; *history.Ring is one.
// Both methods MUST be safe for concurrent use; Query is only given valid filters.
type History interface {
	Query(history.Filter) []history.Request
	Clear() int
}

// WithHistory serves GET /_cloudhsm-local/requests from h and makes reset clear it. Without it
// the endpoint answers 404 (the history is off).
func WithHistory(h History) Option {
	return func(a *handler) { a.history = h }
}

// RequestList is the body of GET /_cloudhsm-local/requests: the requests that pass the filters,
// newest first.
type RequestList struct {
	Requests []Request `json:"Requests"`
}

// Request is one API call of the history. Empty strings are left out. It never holds a secret,
// a signature or a body.
type Request struct {
	// Time is the wall time the request arrived and VirtualTime the virtual time its operation
	// ran at (absent when it was refused before: authentication, validation, an injected
	// fault), both RFC 3339.
	Time        string `json:"Time"`
	VirtualTime string `json:"VirtualTime,omitempty"`
	RequestID   string `json:"RequestId"`
	Operation   string `json:"Operation,omitempty"`
	// Account, Region and AccessKeyId are the caller's (absent when it was not authenticated).
	Account     string `json:"Account,omitempty"`
	Region      string `json:"Region,omitempty"`
	AccessKeyID string `json:"AccessKeyId,omitempty"`
	// Status is the answer's HTTP status and Error its error name (absent on success).
	Status int    `json:"Status"`
	Error  string `json:"Error,omitempty"`
	// DurationMs is how long the answer took, in milliseconds (to the microsecond).
	DurationMs float64 `json:"DurationMs"`
	// ResourceIds are the clusters, backups and HSMs the request and its answer name, each
	// once, at most 100.
	ResourceIDs []string `json:"ResourceIds"`
}

// requestFilters are the query parameters of GET /_cloudhsm-local/requests.
var requestFilters = []string{"operation", "account", "region", "error", "limit"}

// requestsRoutes registers the request history's endpoint.
func (h *handler) requestsRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET "+Prefix+"requests", h.wrap(h.requests))
}

func (h *handler) requests(r *http.Request) (any, error) {
	if h.history == nil {
		return nil, statusError{http.StatusNotFound, "the request history is off on this server (it was started with --history 0)"}
	}
	f, err := parseRequestFilter(r)
	if err != nil {
		return nil, statusError{http.StatusBadRequest, err.Error()}
	}
	found := h.history.Query(f)
	out := RequestList{Requests: make([]Request, len(found))}
	for i, req := range found {
		out.Requests[i] = requestView(req)
	}
	return out, nil
}

// parseRequestFilter reads the filters of the query string, each at most once, and validates
// them.
func parseRequestFilter(r *http.Request) (history.Filter, error) {
	q := r.URL.Query()
	for name, values := range q {
		if !slices.Contains(requestFilters, name) {
			return history.Filter{}, fmt.Errorf("unknown filter %q: the filters are %s", api.Clip(name), strings.Join(requestFilters, ", "))
		}
		if len(values) > 1 {
			return history.Filter{}, fmt.Errorf("filter %s is given %d times: give it once", name, len(values))
		}
	}
	f := history.Filter{Operation: q.Get("operation"), Account: q.Get("account"), Region: q.Get("region"), Error: q.Get("error")}
	if q.Has("limit") {
		n, err := strconv.Atoi(q.Get("limit"))
		if err != nil || n < 1 {
			return history.Filter{}, fmt.Errorf("limit %q is not a number from 1 to %d", api.Clip(q.Get("limit")), history.MaxCapacity)
		}
		f.Limit = n
	}
	if err := f.Validate(); err != nil {
		return history.Filter{}, err
	}
	return f, nil
}

// requestView is the admin API's JSON of a history.Request.
func requestView(r history.Request) Request {
	v := Request{
		Time: r.Time.Format(time.RFC3339Nano), RequestID: r.RequestID, Operation: r.Operation,
		Account: r.Account, Region: r.Region, AccessKeyID: r.AccessKeyID, Status: r.Status, Error: r.Error,
		DurationMs: math.Round(float64(r.Duration.Microseconds())) / 1000, ResourceIDs: r.ResourceIDs,
	}
	if !r.VirtualTime.IsZero() {
		v.VirtualTime = r.VirtualTime.Format(time.RFC3339Nano)
	}
	if v.ResourceIDs == nil {
		v.ResourceIDs = []string{}
	}
	return v
}

// clearHistory forgets the request history, if the server keeps one (reset does this).
func (h *handler) clearHistory() {
	if h.history != nil {
		h.history.Clear()
	}
}
