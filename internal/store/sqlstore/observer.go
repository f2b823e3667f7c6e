package sqlstore

// Observer is told what the store does, for metrics. Its methods MUST be safe for concurrent
// use, return at once and never call the store.
type Observer interface {
	// Batch is called once per Update transaction with how many Updates it held (group
	// commit: 1 when an Update ran alone, up to maxBatch under load).
	Batch(updates int)
	// Failure is called once for each of the store's own steps around a transaction that the
	// database refused: StepBegin, StepLock, StepSavepoint or StepCommit. An error of the
	// function an Update or View runs is its caller's to report, not a Failure.
	Failure(step string)
}

// The steps Observer.Failure names.
const (
	StepBegin     = "begin"     // beginning a transaction
	StepLock      = "lock"      // taking PostgreSQL's write lock
	StepSavepoint = "savepoint" // a savepoint of a batch, or its release or rollback
	StepCommit    = "commit"    // committing
)

// WithObserver makes the store report its batches and failures to o.
func WithObserver(o Observer) Option {
	return func(opts *options) { opts.observer = o }
}

// noObserver is the Observer of a store opened without WithObserver.
type noObserver struct{}

func (noObserver) Batch(int)      {}
func (noObserver) Failure(string) {}
