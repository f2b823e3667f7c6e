package service

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/cloudhsm-local/cloudhsm-local/internal/api"
	"github.com/cloudhsm-local/cloudhsm-local/internal/lifecycle"
	"github.com/cloudhsm-local/cloudhsm-local/internal/snapshot"
	"github.com/cloudhsm-local/cloudhsm-local/internal/store"
)

// Snapshots: the whole state as one document (package snapshot), for the admin API's
// GET and PUT /_cloudhsm-local/state.

// ErrInvalid marks an admin request refused because of what it sent (HTTP 400).
var ErrInvalid = errors.New("invalid")

// ExportState writes the whole state — the virtual clock, the hardware CA and every record of
// every account and region — to w as a snapshot document, from one consistent read. Records
// stream from the store to w one at a time. Nothing is settled first: a step that is due is in
// the document as due, and happens after an import exactly as it would have here.
func (s *Service) ExportState(ctx context.Context, w io.Writer) error {
	return s.store.View(ctx, func(tx store.Tx) error {
		now, err := s.life.VirtualNow(tx)
		if err != nil {
			return err
		}
		ca, err := lifecycle.HardwareCA(tx)
		if err != nil {
			return err
		}
		sw := snapshot.NewWriter(w)
		if err := sw.Begin(snapshot.Header{Clock: now, HardwareCA: ca}); err != nil {
			return err
		}
		for _, each := range []func() error{
			func() error { return tx.EachSubnet(sw.Subnet) },
			func() error { return tx.EachClusterIdentity(sw.ClusterIdentity) },
			func() error { return tx.EachCluster(sw.Cluster) },
			func() error { return tx.EachHSM(sw.HSM) },
			func() error { return tx.EachBackup(sw.Backup) },
			func() error { return tx.EachPolicy(sw.ResourcePolicy) },
			func() error { return tx.EachRetiredID(sw.RetiredID) },
		} {
			if err := each(); err != nil {
				return fmt.Errorf("export the state: %w", err)
			}
		}
		return sw.End()
	})
}

// Imported is what an import wrote: the document's clock and how many records of each kind.
type Imported struct {
	Clock                                                                             time.Time
	Subnets, ClusterIdentities, Clusters, HSMs, Backups, ResourcePolicies, RetiredIDs int
}

// ImportState replaces the whole state with the snapshot document doc, in one transaction:
// either all of it is imported or, on the first problem, nothing is and the store is as it was.
// Unless replace, the store must hold no resource (ErrConflict). A document the service refuses
// gives an error wrapping ErrInvalid and a *snapshot.Error naming the JSON path. The virtual
// clock reads the document's Clock afterwards and runs on from there (even if that is earlier
// than it read before); the pagination key stays, as Reset keeps it.
//
// doc is read from its start each time the store runs the transaction (store.Store.Update may
// run it again); records are read, checked and written a batch at a time, so the document's
// size never decides the memory used.
func (s *Service) ImportState(ctx context.Context, doc io.ReadSeeker, replace bool) (Imported, error) {
	var out Imported
	err := s.store.Update(ctx, store.Everything(), func(tx store.Tx) error {
		if _, err := doc.Seek(0, io.SeekStart); err != nil {
			return fmt.Errorf("rewind the document: %w", err)
		}
		if !replace {
			empty, err := tx.Empty()
			if err != nil {
				return err
			}
			if !empty {
				return fmt.Errorf("%w: the store is not empty: import into a new server, or replace its state (import --replace, PUT /_cloudhsm-local/state?replace=true)", ErrConflict)
			}
		}
		key, err := tx.Setting(tokenKeySetting)
		if err != nil {
			return fmt.Errorf("read pagination key: %w", err)
		}
		if err := tx.Reset(); err != nil {
			return err
		}
		if err := tx.PutSetting(tokenKeySetting, key); err != nil {
			return fmt.Errorf("keep pagination key: %w", err)
		}
		im := &importer{s: s, tx: tx}
		err = snapshot.Read(doc, im)
		if err == nil {
			err = im.flush()
		}
		var bad *snapshot.Error
		if errors.As(err, &bad) {
			return fmt.Errorf("%w: the document is refused, nothing was imported: %w", ErrInvalid, bad)
		}
		out = im.counts
		return err
	})
	return out, err
}

// importBatch is how many backups (or IDs) an import writes at once.
const importBatch = 1000

// importer is the snapshot.Sink of an import: it checks what needs the store or the service's
// rules, and writes each record into tx, backups and IDs a batch at a time.
type importer struct {
	s      *Service
	tx     store.Tx
	counts Imported
	// backups and ids wait to be written, with the paths of their records.
	backups     []store.Backup
	ids         []string
	paths       map[string]string // ID -> path of the member that holds it, for the batch
	retiredPath map[string]bool   // the batch's IDs that are retired IDs
}

// Header pins the clock to the document's and restores the hardware CA.
func (im *importer) Header(h snapshot.Header) error {
	if err := im.s.life.Pin(im.tx, h.Clock); err != nil {
		return err
	}
	im.counts.Clock = h.Clock
	if h.HardwareCA == "" {
		return nil
	}
	err := lifecycle.RestoreHardwareCA(im.tx, h.HardwareCA)
	if errors.Is(err, lifecycle.ErrBadHardwareCA) {
		return snapshot.Errorf("$.HardwareCa", "%v", err)
	}
	return err
}

// reserve queues the reservation of an ID, held at path.
func (im *importer) reserve(path, id string) error {
	if im.paths == nil {
		im.paths = map[string]string{}
	}
	im.ids = append(im.ids, id)
	im.paths[id] = path
	if len(im.ids) >= importBatch {
		return im.flush()
	}
	return nil
}

// flush writes the queued backups, then reserves the queued IDs.
func (im *importer) flush() error {
	if len(im.backups) > 0 {
		err := im.tx.InsertBackups(im.backups)
		var conflict *store.IDConflictError
		if errors.As(err, &conflict) {
			return snapshot.Errorf(im.paths[conflict.ID], "backup %s exists already", conflict.ID)
		}
		if err != nil {
			return err
		}
		im.backups = im.backups[:0]
	}
	if len(im.ids) > 0 {
		err := im.tx.ReserveIDs(im.ids)
		var conflict *store.IDConflictError
		if errors.As(err, &conflict) {
			if im.retiredPath[conflict.ID] {
				return snapshot.Errorf(im.paths[conflict.ID], "%s is the ID of a resource of the document: a retired ID is one no resource has", conflict.ID)
			}
			return snapshot.Errorf(im.paths[conflict.ID], "%s is the ID of two resources of the document", conflict.ID)
		}
		if err != nil {
			return err
		}
		im.ids = im.ids[:0]
		clear(im.paths)
		clear(im.retiredPath)
	}
	return nil
}

// hsmType applies the service's rule on HSM types to a record's member.
func hsmType(path, t string) error {
	if err := checkHsmType(t); err != nil {
		return snapshot.Errorf(path+".HsmType", "%s", api.AsError(err).Message)
	}
	return nil
}

func (im *importer) Subnet(path string, sub store.Subnet) error {
	im.counts.Subnets++
	return im.tx.InsertSubnet(sub)
}

func (im *importer) ClusterIdentity(path, clusterID string, c store.Certificates) error {
	im.counts.ClusterIdentities++
	return im.tx.PutClusterIdentity(clusterID, c)
}

func (im *importer) Cluster(path string, c store.Cluster, tags []store.Tag) error {
	if err := hsmType(path, c.HsmType); err != nil {
		return err
	}
	if c.RetentionDays < minRetentionDays || c.RetentionDays > maxRetentionDays {
		return snapshot.Errorf(path+".BackupRetentionDays", "%d is out of range: backups can be kept from %d to %d days", c.RetentionDays, minRetentionDays, maxRetentionDays)
	}
	if err := im.tx.InsertCluster(c); err != nil {
		return err
	}
	if err := im.tx.PutTags(c.ID, tags); err != nil {
		return err
	}
	im.counts.Clusters++
	return im.reserve(path+".ClusterId", c.ID)
}

func (im *importer) HSM(path string, h store.HSM) error {
	if err := hsmType(path, h.HsmType); err != nil {
		return err
	}
	if _, err := im.tx.Cluster(h.ClusterID); errors.Is(err, store.ErrNotFound) {
		return snapshot.Errorf(path+".ClusterId", "cluster %s is not in the document's Clusters: an HSM belongs to a cluster that exists", h.ClusterID)
	} else if err != nil {
		return err
	}
	if err := im.tx.InsertHSM(h); err != nil {
		return err
	}
	im.counts.HSMs++
	return im.reserve(path+".HsmId", h.ID)
}

func (im *importer) Backup(path string, b store.Backup) error {
	if err := hsmType(path, b.HsmType); err != nil {
		return err
	}
	im.backups = append(im.backups, b)
	im.counts.Backups++
	return im.reserve(path+".BackupId", b.ID)
}

func (im *importer) ResourcePolicy(path, backupID, document string) error {
	if err := im.flush(); err != nil { // the backups it names are written
		return err
	}
	b, err := im.tx.Backup(backupID)
	if errors.Is(err, store.ErrNotFound) {
		return snapshot.Errorf(path+".BackupId", "backup %s is not in the document's Backups: a policy belongs to a backup that exists", backupID)
	}
	if err != nil {
		return err
	}
	grants, err := sharePolicy(document, b)
	if err != nil {
		return snapshot.Errorf(path+".Policy", "%s", api.AsError(err).Message)
	}
	if err := im.tx.PutPolicy(store.Policy{BackupID: backupID, Document: document, Grants: grants}); err != nil {
		return err
	}
	im.counts.ResourcePolicies++
	return nil
}

func (im *importer) RetiredID(path, id string) error {
	if im.retiredPath == nil {
		im.retiredPath = map[string]bool{}
	}
	im.retiredPath[id] = true
	im.counts.RetiredIDs++
	return im.reserve(path, id)
}
