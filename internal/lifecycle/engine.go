package lifecycle

import (
	"errors"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/cloudhsm-local/cloudhsm-local/internal/clock"
	"github.com/cloudhsm-local/cloudhsm-local/internal/store"
)

// Transition names a timed state change whose duration can be configured.
type Transition string

// The configurable transitions.
const (
	ClusterCreate     Transition = "cluster-create"
	ClusterInitialize Transition = "cluster-initialize"
	ClusterModify     Transition = "cluster-modify"
	ClusterDelete     Transition = "cluster-delete"
	HSMCreate         Transition = "hsm-create"
	HSMDelete         Transition = "hsm-delete"
	BackupCreate      Transition = "backup-create"
)

// Transitions lists every configurable transition.
func Transitions() []Transition {
	return []Transition{ClusterCreate, ClusterInitialize, ClusterModify, ClusterDelete, HSMCreate, HSMDelete, BackupCreate}
}

// Config sets the durations of the lifecycle.
type Config struct {
	// DefaultDelay is how long each *_IN_PROGRESS state lasts unless Delays says otherwise.
	DefaultDelay time.Duration
	// Delays overrides DefaultDelay per transition.
	Delays map[Transition]time.Duration
	// PendingDeletion is how long a deleted backup stays restorable (DeleteTimestamp - now).
	PendingDeletion time.Duration
	// Tombstone is how long DELETED backups and clusters stay listed before they vanish.
	Tombstone time.Duration
	// BackupInterval is the period of automatic backups of an ACTIVE cluster.
	BackupInterval time.Duration
	// HsmTypeRollbackWindow is how long after an HSM-type change it could be rolled back.
	HsmTypeRollbackWindow time.Duration
	// AutoActivate makes INITIALIZED clusters become ACTIVE by themselves.
	AutoActivate bool
}

// DefaultConfig returns the documented defaults: no delays, 7-day pending deletion and
// tombstone, daily backups.
func DefaultConfig() Config {
	return Config{
		PendingDeletion:       7 * 24 * time.Hour,
		Tombstone:             7 * 24 * time.Hour,
		BackupInterval:        24 * time.Hour,
		HsmTypeRollbackWindow: 7 * 24 * time.Hour,
	}
}

// Engine applies the lifecycle. It holds configuration only: all state is in the store.
type Engine struct {
	cfg  Config
	wall clock.Clock // wall time; the virtual time is VirtualNow
	ids  *IDSource
}

// New returns an Engine reading wall time from wall and randomness from rand.
func New(cfg Config, wall clock.Clock, rand io.Reader) *Engine {
	return &Engine{cfg: cfg, wall: wall, ids: &IDSource{r: rand}}
}

// IDs returns the engine's source of random identifiers.
func (e *Engine) IDs() *IDSource { return e.ids }

// delay returns how long transition t lasts.
func (e *Engine) delay(t Transition) time.Duration {
	if d, ok := e.cfg.Delays[t]; ok {
		return d
	}
	return e.cfg.DefaultDelay
}

// clockOffsetSetting holds the virtual clock's offset from wall time, in milliseconds.
const clockOffsetSetting = "clock.offset_ms"

// ErrClockBackwards is returned when asked to move the virtual clock into its past.
var ErrClockBackwards = errors.New("the virtual clock only moves forward")

// clockFloorSetting holds the latest time the clock was moved to, in Unix milliseconds: the
// virtual clock never reads earlier, even on a replica or a restart whose wall clock lags.
const clockFloorSetting = "clock.floor_ms"

// VirtualNow returns the virtual time, the time of every timestamp the service writes or
// compares: wall time plus the offset kept in the store, never earlier than the time the clock
// was last moved to, truncated to the millisecond (the precision of the store and of the wire).
// Both settings are read in one statement; unset (the clock never moved), each counts as 0.
func (e *Engine) VirtualNow(tx store.Tx) (time.Time, error) {
	set, err := tx.Settings(clockOffsetSetting, clockFloorSetting)
	if err != nil {
		return time.Time{}, fmt.Errorf("read the virtual clock: %w", err)
	}
	return e.virtualNow(set)
}

// Agenda returns the virtual time (as VirtualNow) and whether some lifecycle step of scope is
// due then, in one read of the store: what every transaction asks first.
func (e *Engine) Agenda(tx store.Tx, in store.Scope) (now time.Time, due bool, err error) {
	set, ev, ok, err := tx.Agenda(in, clockOffsetSetting, clockFloorSetting)
	if err != nil {
		return time.Time{}, false, fmt.Errorf("read the virtual clock and the next lifecycle event: %w", err)
	}
	if now, err = e.virtualNow(set); err != nil {
		return time.Time{}, false, err
	}
	return now, ok && !ev.At.After(now), nil
}

// virtualNow computes the virtual time from the clock's settings.
func (e *Engine) virtualNow(set map[string]string) (time.Time, error) {
	offset, err := msSetting(set, clockOffsetSetting)
	if err != nil {
		return time.Time{}, err
	}
	floor, err := msSetting(set, clockFloorSetting)
	if err != nil {
		return time.Time{}, err
	}
	now := e.wall.Now().Add(time.Duration(offset) * time.Millisecond).Truncate(time.Millisecond).UTC()
	if min := time.UnixMilli(floor).UTC(); now.Before(min) {
		return min, nil
	}
	return now, nil
}

// msSetting parses the millisecond count named name in set; an unset one is 0.
func msSetting(set map[string]string, name string) (int64, error) {
	v, ok := set[name]
	if !ok {
		return 0, nil
	}
	ms, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%s %q in store is not an integer: %w", name, v, err)
	}
	return ms, nil
}

// SetClock moves the virtual clock forward to t and applies everything that became due on the
// way, in time order, in every tenant: its transaction must be an Update of store.Everything. It returns ErrClockBackwards if t is before the current virtual time.
func (e *Engine) SetClock(tx store.Tx, t time.Time) (time.Time, error) {
	now, err := e.VirtualNow(tx)
	if err != nil {
		return time.Time{}, err
	}
	t = t.Truncate(time.Millisecond).UTC()
	if t.Before(now) {
		return time.Time{}, fmt.Errorf("%w: %s is before %s", ErrClockBackwards, t.Format(time.RFC3339Nano), now.Format(time.RFC3339Nano))
	}
	if err := e.Pin(tx, t); err != nil {
		return time.Time{}, err
	}
	return t, e.Settle(tx, t, store.Everything())
}

// AdvanceTo moves the virtual clock forward to t unless it already reads t or later, applies
// everything due by then in every tenant (in an Update of store.Everything), and returns the
// clock's time. Unlike SetClock it never fails because
// the clock has passed t (the wall clock may have, while the caller's transaction ran).
func (e *Engine) AdvanceTo(tx store.Tx, t time.Time) (time.Time, error) {
	now, err := e.VirtualNow(tx)
	if err != nil {
		return time.Time{}, err
	}
	if t = t.Truncate(time.Millisecond).UTC(); t.After(now) {
		if err := e.Pin(tx, t); err != nil {
			return time.Time{}, err
		}
		now = t
	}
	return now, e.Settle(tx, now, store.Everything())
}

// Pin makes the virtual clock read t now and move on from there, and never read less than t.
// It neither checks direction nor applies anything due: SetClock does both.
func (e *Engine) Pin(tx store.Tx, t time.Time) error {
	offset := t.Sub(e.wall.Now().Truncate(time.Millisecond)).Milliseconds()
	for name, ms := range map[string]int64{clockOffsetSetting: offset, clockFloorSetting: t.UnixMilli()} {
		if err := tx.PutSetting(name, strconv.FormatInt(ms, 10)); err != nil {
			return fmt.Errorf("store %s: %w", name, err)
		}
	}
	return nil
}

// maxStepsPerSettle bounds one Settle, so a bug cannot loop forever inside a transaction.
const maxStepsPerSettle = 10_000_000

// Settle applies, in time order, every lifecycle step of scope due at or before now. Each step
// runs at its own instant: a backup that expires on day 3 of a clock jump is stamped with day 3.
// A step changes only resources of its own tenant, so the tenants of a store can be settled
// one by one, each by the Update that holds it (store.Store.Update).
func (e *Engine) Settle(tx store.Tx, now time.Time, in store.Scope) error {
	for range maxStepsPerSettle {
		ev, ok, err := tx.NextEvent(in)
		if err != nil {
			return fmt.Errorf("next lifecycle event: %w", err)
		}
		if !ok || ev.At.After(now) {
			return nil
		}
		if err := e.apply(tx, ev); err != nil {
			return fmt.Errorf("lifecycle step %v %s at %s: %w", ev.Kind, ev.ID, ev.At.Format(time.RFC3339), err)
		}
	}
	return fmt.Errorf("lifecycle: more than %d steps due at once", maxStepsPerSettle)
}

func (e *Engine) apply(tx store.Tx, ev store.Event) error {
	switch ev.Kind {
	case store.EventBackup:
		return e.backupDue(tx, ev)
	case store.EventHSM:
		return e.hsmDue(tx, ev)
	case store.EventCluster:
		return e.clusterDue(tx, ev)
	case store.EventDailyBackup:
		return e.dailyBackupDue(tx, ev)
	}
	return fmt.Errorf("unknown event kind %d", ev.Kind)
}
