package e2e

import (
	"context"
	"net/http"
	"path/filepath"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudhsmv2"
	"github.com/aws/aws-sdk-go-v2/service/cloudhsmv2/types"

	"github.com/cloudhsm-local/cloudhsm-local/internal/store/sqlstore"
)

// TestConcurrentWritesShareCommits drives many DeleteBackup/RestoreBackup calls at once, some of
// them refused, through stores that group concurrent writes into shared commits (with and
// without fsync): every accepted call answers the state it made, every refused one its own
// error, and afterwards each backup is exactly where its own calls left it.
func TestConcurrentWritesShareCommits(t *testing.T) {
	tests := []struct {
		name       string
		store      func(t *testing.T) string
		durability sqlstore.Durability
	}{
		{"memory", func(*testing.T) string { return "memory" }, ""},
		{"SQLite file, durability process", func(t *testing.T) string { return "sqlite:" + filepath.Join(t.TempDir(), "s.db") }, sqlstore.DurabilityProcess},
		{"SQLite file, durability fsync", func(t *testing.T) string { return "sqlite:" + filepath.Join(t.TempDir(), "s.db") }, sqlstore.DurabilityFsync},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, func(o *options) { o.store, o.durability = tt.store(t), tt.durability })
			c := e.defaultClient()
			clusterID, _ := e.activeCluster(t, c)
			const n = 24
			ids := make([]string, n)
			for i := range ids {
				ids[i] = e.takeBackup(t, clusterID)
			}

			// Worker i deletes backup i, restores it, and — when i is odd — restores it once
			// more, which must be refused because it is READY again.
			var wg sync.WaitGroup
			for i, id := range ids {
				wg.Add(1)
				go func() {
					defer wg.Done()
					ctx := context.Background()
					del, err := c.DeleteBackup(ctx, &cloudhsmv2.DeleteBackupInput{BackupId: aws.String(id)})
					if err != nil || del.Backup.BackupState != types.BackupStatePendingDeletion {
						t.Errorf("DeleteBackup %s: %v %+v", id, err, del)
						return
					}
					res, err := c.RestoreBackup(ctx, &cloudhsmv2.RestoreBackupInput{BackupId: aws.String(id)})
					if err != nil || res.Backup.BackupState != types.BackupStateReady {
						t.Errorf("RestoreBackup %s: %v %+v", id, err, res)
						return
					}
					if i%2 == 1 {
						_, err := c.RestoreBackup(ctx, &cloudhsmv2.RestoreBackupInput{BackupId: aws.String(id)})
						wantAPIError(t, err, "CloudHsmInvalidRequestException", http.StatusBadRequest)
					}
					if i%3 == 0 { // and a third end deleted
						if _, err := c.DeleteBackup(ctx, &cloudhsmv2.DeleteBackupInput{BackupId: aws.String(id)}); err != nil {
							t.Errorf("second DeleteBackup %s: %v", id, err)
						}
					}
				}()
			}
			wg.Wait()

			for i, id := range ids {
				want := types.BackupStateReady
				if i%3 == 0 {
					want = types.BackupStatePendingDeletion
				}
				if got := describeBackup(t, c, id).BackupState; got != want {
					t.Errorf("backup %d (%s) is %s, want %s", i, id, got, want)
				}
			}
		})
	}
}
