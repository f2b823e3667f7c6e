package cloudhsmlocal

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/cloudhsm-local/cloudhsm-local/internal/admin"
	"github.com/cloudhsm-local/cloudhsm-local/internal/faults"
)

// The admin methods below call the server's admin API (docs/BEHAVIOUR.md §9) over its own address,
// exactly as the cloudhsm-local subcommands do, with Options.AdminToken: they check and do what
// the admin API checks and does, nothing more.

// AdminError is an admin action the server refused. errors.Is matches it against
// ErrInvalidArgument, ErrNotFound and ErrConflict by its status.
type AdminError struct {
	// Action says what was asked, such as "activate cluster-abcdefghijk".
	Action string
	// StatusCode is the admin API's HTTP status: 400 for a bad argument, 404 for an unknown
	// cluster, 409 when the current state forbids the action (a cluster that is not
	// INITIALIZED, a clock moved backwards, ...), 500 for a failure of the server itself.
	StatusCode int
	// Message is the server's explanation.
	Message string
}

// The errors an AdminError matches with errors.Is.
var (
	ErrInvalidArgument = errors.New("cloudhsmlocal: invalid argument")
	ErrNotFound        = errors.New("cloudhsmlocal: not found")
	ErrConflict        = errors.New("cloudhsmlocal: refused in the current state")
)

func (e *AdminError) Error() string {
	return fmt.Sprintf("cloudhsmlocal: %s: %s (admin API status %d)", e.Action, e.Message, e.StatusCode)
}

// Is reports whether target is the sentinel error of e's status.
func (e *AdminError) Is(target error) bool {
	switch target {
	case ErrInvalidArgument:
		return e.StatusCode == http.StatusBadRequest
	case ErrNotFound:
		return e.StatusCode == http.StatusNotFound
	case ErrConflict:
		return e.StatusCode == http.StatusConflict
	}
	return false
}

// call sends one admin request and decodes its answer into out (when not nil).
func (s *Server) call(ctx context.Context, action, method, path string, body, out any) error {
	if s.isClosed() {
		return fmt.Errorf("%s: %w", action, ErrClosed)
	}
	raw, err := s.admin.Call(ctx, method, path, body)
	if err != nil {
		return adminError(action, err)
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			return fmt.Errorf("cloudhsmlocal: %s: decode the answer %q: %w", action, raw, err)
		}
	}
	return nil
}

// adminError is the error of an admin call: an *AdminError for a refusal, else err with what
// was asked.
func adminError(action string, err error) error {
	var se *admin.StatusError
	if errors.As(err, &se) {
		msg := se.Message
		if msg == "" {
			msg = se.Body
		}
		return &AdminError{Action: action, StatusCode: se.StatusCode, Message: msg}
	}
	return fmt.Errorf("cloudhsmlocal: %s: %w", action, err)
}

// Now returns the virtual time: wall time plus how far the clock was moved.
func (s *Server) Now(ctx context.Context) (time.Time, error) {
	var out admin.Clock
	if err := s.call(ctx, "read the clock", http.MethodGet, "clock", nil, &out); err != nil {
		return time.Time{}, err
	}
	return parseClock(out)
}

// Advance moves the virtual clock forward by d and applies everything that became due, day by
// day in time order (daily backups, retention, expiry). d must not be negative (ErrConflict)
// nor more than ten years (ErrInvalidArgument).
func (s *Server) Advance(ctx context.Context, d time.Duration) error {
	return s.call(ctx, "advance the clock by "+d.String(), http.MethodPost, "clock", admin.ClockChange{Advance: d.String()}, nil)
}

// SetTime moves the virtual clock forward to t, as Advance does. A t before the virtual time
// is refused (ErrConflict): the clock never goes back.
func (s *Server) SetTime(ctx context.Context, t time.Time) error {
	text := t.UTC().Format(time.RFC3339Nano)
	return s.call(ctx, "set the clock to "+text, http.MethodPost, "clock", admin.ClockChange{Set: text}, nil)
}

// parseClock reads the admin API's clock.
func parseClock(c admin.Clock) (time.Time, error) {
	t, err := time.Parse(time.RFC3339Nano, c.Now)
	if err != nil {
		return time.Time{}, fmt.Errorf("cloudhsmlocal: the server's clock %q is not RFC 3339: %w", c.Now, err)
	}
	return t, nil
}

// Activate makes an INITIALIZED cluster ACTIVE, as the CloudHSM CLI does in AWS, and takes a
// backup. The cluster may be in any account and region. An unknown cluster is ErrNotFound, one
// in another state ErrConflict.
func (s *Server) Activate(ctx context.Context, clusterID string) error {
	return s.call(ctx, "activate "+clusterID, http.MethodPost, "clusters/"+url.PathEscape(clusterID)+"/activate", nil, nil)
}

// TakeBackup backs up an ACTIVE cluster now and returns the new backup's ID.
func (s *Server) TakeBackup(ctx context.Context, clusterID string) (backupID string, err error) {
	var out struct{ Backup struct{ BackupId string } }
	err = s.call(ctx, "back up "+clusterID, http.MethodPost, "clusters/"+url.PathEscape(clusterID)+"/backups", nil, &out)
	return out.Backup.BackupId, err
}

// TakeBackups backs up an ACTIVE cluster n times (1 to 10,000) in one transaction, 1 ms of
// virtual time apart, and returns the backups' IDs, oldest first.
func (s *Server) TakeBackups(ctx context.Context, clusterID string, n int) (backupIDs []string, err error) {
	var out admin.BackupsTaken
	err = s.call(ctx, fmt.Sprintf("back up %s %d times", clusterID, n), http.MethodPost,
		"clusters/"+url.PathEscape(clusterID)+"/backups", admin.BackupCount{Count: &n}, &out)
	return out.BackupIDs, err
}

// Reset empties the store: every resource of every account and region. The virtual clock keeps
// its time.
func (s *Server) Reset(ctx context.Context) error {
	return s.call(ctx, "reset", http.MethodPost, "reset", nil, nil)
}

// AnyOperation is the FaultRule.Operation that matches every operation.
const AnyOperation = "*"

// FaultRule makes requests fail or wait on purpose (README.md, "Fault injection"). It names an
// Operation and needs an Error, a Latency or both (the latency comes first). It applies to
// every matching request, to a share of them (Probability), or to the next Count of them.
type FaultRule struct {
	// Operation is a CloudHSM v2 operation such as "RestoreBackup", or AnyOperation.
	Operation string
	// Error is the error name to answer with: one of the model's seven errors (such as
	// "CloudHsmInternalFailureException") or "ThrottlingException"; empty for latency only.
	Error string
	// Latency is added before the answer, at most 30 s.
	Latency time.Duration
	// Probability, in (0, 1], is the share of matching requests the rule applies to; 0 means
	// every one (or the next Count).
	Probability float64
	// Count limits the rule to the next Count matching requests; 0 means no limit. Not
	// together with Probability.
	Count int64
}

// Fault is a fault rule of the server, with its counters.
type Fault struct {
	// ID numbers the rules from 1 in the order they were added.
	ID int64
	FaultRule
	// Remaining is how many more requests a Count rule applies to; 0 for other rules.
	Remaining int64
	// Applied is how many requests the rule has delayed or failed so far.
	Applied int64
}

// AddFault adds a fault rule after those already there and returns it with its ID. A rule the
// server refuses is ErrInvalidArgument, with the reason.
func (s *Server) AddFault(ctx context.Context, rule FaultRule) (Fault, error) {
	in := faults.Rule{Operation: rule.Operation, Error: rule.Error}
	if rule.Latency != 0 {
		in.Latency = rule.Latency.String()
	}
	if rule.Probability != 0 {
		in.Probability = &rule.Probability
	}
	if rule.Count != 0 {
		in.Count = &rule.Count
	}
	var out admin.FaultAdded
	if err := s.call(ctx, "add a fault rule", http.MethodPost, "faults", in, &out); err != nil {
		return Fault{}, err
	}
	return fault(out.Rule)
}

// Faults returns the server's fault rules in the order they were added, used-up ones included.
func (s *Server) Faults(ctx context.Context) ([]Fault, error) {
	var out admin.FaultList
	if err := s.call(ctx, "list the fault rules", http.MethodGet, "faults", nil, &out); err != nil {
		return nil, err
	}
	list := make([]Fault, len(out.Rules))
	for i, st := range out.Rules {
		f, err := fault(st)
		if err != nil {
			return nil, err
		}
		list[i] = f
	}
	return list, nil
}

// ClearFaults removes every fault rule and returns how many there were.
func (s *Server) ClearFaults(ctx context.Context) (int, error) {
	var out admin.FaultsCleared
	err := s.call(ctx, "clear the fault rules", http.MethodDelete, "faults", nil, &out)
	return out.Cleared, err
}

// fault converts the admin API's view of a rule.
func fault(st faults.Status) (Fault, error) {
	f := Fault{ID: st.ID, Applied: st.Applied, FaultRule: FaultRule{Operation: st.Operation, Error: st.Error}}
	if st.Latency != "" {
		d, err := time.ParseDuration(st.Latency)
		if err != nil {
			return Fault{}, fmt.Errorf("cloudhsmlocal: fault rule %d: latency %q: %w", st.ID, st.Latency, err)
		}
		f.Latency = d
	}
	if st.Probability != nil {
		f.Probability = *st.Probability
	}
	if st.Count != nil {
		f.Count = *st.Count
	}
	if st.Remaining != nil {
		f.Remaining = *st.Remaining
	}
	return f, nil
}
