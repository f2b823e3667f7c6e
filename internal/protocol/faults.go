package protocol

import (
	"context"
	"fmt"
	"time"

	"github.com/cloudhsm-local/cloudhsm-local/internal/api"
	"github.com/cloudhsm-local/cloudhsm-local/internal/faults"
)

// Option configures NewHandler.
type Option func(*handler)

// Faults decides which requests fail or wait on purpose (docs/BEHAVIOUR.md §9); *faults.Set is one.
type Faults interface {
	// Decide MUST be safe for concurrent use and return at once (it must not sleep itself).
	// It is asked once per request of one of the 18 operations, after the caller is known
	// and before the input is decoded or anything is read or written.
	Decide(op string) faults.Outcome
}

// WithFaults makes the handler apply fault-injection rules: a matching request first waits for
// the rule's latency, then, if the rule has an error, is answered with it (as any other error:
// 500 for CloudHsmInternalFailureException, 400 for the rest, ThrottlingException included)
// without running the operation.
func WithFaults(f Faults) Option {
	return func(h *handler) { h.faults = f }
}

// injectFault applies the fault rules to a request of op, if op is an operation at all.
func (h *handler) injectFault(ctx context.Context, op string) error {
	if h.faults == nil || !h.operations[op] {
		return nil
	}
	out := h.faults.Decide(op)
	if out.Latency > 0 {
		timer := time.NewTimer(out.Latency)
		defer timer.Stop()
		select {
		case <-timer.C:
		case <-ctx.Done(): // the client gave up waiting; it will not read an answer
			return api.InternalFailure(fmt.Errorf("client went away during an injected latency of %s: %w", out.Latency, ctx.Err()))
		}
	}
	if out.Error != "" {
		return api.Errorf(api.ErrorCode(out.Error), "%s", out.Message)
	}
	return nil
}

// operationSet is the set of the service's operation names.
func operationSet() map[string]bool {
	ops := map[string]bool{}
	for _, op := range api.OperationNames() {
		ops[op] = true
	}
	return ops
}
