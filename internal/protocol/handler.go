// Package protocol is the awsJson1_1 front door of the CloudHSM v2 API: it turns an HTTP request
// into one call of api.Service and the result into the wire response (docs/API.md §2,
// docs/BEHAVIOUR.md §8).
//
// One request goes: path and method → body (capped at MaxBodyBytes) → caller identity
// (identity.Resolver, stored in the context with identity.WithCaller) → X-Amz-Target →
// JSON decoding into the typed input → api.Invoke (validation, then the operation) → JSON out →
// the request history (history.go), when the server keeps one.
// Every failure on that way is an error value written by one function, writeError, as
// {"__type": <name>, "message": <text>} with the X-Amzn-ErrorType header; every response carries
// x-amzn-RequestId.
//
// This package must never know the rules of any operation (backups, clusters, quotas), the
// storage, or how identities are verified: those live behind api.Service and identity.Resolver.
package protocol

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"reflect"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"

	"github.com/google/uuid"

	"github.com/cloudhsm-local/cloudhsm-local/internal/api"
	"github.com/cloudhsm-local/cloudhsm-local/internal/clock"
	"github.com/cloudhsm-local/cloudhsm-local/internal/identity"
)

const (
	// TargetPrefix starts the X-Amz-Target header of every operation: "BaldrApiService.<Operation>".
	TargetPrefix = "BaldrApiService."
	// ContentType is the media type of every response. Requests may use any Content-Type
	// (application/x-amz-json-1.1, 1.0, application/json, or none): it is not checked.
	ContentType = "application/x-amz-json-1.1"
	// MaxBodyBytes is the largest request body accepted (1 MiB); a larger one is answered with a
	// SerializationException.
	MaxBodyBytes = 1 << 20
)

// Header names written on responses.
const (
	headerRequestID = "X-Amzn-Requestid" // AWS spells it x-amzn-RequestId; header names are case-insensitive
	headerErrorType = "X-Amzn-Errortype"
	headerTarget    = "X-Amz-Target"
)

// NewHandler returns the http.Handler of the CloudHSM v2 API.
//
// It answers only the root path "/": any other path gets 404 with an UnknownOperationException
// body (mount other front doors, such as the admin API, on their own paths in front of it). On
// "/", a method other than POST gets 400 UnknownOperationException, as does a missing or unknown
// X-Amz-Target. The caller's identity comes from ids before the operation is looked up, so a
// request that fails authentication learns nothing about the API.
//
// logger receives internal failures (with their cause, stack for panics, and request id) at
// Error level, and one line per request at Debug level (finish); nil discards them.
// newRequestID makes the x-amzn-RequestId of each response; nil means uuid.NewString. Options
// add fault injection (WithFaults), an Observer of every request (WithObserver) and the request
// history (WithRecorder).
func NewHandler(svc api.Service, ids identity.Resolver, logger *slog.Logger, newRequestID func() string, opts ...Option) http.Handler {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if newRequestID == nil {
		newRequestID = uuid.NewString
	}
	h := &handler{svc: svc, ids: ids, log: logger, newRequestID: newRequestID, operations: operationSet()}
	for _, opt := range opts {
		opt(h)
	}
	return h
}

type handler struct {
	svc          api.Service
	ids          identity.Resolver
	log          *slog.Logger
	newRequestID func() string
	operations   map[string]bool // the service's operation names
	faults       Faults          // nil: no fault injection
	observer     Observer        // nil: requests are only logged
	buffers      bufferPool      // response bodies
	recorder     Recorder        // nil: no request history (history.go)
	clock        clock.Clock     // times the history; set with recorder
}

// ServeHTTP handles one request; every outcome leaves through writeResult or writeError, and
// then finish (observe.go) logs and counts it and record (history.go) adds it to the history.
func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := clock.Start()
	reqID := h.newRequestID()
	w.Header().Set(headerRequestID, reqID)
	x := h.startExchange(r) // history.go; nil when not recorded
	var caller identity.Caller
	op, out, err := h.serve(w, r, &caller, x)
	var a answer
	if err != nil {
		a = h.writeError(w, r, reqID, op, err)
	} else {
		a = h.writeResult(w, r, reqID, op, out)
	}
	h.finish(r, reqID, op, caller, a, start)
	h.record(x, w, reqID, op, out)
}

// serve runs the request and returns the operation name (once known) and its output; it sets
// *who to the caller once identified, and x, when not nil, learns the caller and the input on
// the way.
func (h *handler) serve(w http.ResponseWriter, r *http.Request, who *identity.Caller, x *exchange) (op string, out any, err error) {
	if r.URL.Path != "/" {
		return "", nil, &pathError{api.Errorf(api.CodeUnknownOperation,
			"No API at path '%s': the CloudHSM v2 API is POST / with an X-Amz-Target header", api.Clip(r.URL.Path))}
	}
	if r.Method != http.MethodPost {
		return "", nil, api.Errorf(api.CodeUnknownOperation,
			"Method %s is not supported: call an operation with POST / and an X-Amz-Target header", api.Clip(r.Method))
	}
	body, err := readBody(w, r)
	if err != nil {
		return "", nil, err
	}

	// Strict mode verifies the signature, which covers the payload: give Resolve a request
	// whose body can still be read.
	idReq := r.WithContext(r.Context())
	idReq.Body = io.NopCloser(bytes.NewReader(body))
	caller, err := h.ids.Resolve(idReq)
	if err != nil {
		return "", nil, err
	}
	*who = caller
	ctx := x.identified(identity.WithCaller(r.Context(), caller), caller)

	op, err = operationOf(r.Header.Get(headerTarget))
	if err != nil {
		return "", nil, err
	}
	if err := h.injectFault(ctx, op); err != nil { // faults.go: before the operation runs
		return op, nil, err
	}
	out, err = h.invoke(ctx, op, body, x)
	if errors.Is(err, api.ErrUnknownOperation) {
		return op, nil, api.Errorf(api.CodeUnknownOperation, "Unknown operation '%s%s'", TargetPrefix, api.Clip(op))
	}
	return op, out, err
}

// readBody reads the whole request body, refusing more than MaxBodyBytes.
func readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	if r.Body == nil {
		return nil, nil
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		return nil, api.Errorf(api.CodeSerialization,
			"Request body is larger than the limit of %d bytes (1 MiB)", int64(MaxBodyBytes))
	case err != nil:
		return nil, api.Errorf(api.CodeSerialization, "Request body could not be read: %v", err)
	}
	return body, nil
}

// operationOf returns the operation named by an X-Amz-Target header value.
func operationOf(target string) (string, error) {
	target = strings.TrimSpace(target)
	if target == "" {
		return "", api.Errorf(api.CodeUnknownOperation,
			"Missing X-Amz-Target header: expected %s<Operation>", TargetPrefix)
	}
	op, ok := strings.CutPrefix(target, TargetPrefix)
	if !ok || op == "" {
		return "", api.Errorf(api.CodeUnknownOperation,
			"Unknown operation '%s': X-Amz-Target must be %s<Operation>", api.Clip(target), TargetPrefix)
	}
	return op, nil
}

// invoke decodes, validates and runs op, turning a panic in the service into an internal failure
// that keeps the stack for the log; x, when not nil, notes the input.
func (h *handler) invoke(ctx context.Context, op string, body []byte, x *exchange) (out any, err error) {
	defer func() {
		if p := recover(); p != nil {
			if p == http.ErrAbortHandler { // net/http's own way to abort a response
				panic(p)
			}
			err = api.InternalFailure(&panicError{value: p, stack: debug.Stack()})
		}
	}()
	in, out, err := api.Invoke(ctx, h.svc, op, body)
	x.decoding(in)
	return out, err
}

// jsonAppender is an output that writes its own JSON: every output shape of package api does
// (its generated AppendJSON), byte for byte as encoding/json would, without reflection.
type jsonAppender interface {
	AppendJSON(b []byte) []byte
}

// writeResult writes a successful output; a nil output (for example of TagResource) is {}.
// The JSON is encoded completely before anything is written, so an encoding failure is a clean 500.
// It returns what it wrote (an error, if encoding failed).
func (h *handler) writeResult(w http.ResponseWriter, r *http.Request, reqID, op string, out any) answer {
	buf := h.buffers.get()
	defer h.buffers.put(buf)
	body := append((*buf)[:0], "{}"...)
	if !isNil(out) {
		a, ok := out.(jsonAppender)
		if !ok {
			return h.writeError(w, r, reqID, op, api.InternalFailure(fmt.Errorf("encoding the %s response: %T has no AppendJSON", op, out)))
		}
		body = a.AppendJSON((*buf)[:0])
	}
	*buf = body // keep the grown buffer
	write(w, http.StatusOK, body)
	return answer{status: http.StatusOK}
}

// bufferPool recycles response buffers: a page of 50 backups is 14 KiB of JSON, which would
// otherwise be grown from nothing on every request.
type bufferPool struct{ pool sync.Pool }

// maxPooledBuffer is the largest buffer kept for reuse; a rare larger response (a page of
// clusters with their certificates) does not pin its buffer.
const maxPooledBuffer = 64 << 10

// get returns an empty buffer.
func (p *bufferPool) get() *[]byte {
	if buf, ok := p.pool.Get().(*[]byte); ok {
		return buf
	}
	buf := make([]byte, 0, 4<<10)
	return &buf
}

// put gives buf back for reuse; nothing may use it afterwards.
func (p *bufferPool) put(buf *[]byte) {
	if cap(*buf) <= maxPooledBuffer {
		p.pool.Put(buf)
	}
}

// errorBody is the awsJson error document: exactly these two members.
type errorBody struct {
	Type    string `json:"__type"`
	Message string `json:"message"`
}

// writeError is the one place where errors become responses: api.AsError decides the name and
// message the client sees (anything unexpected is CloudHsmInternalFailureException), the name's
// Status the HTTP status. Internal failures are logged with their cause, which the client never
// sees; every other error is in the request's own log line (finish). It returns what it wrote.
func (h *handler) writeError(w http.ResponseWriter, r *http.Request, reqID, op string, err error) answer {
	e := api.AsError(err)
	message := api.BoundMessage(e.Message)
	status := e.Code.Status()
	var pe *pathError
	if errors.As(err, &pe) {
		status = http.StatusNotFound
	}

	if e.Code == api.CodeInternalFailure {
		cause := e.Unwrap()
		if cause == nil {
			cause = err
		}
		attrs := []any{"request_id", reqID, "operation", op, "status", status, "code", string(e.Code), "cause", cause.Error()}
		var p *panicError
		if errors.As(cause, &p) {
			attrs = append(attrs, "stack", string(p.stack))
		}
		h.log.ErrorContext(r.Context(), "internal failure", attrs...)
	}

	body, mErr := json.Marshal(errorBody{Type: string(e.Code), Message: message})
	if mErr != nil { // two strings always marshal; keep the response well-formed regardless
		body = []byte(`{"__type":"` + string(api.CodeInternalFailure) + `","message":""}`)
	}
	w.Header().Set(headerErrorType, string(e.Code))
	write(w, status, body)
	return answer{status: status, code: e.Code, message: message}
}

// write sends a complete JSON response in one piece.
func write(w http.ResponseWriter, status int, body []byte) {
	w.Header().Set("Content-Type", ContentType)
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body) // the client has gone away; nothing left to tell it
}

// pathError marks an error about a path that is not the API, answered with 404.
type pathError struct{ err *api.Error }

func (e *pathError) Error() string { return e.err.Error() }
func (e *pathError) Unwrap() error { return e.err }

// panicError is a panic recovered from the service, with the stack where it happened.
type panicError struct {
	value any
	stack []byte
}

func (e *panicError) Error() string { return fmt.Sprintf("panic: %v", e.value) }

// isNil reports whether an operation returned no output at all (nil, or a nil pointer).
func isNil(out any) bool {
	if out == nil {
		return true
	}
	v := reflect.ValueOf(out)
	return v.Kind() == reflect.Pointer && v.IsNil()
}
