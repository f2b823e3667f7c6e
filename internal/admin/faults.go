package admin

import (
	"errors"
	"net/http"

	"github.com/cloudhsm-local/cloudhsm-local/internal/faults"
)

// Option configures NewHandler.
type Option func(*handler)

// Faults is the fault-injection rule set the admin API manages; *faults.Set is one. Every
// method MUST be safe for concurrent use. Add MUST return an error wrapping
// faults.ErrInvalidRule, with a message for the user, for any rule it refuses.
type Faults interface {
	Add(faults.Rule) (faults.Status, error)
	List() []faults.Status
	Clear() int
	Active() int
}

// WithFaults serves the fault endpoints on f and counts its active rules in health. Without it
// the fault endpoints answer 404.
func WithFaults(f Faults) Option {
	return func(h *handler) { h.faults = f }
}

// FaultList is the body of GET /_cloudhsm-local/faults: every rule, in the order added.
type FaultList struct {
	Rules []faults.Status `json:"rules"`
}

// FaultAdded is the body of a successful POST /_cloudhsm-local/faults.
type FaultAdded struct {
	Rule faults.Status `json:"rule"`
}

// FaultsCleared is the body of DELETE /_cloudhsm-local/faults.
type FaultsCleared struct {
	Cleared int `json:"cleared"`
}

// faultRoutes registers the fault endpoints.
func (h *handler) faultRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET "+Prefix+"faults", h.wrap(h.listFaults))
	mux.HandleFunc("POST "+Prefix+"faults", h.wrap(h.addFault))
	mux.HandleFunc("DELETE "+Prefix+"faults", h.wrap(h.clearFaults))
}

var errNoFaults = statusError{http.StatusNotFound, "fault injection is not enabled on this server"}

func (h *handler) listFaults(*http.Request) (any, error) {
	if h.faults == nil {
		return nil, errNoFaults
	}
	rules := h.faults.List()
	if rules == nil {
		rules = []faults.Status{}
	}
	return FaultList{Rules: rules}, nil
}

func (h *handler) addFault(r *http.Request) (any, error) {
	if h.faults == nil {
		return nil, errNoFaults
	}
	var rule faults.Rule
	if err := decode(r.Body, &rule); err != nil {
		return nil, err
	}
	st, err := h.faults.Add(rule)
	if errors.Is(err, faults.ErrInvalidRule) {
		return nil, statusError{http.StatusBadRequest, err.Error()}
	}
	if err != nil {
		return nil, err
	}
	return FaultAdded{Rule: st}, nil
}

func (h *handler) clearFaults(*http.Request) (any, error) {
	if h.faults == nil {
		return nil, errNoFaults
	}
	return FaultsCleared{Cleared: h.faults.Clear()}, nil
}

// activeFaults is the health's count of rules that may still apply.
func (h *handler) activeFaults() int {
	if h.faults == nil {
		return 0
	}
	return h.faults.Active()
}
