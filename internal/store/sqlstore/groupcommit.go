package sqlstore

import (
	"context"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync"

	"github.com/cloudhsm-local/cloudhsm-local/internal/store"
)

// Group commit.
//
// Updates of one scope run one at a time (SQLite has one writer for every scope; PostgreSQL
// Updates of a tenant share its advisory lock), so each pays for a BEGIN, a COMMIT and, with
// DurabilityFsync, the fsync of that commit, one after another. The store shares that cost
// between the Updates that arrive while another runs: they queue, and the next transaction runs
// all of them in arrival order, each under its own savepoint, and commits once. A function that
// fails (or panics) is rolled back to its savepoint alone and the others go on, so each Update
// keeps nothing or everything, as the store.Store contract says. Every caller is answered only
// after the commit that holds its writes: "acknowledged" still means "committed".
//
// On PostgreSQL the queues are per scope (store.Scope.Key): Updates of different tenants run
// in transactions of their own at once, and a tenant waiting for its lock (held by another
// replica) holds up no other tenant's Updates. On SQLite one queue holds every Update, since
// the database would serialize them anyway.
//
// There is no committer goroutine. The first caller to find its queue idle leads: it runs the
// batch that starts with its own function and, when that batch is over, hands the lead to the
// oldest caller still waiting. With no contention an Update therefore runs on its caller's
// goroutine as a plain transaction of its own, without savepoints; under load the batches grow
// by themselves to the number of callers that queued during the previous one (at most
// maxBatch), with no timer: a leader only yields the processor once before it takes its batch.

// maxBatch bounds how many Updates one transaction holds, so that a long queue does not keep
// the write lock (and the first caller of the batch) waiting for long.
const maxBatch = 64

// savepoint statements around each function of a batch (the same on SQLite and PostgreSQL).
const (
	sqlSavepoint  = "SAVEPOINT update_fn"
	sqlRelease    = "RELEASE SAVEPOINT update_fn"
	sqlRollbackTo = "ROLLBACK TO SAVEPOINT update_fn"
)

// groups are a Store's queues of Updates: one per scope on a database whose Updates of
// disjoint scopes may run at once (PostgreSQL, see dialect.lockScope), otherwise one for all.
// A queue exists while it has callers.
type groups struct {
	mu      sync.Mutex
	byKey   map[string]*group // by store.Scope.Key, or "" for the one queue
	batches uint64            // transactions run so far, for tests
}

// group is the queue of the Updates of one scope (or of all, see groups).
type group struct {
	key     string
	scope   store.Scope // of every call in the queue when keyed by scope
	queue   []*call     // waiting or running, in arrival order; the leader's batch is its head
	leading bool        // a caller is running a batch
}

// call is one Update waiting for, or running in, a batch.
type call struct {
	ctx   context.Context
	scope store.Scope
	fn    func(store.Tx) error
	// lead receives true when the caller must lead the next batch and false when its answer
	// (err, panicked, panicValue) is ready. Each call receives at most one value.
	lead       chan bool
	err        error
	panicked   bool
	panicValue any
}

// update runs fn in the next batch of its scope's queue and returns its outcome; if fn
// panicked, the panic is raised again here, on the caller's goroutine.
func (s *Store) update(ctx context.Context, scope store.Scope, fn func(store.Tx) error) error {
	c := &call{ctx: ctx, scope: scope, fn: fn, lead: make(chan bool, 1)}
	key := ""
	if s.d.beginUpdate != nil {
		key = scope.Key()
	}
	s.groups.mu.Lock()
	g := s.groups.byKey[key]
	if g == nil {
		if s.groups.byKey == nil {
			s.groups.byKey = make(map[string]*group)
		}
		g = &group{key: key, scope: scope}
		s.groups.byKey[key] = g
	}
	g.queue = append(g.queue, c)
	leads := !g.leading
	g.leading = true
	s.groups.mu.Unlock()
	if leads || <-c.lead {
		s.leadBatch(g)
	}
	if c.panicked {
		panic(c.panicValue)
	}
	return c.err
}

// leadBatch runs the batch at the head of g's queue, answers its callers, and passes the lead
// to the next caller in line (or drops the queue).
func (s *Store) leadBatch(g *group) {
	// Let the goroutines that are about to call Update (requests being decoded) queue first:
	// bigger batches, fewer commits. Without contention this returns at once.
	runtime.Gosched()
	s.groups.mu.Lock()
	batch := g.queue[:min(len(g.queue), maxBatch)]
	s.groups.batches++
	s.groups.mu.Unlock()
	s.obs.Batch(len(batch))

	defer func() {
		s.groups.mu.Lock()
		g.queue = g.queue[len(batch):]
		if len(g.queue) == 0 {
			delete(s.groups.byKey, g.key) // the next caller of this scope starts a new queue
		} else {
			g.queue[0].lead <- true
		}
		s.groups.mu.Unlock()
		for _, c := range batch[1:] { // the head is the leader itself
			c.lead <- false
		}
	}()
	if len(batch) == 1 {
		c := batch[0]
		c.catch(func() error { return s.run(c.ctx, false, c.scope, c.fn) })
		return
	}
	s.runBatch(batch)
}

// catch runs f and records its error, or the value it panicked with.
func (c *call) catch(f func() error) {
	defer func() {
		if v := recover(); v != nil {
			c.panicked, c.panicValue = true, v
		}
	}()
	c.err = f()
}

// runBatch runs the functions of several calls in one transaction, each under a savepoint,
// and commits once. A caller whose context is done before its turn is answered with the
// context's error and its function never runs; a function that has started runs to its end
// (the transaction, shared with the others, is not bound to any one caller's context). The
// statements that end one function's savepoint go to the database with the next one's
// SAVEPOINT, as one text (on PostgreSQL, one round trip instead of two).
func (s *Store) runBatch(batch []*call) {
	ctx := context.WithoutCancel(batch[0].ctx)
	sqlTx, err := s.beginUpdate(ctx, batch[0].scope)
	if err != nil {
		failAll(batch, err)
		return
	}
	var (
		done     []*call // functions that returned nil and were released, answered after the commit
		ending   string  // the statements that end the savepoint of last, not yet sent
		last     *call   // the function that ran last
		released bool    // ending releases last's writes (it succeeded)
	)
	// end sends ending with next (the next function's SAVEPOINT, or nothing); if that fails,
	// the transaction is gone (SQLite rolls it back by itself after some failures, such as a
	// full disk) and nothing of the batch is kept.
	end := func(next string, rest []*call) bool {
		text := strings.Join(slices.DeleteFunc([]string{ending, next}, func(s string) bool { return s == "" }), "; ")
		if text == "" {
			return true
		}
		if _, err := sqlTx.ExecContext(ctx, text); err != nil {
			_ = sqlTx.Rollback()
			s.obs.Failure(StepSavepoint)
			failed := fmt.Errorf("%s store: update rolled back with its batch: %w", s.kind, err)
			if released {
				last.err = failed
			}
			failAll(append(done, rest...), failed)
			return false
		}
		if released {
			done = append(done, last)
		}
		ending, last, released = "", nil, false
		return true
	}
	for i, c := range batch {
		if err := c.ctx.Err(); err != nil {
			c.err = fmt.Errorf("%s store: update not started: %w", s.kind, err)
			continue
		}
		if !end(sqlSavepoint, batch[i:]) {
			return
		}
		t := &tx{ctx: context.WithoutCancel(c.ctx), q: sqlTx, d: s.d, stmts: s.writeStmts}
		c.catch(func() error { return c.fn(t) })
		last, released = c, c.err == nil && !c.panicked
		ending = sqlRelease
		if !released {
			ending = sqlRollbackTo + "; " + sqlRelease
		}
	}
	if !end("", nil) {
		return
	}
	if err := sqlTx.Commit(); err != nil {
		s.obs.Failure(StepCommit)
		failAll(done, fmt.Errorf("%s store: commit update: %w", s.kind, err))
	}
}

// failAll answers every call with err.
func failAll(calls []*call, err error) {
	for _, c := range calls {
		c.err = err
	}
}
