package service

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/cloudhsm-local/cloudhsm-local/internal/api"
	"github.com/cloudhsm-local/cloudhsm-local/internal/lifecycle"
	"github.com/cloudhsm-local/cloudhsm-local/internal/store"
)

// The admin actions below are the emulator's own (docs/BEHAVIOUR.md §9). They act on any account
// and region: cluster IDs are unique across the whole store.

// ErrConflict marks an admin action refused because of the current state (HTTP 409).
var ErrConflict = errors.New("conflict")

// ErrNotFound marks an admin action on a resource that does not exist (HTTP 404).
var ErrNotFound = errors.New("not found")

// VirtualNow returns the virtual time (see lifecycle.Engine.VirtualNow), which only the admin
// API moves.
func (s *Service) VirtualNow(ctx context.Context) (time.Time, error) {
	var now time.Time
	err := s.store.View(ctx, func(tx store.Tx) error {
		var err error
		now, err = s.life.VirtualNow(tx)
		return err
	})
	return now, err
}

// AdvanceClock moves the virtual clock forward by d from the time it read when the move began,
// and applies everything that became due. It never fails because the wall clock moved on while
// the move ran (lifecycle.Engine.AdvanceTo): the clock then reads a little later than asked.
func (s *Service) AdvanceClock(ctx context.Context, d time.Duration) (time.Time, error) {
	if d < 0 {
		return time.Time{}, fmt.Errorf("%w: cannot advance the clock by a negative duration %s", ErrConflict, d)
	}
	var moved time.Time
	err := s.update(ctx, store.Everything(), func(tx store.Tx, now time.Time) error {
		var err error
		moved, err = s.life.AdvanceTo(tx, now.Add(d))
		return err
	})
	return moved, err
}

// SetClock moves the virtual clock forward to t and applies everything that became due; a t
// before the clock's time is ErrConflict.
func (s *Service) SetClock(ctx context.Context, t time.Time) (time.Time, error) {
	var moved time.Time
	err := s.update(ctx, store.Everything(), func(tx store.Tx, now time.Time) error {
		var err error
		moved, err = s.life.SetClock(tx, t)
		if errors.Is(err, lifecycle.ErrClockBackwards) {
			return fmt.Errorf("%w: %w", ErrConflict, err)
		}
		return err
	})
	return moved, err
}

// adminCluster loads a cluster by ID in any account.
func adminCluster(tx store.Tx, id string) (store.Cluster, error) {
	c, err := tx.Cluster(id)
	if errors.Is(err, store.ErrNotFound) {
		return c, fmt.Errorf("%w: cluster %s does not exist", ErrNotFound, id)
	}
	return c, err
}

// Activate makes an INITIALIZED cluster ACTIVE, as the CloudHSM CLI does, and takes a backup.
func (s *Service) Activate(ctx context.Context, clusterID string) (*api.Cluster, error) {
	var out *api.Cluster
	err := s.update(ctx, store.Everything(), func(tx store.Tx, now time.Time) error {
		c, err := adminCluster(tx, clusterID)
		if err != nil {
			return err
		}
		c, err = s.life.Activate(tx, c, now)
		if errors.Is(err, lifecycle.ErrWrongState) {
			return fmt.Errorf("%w: %w", ErrConflict, err)
		}
		if err != nil {
			return err
		}
		out, err = clusterView(tx, c)
		return err
	})
	return out, err
}

// activeCluster loads a cluster by ID in any account and checks that it can be backed up.
func activeCluster(tx store.Tx, id string) (store.Cluster, error) {
	c, err := adminCluster(tx, id)
	if err == nil && c.State != api.ClusterStateActive {
		err = fmt.Errorf("%w: cluster %s is %s; only an ACTIVE cluster can be backed up", ErrConflict, c.ID, c.State)
	}
	return c, err
}

// TakeBackup backs up an ACTIVE cluster now.
func (s *Service) TakeBackup(ctx context.Context, clusterID string) (*api.Backup, error) {
	var out *api.Backup
	err := s.update(ctx, store.Everything(), func(tx store.Tx, now time.Time) error {
		c, err := activeCluster(tx, clusterID)
		if err != nil {
			return err
		}
		b, err := s.life.TakeBackup(tx, c, now)
		if err != nil {
			return err
		}
		out, err = backupView(tx, b)
		return err
	})
	return out, err
}

// TakeBackups backs up an ACTIVE cluster n times (n ≥ 1) in one transaction and returns the
// backups' IDs, oldest first. Each backup takes 1 ms of virtual time: backup i is taken at the
// virtual time plus i ms, and the clock then moves on to plus n ms (unless the wall clock got
// there first while they were taken), applying everything due on the way in time order (the
// backups becoming READY among it) — exactly what n take-backups with a 1 ms clock advance
// after each would do. So every backup has a creation time of its own, none is in the future
// of the clock, and the next request's backups are newer.
func (s *Service) TakeBackups(ctx context.Context, clusterID string, n int) ([]string, error) {
	var ids []string
	err := s.update(ctx, store.Everything(), func(tx store.Tx, now time.Time) error {
		c, err := activeCluster(tx, clusterID)
		if err != nil {
			return err
		}
		ids = make([]string, n)
		for i := range ids {
			b, err := s.life.TakeBackup(tx, c, now.Add(time.Duration(i)*time.Millisecond))
			if err != nil {
				return err
			}
			ids[i] = b.ID
		}
		_, err = s.life.AdvanceTo(tx, now.Add(time.Duration(n)*time.Millisecond))
		return err
	})
	return ids, err
}

// Reset empties the store: every resource of every account. The virtual clock keeps its time,
// since it only ever moves forward, and the pagination key stays, since every replica holds it
// in memory (see initTokenKey).
func (s *Service) Reset(ctx context.Context) error { return s.reset(ctx, true) }

// StoreKind names the store backend, for health output.
func (s *Service) StoreKind() string { return s.store.Kind() }

// ResetToRealTime empties the store as Reset does and also returns the virtual clock to the
// wall clock (its offset and its floor are forgotten with the other settings). The clock moves
// only forward while anything could see it go back; with the store empty nothing can. The
// pagination key stays, as in Reset.
func (s *Service) ResetToRealTime(ctx context.Context) error { return s.reset(ctx, false) }

// reset empties the store but for the pagination key and, when keepClock, the virtual time.
func (s *Service) reset(ctx context.Context, keepClock bool) error {
	return s.store.Update(ctx, store.Everything(), func(tx store.Tx) error {
		now, err := s.life.VirtualNow(tx)
		if err != nil {
			return err
		}
		key, err := tx.Setting(tokenKeySetting)
		if err != nil {
			return fmt.Errorf("read pagination key: %w", err)
		}
		if err := tx.Reset(); err != nil {
			return err
		}
		if keepClock {
			if err := s.life.Pin(tx, now); err != nil {
				return err
			}
		}
		if err := tx.PutSetting(tokenKeySetting, key); err != nil {
			return fmt.Errorf("keep pagination key: %w", err)
		}
		return nil
	})
}

// Census counts the clusters, HSMs and backups of every account and region by state
// (store.Tx.Census), as they are at the virtual time: everything due is applied first. It is
// the console's overview; it reads every record's owner and state, so it is not for a hot path.
func (s *Service) Census(ctx context.Context) ([]store.StateCount, error) {
	var out []store.StateCount
	err := s.read(ctx, store.Everything(), func(tx store.Tx, _ time.Time) error {
		var err error
		out, err = tx.Census()
		return err
	})
	return out, err
}
