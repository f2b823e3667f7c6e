package protocol

import (
	"context"
	"net/http"
	"time"

	"github.com/cloudhsm-local/cloudhsm-local/internal/api"
	"github.com/cloudhsm-local/cloudhsm-local/internal/clock"
	"github.com/cloudhsm-local/cloudhsm-local/internal/history"
	"github.com/cloudhsm-local/cloudhsm-local/internal/identity"
)

// Recorder keeps the request history (BEHAVIOUR.md §9); *history.Ring is one.
type Recorder interface {
	// Add MUST be safe for concurrent use and return at once: it runs on the request's own
	// goroutine, after the answer is written. It is called once for every request to the API's
	// path "/", whatever its outcome, with nothing but the fields of history.Request — never a
	// header, a body, a secret or a signature.
	Add(history.Request)
}

// WithRecorder makes the handler record every request to the API's path in r, timed by clk
// (the wall clock). Without it nothing is recorded and nothing is spent on it.
func WithRecorder(r Recorder, clk clock.Clock) Option {
	return func(h *handler) { h.recorder, h.clock = r, clk }
}

// exchange is what the handler learns about one request for its history record, on the way in;
// nil when nothing is recorded (its methods then do nothing).
type exchange struct {
	start  time.Time
	caller identity.Caller
	input  any // the decoded input, once decoding started
	ran    api.OperationTime
}

// resourceNamer is an input or output shape that names clusters, backups or HSMs (the generated
// AppendResourceIDs).
type resourceNamer interface {
	AppendResourceIDs(ids []string) []string
}

// startExchange begins the record of a request, or returns nil when it is not recorded: without
// a Recorder, and for paths other than the API's (they are not API calls).
func (h *handler) startExchange(r *http.Request) *exchange {
	if h.recorder == nil || r.URL.Path != "/" {
		return nil
	}
	return &exchange{start: h.clock.Now()}
}

// identified notes the caller, and returns ctx carrying where the operation notes its virtual
// time.
func (x *exchange) identified(ctx context.Context, c identity.Caller) context.Context {
	if x == nil {
		return ctx
	}
	x.caller = c
	return api.WithOperationTime(ctx, &x.ran)
}

// decoding notes the input being decoded.
func (x *exchange) decoding(in any) {
	if x != nil {
		x.input = in
	}
}

// record adds the finished request to the history. The answer is already written: its status
// and error name are those writeResult or writeError sent (the X-Amzn-ErrorType header).
func (h *handler) record(x *exchange, w http.ResponseWriter, reqID, op string, out any) {
	if x == nil {
		return
	}
	end := h.clock.Now()
	code := w.Header().Get(headerErrorType)
	status := http.StatusOK
	if code != "" {
		status = api.ErrorCode(code).Status()
	}
	if !h.operations[op] {
		op = api.Clip(op) // an unknown name is the client's text; keep it bounded
	}
	var ids []string
	if in, ok := x.input.(resourceNamer); ok {
		ids = in.AppendResourceIDs(ids)
	}
	if o, ok := out.(resourceNamer); ok && code == "" {
		ids = o.AppendResourceIDs(ids)
	}
	h.recorder.Add(history.Request{
		Time: x.start, VirtualTime: x.ran.At, RequestID: reqID, Operation: op,
		Account: x.caller.Account, Region: x.caller.Region, AccessKeyID: x.caller.AccessKeyID,
		Status: status, Error: code, Duration: end.Sub(x.start), ResourceIDs: ids,
	})
}
