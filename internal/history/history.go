// Package history keeps the request history of one server process: the most recent calls of the
// CloudHSM v2 API, newest first, in a ring of fixed capacity (GET /_cloudhsm-local/requests,
// BEHAVIOUR.md §9), so that a test can check what its code did.
//
// A Ring lives in the process that answered the requests: it is never stored, so every replica
// keeps its own and a restart forgets it. It must never hold a secret, a signature, a session
// token or a request body: a Request has only the fields below, filled by the front door from
// what it already knows.
package history

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/cloudhsm-local/cloudhsm-local/internal/api"
)

// Capacity bounds.
const (
	// DefaultCapacity is how many requests a server keeps unless told otherwise.
	DefaultCapacity = 1000
	// MaxCapacity bounds a Ring (and so the answer that lists it whole): each Request holds at
	// most api.MaxResourceIDs IDs, so a full ring stays within a few tens of MiB.
	MaxCapacity = 10_000
)

// Request is one API call.
type Request struct {
	// Time is the wall time the request arrived; VirtualTime the virtual time its operation ran
	// at, zero when it was refused before it reached the operation (authentication, an unknown
	// operation, an injected fault, an invalid body or member).
	Time, VirtualTime time.Time
	// RequestID is the x-amzn-RequestId of the answer.
	RequestID string
	// Operation is the X-Amz-Target operation, empty when the request named none.
	Operation string
	// Account, Region and AccessKeyID are the caller's, empty when the request was not
	// authenticated.
	Account, Region, AccessKeyID string
	// Status is the HTTP status of the answer; Error its error name, empty on success.
	Status int
	Error  string
	// Duration is how long the answer took, from arrival to the last byte written.
	Duration time.Duration
	// ResourceIDs are the clusters, backups and HSMs that the request and its answer name, each
	// once, in order of appearance, at most api.MaxResourceIDs of them.
	ResourceIDs []string
}

// Ring keeps the last Capacity requests. Its methods are safe for concurrent use.
type Ring struct {
	mu   sync.Mutex
	buf  []Request // fixed length: the capacity
	next int       // where the next request goes
	n    int       // how many requests buf holds
}

// New returns an empty Ring that keeps the last capacity requests; capacity must be from 1 to
// MaxCapacity.
func New(capacity int) (*Ring, error) {
	if capacity < 1 || capacity > MaxCapacity {
		return nil, fmt.Errorf("history: a capacity of %d requests: want 1 to %d (0 turns the history off)", capacity, MaxCapacity)
	}
	return &Ring{buf: make([]Request, capacity)}, nil
}

// Capacity returns how many requests r keeps.
func (r *Ring) Capacity() int { return len(r.buf) }

// Add records a request, forgetting the oldest when r is full. r keeps req as it is: the caller
// must not change req.ResourceIDs afterwards.
func (r *Ring) Add(req Request) {
	r.mu.Lock()
	r.buf[r.next] = req
	r.next = (r.next + 1) % len(r.buf)
	r.n = min(r.n+1, len(r.buf))
	r.mu.Unlock()
}

// Clear forgets every request and returns how many there were.
func (r *Ring) Clear() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := r.n
	clear(r.buf) // let the IDs go
	r.next, r.n = 0, 0
	return n
}

// Filter selects requests; an empty field does not filter, and the fields that are set must all
// match.
type Filter struct {
	// Operation is one of the API's operations, such as "RestoreBackup".
	Operation string
	// Account is a 12-digit account id; Region a region such as "us-east-1".
	Account, Region string
	// Error is an error name such as "CloudHsmInvalidRequestException", or AnyError.
	Error string
	// Limit is the most requests to return; 0 returns every match.
	Limit int
}

// AnyError is the Filter.Error that selects every request that failed.
const AnyError = "*"

// Validate says what is wrong with f, naming the field as the admin API's query parameter.
func (f Filter) Validate() error {
	var problems []string
	if f.Operation != "" && !slices.Contains(api.OperationNames(), f.Operation) {
		problems = append(problems, fmt.Sprintf("operation %q is not an operation of the API (one of %s)", api.Clip(f.Operation), strings.Join(api.OperationNames(), ", ")))
	}
	if f.Account != "" && !api.IsAccountID(f.Account) {
		problems = append(problems, fmt.Sprintf("account %q is not a 12-digit account id", api.Clip(f.Account)))
	}
	if f.Region != "" && !api.IsRegion(f.Region) {
		problems = append(problems, fmt.Sprintf("region %q is not a region such as us-east-1", api.Clip(f.Region)))
	}
	if f.Error != "" && f.Error != AnyError && !isErrorName(f.Error) {
		problems = append(problems, fmt.Sprintf("error %q is not an error name such as CloudHsmInvalidRequestException (or * for any error)", api.Clip(f.Error)))
	}
	if f.Limit < 0 || f.Limit > MaxCapacity {
		problems = append(problems, fmt.Sprintf("limit %d is not from 1 to %d", f.Limit, MaxCapacity))
	}
	if len(problems) > 0 {
		return fmt.Errorf("%s", strings.Join(problems, "; "))
	}
	return nil
}

// isErrorName reports whether s looks like an error name: ASCII letters ending in "Exception".
func isErrorName(s string) bool {
	if len(s) > 128 || !strings.HasSuffix(s, "Exception") {
		return false
	}
	for i := range len(s) {
		if c := s[i] | 0x20; c < 'a' || c > 'z' {
			return false
		}
	}
	return true
}

// matches reports whether req passes f.
func (f Filter) matches(req *Request) bool {
	return (f.Operation == "" || req.Operation == f.Operation) &&
		(f.Account == "" || req.Account == f.Account) &&
		(f.Region == "" || req.Region == f.Region) &&
		(f.Error == "" || req.Error == f.Error || (f.Error == AnyError && req.Error != ""))
}

// Recent returns the newest limit requests, newest first (the console's Requests page).
func (r *Ring) Recent(limit int) []Request { return r.Query(Filter{Limit: limit}) }

// Query returns the requests that pass f, newest first (in the order they were added), at most
// f.Limit of them. f must be valid (Filter.Validate).
func (r *Ring) Query(f Filter) []Request {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := []Request{}
	for i := range r.n {
		req := &r.buf[(r.next-1-i+len(r.buf))%len(r.buf)]
		if !f.matches(req) {
			continue
		}
		out = append(out, *req)
		if len(out) == f.Limit {
			break
		}
	}
	return out
}
