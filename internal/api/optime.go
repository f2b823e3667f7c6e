package api

import (
	"context"
	"time"
)

// OperationTime carries the virtual time an operation ran at from the Service back to the front
// door that called it (for the request history), through the call's context: the front door puts
// one in with WithOperationTime, the operation notes its time with NoteOperationTime, and the
// front door reads At once the call has returned. Without one in the context, noting costs one
// context lookup and does nothing.
type OperationTime struct {
	// At is the virtual time the operation last read, zero if it never did.
	At time.Time
}

// operationTimeKey is the context key of an *OperationTime.
type operationTimeKey struct{}

// WithOperationTime returns ctx carrying ot, which the operation called with it fills in.
func WithOperationTime(ctx context.Context, ot *OperationTime) context.Context {
	return context.WithValue(ctx, operationTimeKey{}, ot)
}

// NoteOperationTime records at as the virtual time of the operation running with ctx, if the
// front door asked for it. An operation that reads the clock more than once (a read that found
// something due and retried as a write) leaves the last time.
func NoteOperationTime(ctx context.Context, at time.Time) {
	if ot, ok := ctx.Value(operationTimeKey{}).(*OperationTime); ok {
		ot.At = at
	}
}
