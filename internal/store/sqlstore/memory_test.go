package sqlstore

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cloudhsm-local/cloudhsm-local/internal/store"
)

// dirEntries lists the names in dir.
func dirEntries(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

// The memory store lives in a temporary file that is unlinked as soon as it is open: nothing
// is ever left in the directory, even by a process that is killed, and the store works as one
// database through the unlinked file, also once it outgrows SQLite's page cache.
func TestMemoryStoreLeavesNoFile(t *testing.T) {
	dir := t.TempDir()
	s, err := openMemoryIn(t.Context(), dir)
	if err != nil {
		t.Fatal(err)
	}
	closed := false
	t.Cleanup(func() {
		if !closed {
			_ = s.Close()
		}
	})
	ctx := t.Context()
	// Enough backups for a database several times the default 2 MiB page cache, so pages are
	// written to the unlinked file and read back from it.
	const backups = 20_000
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	backupID := func(i int) string { return fmt.Sprintf("backup-%011d", i) }

	steps := []struct {
		name string
		run  func(t *testing.T)
	}{
		{"after Open the file is already gone", func(t *testing.T) {
			if names := dirEntries(t, dir); len(names) != 0 {
				t.Fatalf("files left in %s: %v", dir, names)
			}
			if s.Kind() != "memory" {
				t.Fatalf("Kind = %q", s.Kind())
			}
		}},
		{"what an Update writes, a View reads back", func(t *testing.T) {
			err := s.Update(ctx, store.Everything(), func(tx store.Tx) error {
				for i := range backups {
					if err := tx.InsertBackup(store.Backup{
						ID: backupID(i), Account: "111122223333", Region: "us-east-1", ClusterID: "cluster-aaaaaaaaaaa",
						State: "READY", HsmType: "hsm2m.medium", Mode: "FIPS", CreatedAt: t0.Add(time.Duration(i) * time.Second), Version: 1,
					}); err != nil {
						return err
					}
				}
				return tx.PutSetting("k", "v")
			})
			if err != nil {
				t.Fatal(err)
			}
			err = s.View(ctx, func(tx store.Tx) error {
				for _, i := range []int{0, backups / 2, backups - 1} {
					b, err := tx.Backup(backupID(i))
					if err != nil || !b.CreatedAt.Equal(t0.Add(time.Duration(i)*time.Second)) {
						return fmt.Errorf("backup %d: %+v, %v", i, b, err)
					}
				}
				page, err := tx.Backups(store.BackupQuery{Account: "111122223333", Region: "us-east-1", Limit: 3})
				if err != nil || len(page) != 3 || page[0].ID != backupID(backups-1) {
					return fmt.Errorf("newest page: %d backups, first %v, %v", len(page), page, err)
				}
				v, err := tx.Setting("k")
				if err != nil || v != "v" {
					return fmt.Errorf("setting k = %q, %v", v, err)
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
		}},
		{"a failed Update keeps nothing", func(t *testing.T) {
			boom := errors.New("boom")
			err := s.Update(ctx, store.Everything(), func(tx store.Tx) error {
				if err := tx.PutSetting("k", "changed"); err != nil {
					return err
				}
				if err := tx.DeleteBackup(backupID(0)); err != nil {
					return err
				}
				return boom
			})
			if !errors.Is(err, boom) {
				t.Fatalf("Update: %v, want fn's error", err)
			}
			err = s.View(ctx, func(tx store.Tx) error {
				if v, err := tx.Setting("k"); err != nil || v != "v" {
					return fmt.Errorf("setting k = %q, %v after the rollback", v, err)
				}
				_, err := tx.Backup(backupID(0))
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
		}},
		{"Close leaves the directory empty", func(t *testing.T) {
			closed = true
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			if names := dirEntries(t, dir); len(names) != 0 {
				t.Fatalf("files left in %s: %v", dir, names)
			}
		}},
	}
	for _, step := range steps {
		if !t.Run(step.name, step.run) {
			return
		}
	}
}

func TestMemoryStoreInMissingDirectory(t *testing.T) {
	s, err := openMemoryIn(t.Context(), filepath.Join(t.TempDir(), "missing"))
	if err == nil {
		s.Close()
		t.Fatal("openMemoryIn succeeded in a missing directory")
	}
	if !strings.Contains(err.Error(), "TMPDIR") {
		t.Fatalf("the error does not say what to do: %v", err)
	}
}
