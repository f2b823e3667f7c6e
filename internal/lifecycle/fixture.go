package lifecycle

import (
	"fmt"
	"time"

	"github.com/cloudhsm-local/cloudhsm-local/internal/api"
	"github.com/cloudhsm-local/cloudhsm-local/internal/store"
)

// Fixtures (internal/fixture) describe a state by ages relative to now; the service builds it
// by running these transitions at instants in the past. Two steps need the lifecycle's help.

// Delay returns how long transition t lasts, so that a fixture's cluster can be set up early
// enough to be ACTIVE at the instant its oldest backup was taken.
func (e *Engine) Delay(t Transition) time.Duration { return e.delay(t) }

// SkipDailyBackups moves an ACTIVE cluster's next daily backup past now, as if the instants
// between its activation and now had been skipped (as after an HSM-type change): a fixture's
// cluster has exactly the backups its document lists. The schedule stays counted from
// activation.
func (e *Engine) SkipDailyBackups(tx store.Tx, c store.Cluster, now time.Time) (store.Cluster, error) {
	if c.NextBackupAt.IsZero() || c.NextBackupAt.After(now) {
		return c, nil
	}
	c.NextBackupAt = e.skipMissedBackups(c.NextBackupAt, now.Add(time.Millisecond))
	c, err := tx.UpdateCluster(c)
	if err != nil {
		return store.Cluster{}, fmt.Errorf("skip daily backups of cluster %s: %w", c.ID, err)
	}
	return c, nil
}

// LiveBackup takes backup b, just taken (CREATE_IN_PROGRESS at b.CreatedAt), through the life
// it would have had until now to end in state: READY once the backup-create delay passed;
// for PENDING_DELETION, then deleted (MarkPendingDeletion) at now; for DELETED, deleted one
// pending-deletion window before now, so that it expired at now. It returns ErrWrongState
// (wrapped, saying why) when the backup is too young to have reached state by now.
func (e *Engine) LiveBackup(tx store.Tx, b store.Backup, state string, now time.Time) (store.Backup, error) {
	ready := b.CreatedAt.Add(e.delay(BackupCreate))
	if ready.After(now) {
		return store.Backup{}, fmt.Errorf("%w: a backup taken at %s is READY only at %s, after now (the backup-create delay is %s)",
			ErrWrongState, b.CreatedAt.Format(time.RFC3339Nano), ready.Format(time.RFC3339Nano), e.delay(BackupCreate))
	}
	if err := e.backupDue(tx, store.Event{Kind: store.EventBackup, ID: b.ID, At: ready}); err != nil {
		return store.Backup{}, err
	}
	b, err := tx.Backup(b.ID)
	if err != nil {
		return store.Backup{}, err
	}
	switch state {
	case api.BackupStateReady:
		return b, nil
	case api.BackupStatePendingDeletion:
		return e.MarkPendingDeletion(tx, b, now)
	case api.BackupStateDeleted:
		deleted := now.Add(-e.cfg.PendingDeletion)
		if deleted.Before(ready) {
			return store.Backup{}, fmt.Errorf("%w: a backup READY at %s cannot have been deleted at %s, one pending-deletion window (%s) before now: make it older",
				ErrWrongState, ready.Format(time.RFC3339Nano), deleted.Format(time.RFC3339Nano), e.cfg.PendingDeletion)
		}
		if b, err = e.MarkPendingDeletion(tx, b, deleted); err != nil {
			return store.Backup{}, err
		}
		if err := e.backupDue(tx, store.Event{Kind: store.EventBackup, ID: b.ID, At: b.DeleteAt}); err != nil {
			return store.Backup{}, err
		}
		return tx.Backup(b.ID)
	}
	return store.Backup{}, fmt.Errorf("%w: a backup's life ends in READY, PENDING_DELETION or DELETED, not %s", ErrWrongState, state)
}
