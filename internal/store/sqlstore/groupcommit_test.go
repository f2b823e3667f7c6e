package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cloudhsm-local/cloudhsm-local/internal/store"
	"github.com/cloudhsm-local/cloudhsm-local/internal/store/sqlstore/pgtest"
)

// groupStores opens one store of each kind, the PostgreSQL one when its server is reachable.
func groupStores(t *testing.T) map[string]*Store {
	t.Helper()
	stores := map[string]*Store{
		"memory": openT(t, "memory"),
		"sqlite": openT(t, "sqlite:"+filepath.Join(t.TempDir(), "store.db")),
	}
	pg, _ := openPostgresT(t, pgtest.Connect(t))
	stores["postgres"] = pg
	return stores
}

// queued waits until n Updates are queued or running in s.
func queued(t *testing.T, s *Store, n int) {
	t.Helper()
	for waited := time.Duration(0); ; waited += time.Millisecond {
		s.groups.mu.Lock()
		got := 0
		for _, g := range s.groups.byKey {
			got += len(g.queue)
		}
		s.groups.mu.Unlock()
		if got == n {
			return
		}
		if waited > 10*time.Second {
			t.Fatalf("%d Updates queued, want %d", got, n)
		}
		time.Sleep(time.Millisecond)
	}
}

// batches returns how many transactions the groups of s have run.
func batches(s *Store) uint64 {
	s.groups.mu.Lock()
	defer s.groups.mu.Unlock()
	return s.groups.batches
}

// blockWriter starts an Update that holds the writer until the returned function is called,
// and waits until it runs. The returned function waits for that Update to end.
func blockWriter(t *testing.T, s *Store) (release func()) {
	t.Helper()
	running, unblock, done := make(chan struct{}), make(chan struct{}), make(chan error, 1)
	go func() {
		done <- s.Update(context.Background(), store.Everything(), func(tx store.Tx) error {
			close(running)
			<-unblock
			return tx.PutSetting("blocker", "ran")
		})
	}()
	<-running
	return func() {
		close(unblock)
		if err := <-done; err != nil {
			t.Errorf("blocking Update: %v", err)
		}
	}
}

// TestGroupCommit: Updates that queue behind a running one share the next transaction, and
// each of them still keeps all or nothing of what it wrote: a function that fails or panics is
// rolled back alone, a caller whose context ends while it waits never runs.
func TestGroupCommit(t *testing.T) {
	for kind, s := range groupStores(t) {
		t.Run(kind, func(t *testing.T) {
			release := blockWriter(t, s)
			before := batches(s)

			const n = 12
			boom := errors.New("boom")
			cancelled, cancel := context.WithCancel(context.Background())
			errs := make([]error, n)
			panics := make([]any, n)
			var wg sync.WaitGroup
			for i := range n {
				ctx := context.Background()
				if i == 9 {
					ctx = cancelled
				}
				wg.Add(1)
				go func() {
					defer wg.Done()
					defer func() { panics[i] = recover() }()
					errs[i] = s.Update(ctx, store.Everything(), func(tx store.Tx) error {
						if err := tx.PutSetting(fmt.Sprintf("k%02d", i), "v"); err != nil {
							return err
						}
						switch i % 4 {
						case 1:
							return fmt.Errorf("update %d: %w", i, boom)
						case 2:
							if i == 6 {
								panic("fn panicked")
							}
						}
						return nil
					})
				}()
				queued(t, s, i+2) // in order: the blocker, then 0..i
			}
			cancel()
			release()
			wg.Wait()

			if got := batches(s) - before; got != 1 {
				t.Errorf("the %d queued Updates ran in %d transactions, want 1", n, got)
			}
			view(t, s, func(tx store.Tx) {
				for i := range n {
					_, err := tx.Setting(fmt.Sprintf("k%02d", i))
					kept := i%4 != 1 && i != 6 && i != 9
					switch {
					case i == 6:
						if panics[i] != "fn panicked" {
							t.Errorf("Update %d: panic %v, want it raised again in its caller", i, panics[i])
						}
					case i == 9:
						if !errors.Is(errs[i], context.Canceled) {
							t.Errorf("Update %d (context cancelled while queued): %v, want context.Canceled", i, errs[i])
						}
					case i%4 == 1:
						if !errors.Is(errs[i], boom) || !strings.HasPrefix(errs[i].Error(), fmt.Sprintf("update %d:", i)) {
							t.Errorf("Update %d: %v, want fn's own error", i, errs[i])
						}
					default:
						if errs[i] != nil || panics[i] != nil {
							t.Errorf("Update %d: %v, panic %v", i, errs[i], panics[i])
						}
					}
					if kept != (err == nil) {
						t.Errorf("setting k%02d: kept = %t (%v), want %t", i, err == nil, err, kept)
					}
				}
			})
		})
	}
}

// TestGroupCommitBrokenBatch: when the shared transaction is lost half-way (here a function
// releases the batch's savepoint itself, so the batch cannot end it), nothing of the batch is
// kept and every caller whose function had succeeded gets an error, not a false success.
func TestGroupCommitBrokenBatch(t *testing.T) {
	for kind, s := range groupStores(t) {
		t.Run(kind, func(t *testing.T) {
			release := blockWriter(t, s)
			fns := []func(tx store.Tx) error{
				func(tx store.Tx) error { return tx.PutSetting("first", "v") },
				func(st store.Tx) error {
					if err := st.PutSetting("breaker", "v"); err != nil {
						return err
					}
					_, err := st.(*tx).q.ExecContext(context.Background(), sqlRelease)
					return err
				},
				func(tx store.Tx) error { return tx.PutSetting("last", "v") },
			}
			errs := make([]error, len(fns))
			var wg sync.WaitGroup
			for i, fn := range fns {
				wg.Add(1)
				go func() { defer wg.Done(); errs[i] = s.Update(context.Background(), store.Everything(), fn) }()
				queued(t, s, i+2)
			}
			release()
			wg.Wait()
			for i, err := range errs {
				if err == nil || !strings.Contains(err.Error(), "rolled back with its batch") {
					t.Errorf("Update %d: %v, want the batch's failure", i, err)
				}
			}
			view(t, s, func(tx store.Tx) {
				for _, name := range []string{"first", "breaker", "last"} {
					if _, err := tx.Setting(name); !errors.Is(err, store.ErrNotFound) {
						t.Errorf("setting %s after the broken batch: %v, want not found", name, err)
					}
				}
			})
			// The store goes on.
			if err := s.Update(t.Context(), store.Everything(), func(tx store.Tx) error { return tx.PutSetting("after", "v") }); err != nil {
				t.Fatalf("Update after the broken batch: %v", err)
			}
		})
	}
}

// view runs fn in a View of s.
func view(t *testing.T, s *Store, fn func(tx store.Tx)) {
	t.Helper()
	if err := s.View(t.Context(), func(tx store.Tx) error { fn(tx); return nil }); err != nil {
		t.Fatalf("View: %v", err)
	}
}
