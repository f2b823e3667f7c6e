// Package faults holds the fault-injection rules of one cloudhsm-local process (docs/BEHAVIOUR.md §9):
// which operations fail on purpose, with which error name, after how much added latency, and
// how often (a probability, or a number of times).
//
// A Set is safe for concurrent use. The awsJson front door asks it, once per request of a known
// operation and before the operation runs, what to do (Decide); the admin API adds, lists and
// clears its rules. This package must never touch the store or know HTTP: an injected error
// changes nothing, and the rules live only in the process that holds the Set.
package faults

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/cloudhsm-local/cloudhsm-local/internal/api"
)

// Limits of a rule set.
const (
	// MaxRules caps how many rules one Set holds (exhausted ones included, until Clear).
	MaxRules = 100
	// MaxLatency caps the latency one request can receive from all the rules of a set
	// together (and so each rule's): the HTTP server's write timeout (60 s by default) must stay
	// above it, or the response would be cut. Add refuses a rule that could take a request
	// past it.
	MaxLatency = 30 * time.Second
	// AnyOperation is the Operation of a rule that applies to every operation.
	AnyOperation = "*"
	// Throttling is the one error name a rule may use that is not in the CloudHSM v2 model:
	// the generic awsJson throttling error, which every AWS SDK retries with backoff.
	Throttling = "ThrottlingException"
)

// ErrInvalidRule wraps every reason a rule is refused by Add.
var ErrInvalidRule = errors.New("invalid fault rule")

// ErrorNames are the error names a rule may inject: the model's seven errors and Throttling.
func ErrorNames() []string {
	return []string{
		string(api.CodeAccessDenied),
		string(api.CodeInternalFailure),
		string(api.CodeInvalidRequest),
		string(api.CodeResourceLimitExceeded),
		string(api.CodeResourceNotFound),
		string(api.CodeService),
		string(api.CodeTag),
		Throttling,
	}
}

// Rule is one fault, as the admin API takes it:
//
//	{"operation":"RestoreBackup","error":"CloudHsmInternalFailureException","count":1}
//	{"operation":"*","latency":"250ms","probability":0.1}
//
// Operation is required. A rule needs an Error, a Latency, or both (the latency comes first).
// It applies to every matching request, to a random share of them (Probability), or to the
// next Count of them; Probability and Count exclude each other.
type Rule struct {
	Operation   string   `json:"operation"`
	Error       string   `json:"error,omitempty"`
	Latency     string   `json:"latency,omitempty"`
	Probability *float64 `json:"probability,omitempty"`
	Count       *int64   `json:"count,omitempty"`
}

// Status is a rule in the set, as the admin API lists it.
type Status struct {
	// ID numbers the rules of a set from 1 in the order they were added; Clear does not reuse IDs.
	ID int64 `json:"id"`
	Rule
	// Remaining is how many more requests a Count rule applies to (absent for other rules).
	Remaining *int64 `json:"remaining,omitempty"`
	// Applied is how many requests the rule has delayed or failed so far.
	Applied int64 `json:"applied"`
}

// Outcome is what to do with one request.
type Outcome struct {
	// Latency is how long to wait before answering (the sum over the rules that applied).
	Latency time.Duration
	// Error is the error name to answer with, "" to run the operation.
	Error string
	// Message is the error message: it names the rule, so users can tell an injected failure
	// from a real one.
	Message string
}

// rule is a validated Rule with its counters.
type rule struct {
	Status
	latency     time.Duration
	probability float64 // 1 when the rule has no Probability
}

// Set is an ordered list of rules. Its zero value is not usable; call New.
type Set struct {
	mu     sync.Mutex
	random io.Reader
	rules  []*rule
	nextID int64
}

// New returns an empty Set drawing the random numbers of Probability rules from random
// (nil means crypto/rand). The Set reads random only while holding its lock, so a reader that is
// not safe for concurrent use is fine as long as nothing else reads it.
func New(random io.Reader) *Set {
	if random == nil {
		random = rand.Reader
	}
	return &Set{random: random, nextID: 1}
}

// Add validates r and appends it; the error wraps ErrInvalidRule and says what is wrong.
func (s *Set) Add(r Rule) (Status, error) {
	n, err := compile(r)
	if err != nil {
		return Status{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.rules) >= MaxRules {
		return Status{}, fmt.Errorf("%w: the set already holds %d rules, the most it can; DELETE /_cloudhsm-local/faults clears them", ErrInvalidRule, MaxRules)
	}
	if op, total := s.worstLatency(n); total > MaxLatency {
		return Status{}, fmt.Errorf("%w: with this rule a request to %s could wait %s, and the rules of a set may add at most %s to one request "+
			"(the server's write timeout must outlast them); lower a latency or DELETE /_cloudhsm-local/faults first",
			ErrInvalidRule, op, total, MaxLatency)
	}
	n.ID = s.nextID
	s.nextID++
	s.rules = append(s.rules, n)
	return n.snapshot(), nil
}

// worstLatency returns the operation that n would delay most, and by how much at most in all:
// n's latency plus that of every rule that may still apply to the same requests, as if all of
// them fired. The caller holds s.mu.
func (s *Set) worstLatency(n *rule) (op string, total time.Duration) {
	ops := []string{n.Operation}
	if n.Operation == AnyOperation {
		ops = api.OperationNames()
	}
	for _, o := range ops {
		sum := n.latency
		for _, r := range s.rules {
			if !r.exhausted() && (r.Operation == AnyOperation || r.Operation == o) {
				sum += r.latency
			}
		}
		if sum > total {
			op, total = o, sum
		}
	}
	return op, total
}

// List returns every rule in the order added, exhausted Count rules included.
func (s *Set) List() []Status {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Status, len(s.rules))
	for i, r := range s.rules {
		out[i] = r.snapshot()
	}
	return out
}

// Clear removes every rule and returns how many there were.
func (s *Set) Clear() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := len(s.rules)
	s.rules = nil
	return n
}

// Active counts the rules that may still apply (all but exhausted Count rules).
func (s *Set) Active() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, r := range s.rules {
		if !r.exhausted() {
			n++
		}
	}
	return n
}

// Decide says what to do with one request to op. Rules are tried in the order they were added;
// each one that matches op and fires (its Count not spent, its Probability drawn) adds its
// latency, and the first that fires with an Error decides the answer: later rules are not
// tried, and their counts are not spent. Decide never blocks on anything but the Set's lock.
func (s *Set) Decide(op string) Outcome {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out Outcome
	for _, r := range s.rules {
		if r.Operation != AnyOperation && r.Operation != op {
			continue
		}
		if r.exhausted() || !s.draw(r.probability) {
			continue
		}
		r.Applied++
		if r.Remaining != nil {
			*r.Remaining--
		}
		out.Latency += r.latency
		if r.Error != "" {
			out.Error = r.Error
			out.Message = fmt.Sprintf("Injected by cloudhsm-local fault rule %d (%s on %s)", r.ID, r.Error, op)
			break
		}
	}
	return out
}

// draw reports whether an event of probability p happens; 0 never and 1 always do without
// reading the random source.
func (s *Set) draw(p float64) bool {
	switch {
	case p <= 0:
		return false
	case p >= 1:
		return true
	}
	var b [8]byte
	if _, err := io.ReadFull(s.random, b[:]); err != nil {
		return false // a broken source injects nothing rather than everything
	}
	return float64(binary.BigEndian.Uint64(b[:])>>11)/(1<<53) < p
}

func (r *rule) exhausted() bool { return r.Remaining != nil && *r.Remaining <= 0 }

// snapshot copies the rule's status, so callers never share its counters.
func (r *rule) snapshot() Status {
	st := r.Status
	if r.Remaining != nil {
		st.Remaining = ptr(*r.Remaining)
	}
	if r.Count != nil {
		st.Count = ptr(*r.Count)
	}
	if r.Probability != nil {
		st.Probability = ptr(*r.Probability)
	}
	return st
}

// compile checks every field of r and returns the rule ready to apply.
func compile(r Rule) (*rule, error) {
	invalid := func(format string, args ...any) error {
		return fmt.Errorf("%w: "+format, append([]any{ErrInvalidRule}, args...)...)
	}
	ops := api.OperationNames()
	switch {
	case r.Operation == "":
		return nil, invalid(`"operation" is required: %q or one of %s`, AnyOperation, strings.Join(ops, ", "))
	case r.Operation != AnyOperation && !slices.Contains(ops, r.Operation):
		return nil, invalid(`operation %q is not a CloudHSM v2 operation: use %q or one of %s`, api.Clip(r.Operation), AnyOperation, strings.Join(ops, ", "))
	}
	if r.Error != "" && !slices.Contains(ErrorNames(), r.Error) {
		return nil, invalid(`error %q is not one the rule can inject: use one of %s`, api.Clip(r.Error), strings.Join(ErrorNames(), ", "))
	}
	n := &rule{Status: Status{Rule: r}, probability: 1}
	n.Probability, n.Count = nil, nil // set below from copies: the caller keeps its pointers
	if r.Latency != "" {
		d, err := time.ParseDuration(r.Latency)
		if err != nil {
			return nil, invalid(`latency %q is not a Go duration such as "250ms" or "2s"`, api.Clip(r.Latency))
		}
		if d < 0 || d > MaxLatency {
			return nil, invalid(`latency %s is out of range: it must be between 0s and %s`, d, MaxLatency)
		}
		n.latency = d
	}
	if r.Error == "" && n.latency == 0 {
		return nil, invalid(`a rule needs an "error", a non-zero "latency", or both`)
	}
	switch {
	case r.Probability != nil && r.Count != nil:
		return nil, invalid(`give "probability" or "count", not both`)
	case r.Probability != nil:
		p := *r.Probability
		if math.IsNaN(p) || p < 0 || p > 1 {
			return nil, invalid(`probability %v is out of range: it must be between 0 and 1`, p)
		}
		n.probability, n.Probability = p, ptr(p)
	case r.Count != nil:
		if *r.Count < 1 {
			return nil, invalid(`count %d is out of range: it must be at least 1`, *r.Count)
		}
		n.Count, n.Remaining = ptr(*r.Count), ptr(*r.Count)
	}
	return n, nil
}

func ptr[T any](v T) *T { return &v }
