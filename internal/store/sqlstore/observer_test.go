package sqlstore

import (
	"context"
	"path/filepath"
	"slices"
	"sync"
	"testing"

	"github.com/cloudhsm-local/cloudhsm-local/internal/store"
)

// recorder is an Observer that keeps what it is told.
type recorder struct {
	mu       sync.Mutex
	batches  []int
	failures []string
}

func (r *recorder) Batch(n int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.batches = append(r.batches, n)
}

func (r *recorder) Failure(step string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.failures = append(r.failures, step)
}

func (r *recorder) seen() (batches []int, failures []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.batches), slices.Clone(r.failures)
}

// TestObserverSeesBatchesAndFailures: every Update transaction is reported once with the number
// of Updates it held, and a step the database refuses is reported by name; Views are no batch.
func TestObserverSeesBatchesAndFailures(t *testing.T) {
	for _, dsn := range []string{"memory", "sqlite:" + filepath.Join(t.TempDir(), "store.db")} {
		t.Run(dsn, func(t *testing.T) {
			rec := &recorder{}
			s, err := Open(t.Context(), dsn, WithObserver(rec))
			if err != nil {
				t.Fatal(err)
			}
			release := blockWriter(t, s) // batch 1: the blocker alone
			var wg sync.WaitGroup
			for i := range 5 {
				wg.Go(func() {
					if err := s.Update(context.Background(), store.Everything(), func(tx store.Tx) error {
						return tx.PutSetting("queued", string(rune('a'+i)))
					}); err != nil {
						t.Errorf("queued Update: %v", err)
					}
				})
			}
			queued(t, s, 6)
			release()
			wg.Wait()
			if err := s.View(t.Context(), func(tx store.Tx) error { _, err := tx.CountResources(); return err }); err != nil {
				t.Fatal(err)
			}
			if batches, failures := rec.seen(); !slices.Equal(batches, []int{1, 5}) || len(failures) != 0 {
				t.Fatalf("after one Update alone and five queued behind it: batches %v, failures %v; want [1 5] and none", batches, failures)
			}

			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			if err := s.Update(t.Context(), store.Everything(), func(store.Tx) error { return nil }); err == nil {
				t.Fatal("an Update on a closed store succeeded")
			}
			if err := s.View(t.Context(), func(store.Tx) error { return nil }); err == nil {
				t.Fatal("a View on a closed store succeeded")
			}
			if _, failures := rec.seen(); !slices.Equal(failures, []string{StepBegin, StepBegin}) {
				t.Fatalf("an Update and a View on a closed store: failures %v, want [begin begin]", failures)
			}
		})
	}
}
