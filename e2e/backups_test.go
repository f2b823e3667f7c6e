package e2e

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudhsmv2"
	"github.com/aws/aws-sdk-go-v2/service/cloudhsmv2/types"
)

const week = 7 * 24 * time.Hour

// TestBackupLifecycleRules pins docs/BEHAVIOUR.md §4 for DeleteBackup and RestoreBackup, one row per rule.
func TestBackupLifecycleRules(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name string
		run  func(t *testing.T, e *env, c *cloudhsmv2.Client, backupID string)
	}{
		{"DeleteBackup moves READY to PENDING_DELETION with DeleteTimestamp now+7d", func(t *testing.T, e *env, c *cloudhsmv2.Client, id string) {
			now := e.virtualNow(t)
			out, err := c.DeleteBackup(ctx, &cloudhsmv2.DeleteBackupInput{BackupId: &id})
			if err != nil {
				t.Fatal(err)
			}
			if out.Backup.BackupState != types.BackupStatePendingDeletion {
				t.Fatalf("state %s", out.Backup.BackupState)
			}
			if got := aws.ToTime(out.Backup.DeleteTimestamp); !got.Equal(now.Add(week)) {
				t.Fatalf("DeleteTimestamp %s, want %s", got, now.Add(week))
			}
		}},
		{"DeleteBackup of a PENDING_DELETION backup is CloudHsmInvalidRequestException", func(t *testing.T, e *env, c *cloudhsmv2.Client, id string) {
			mustDelete(t, c, id)
			_, err := c.DeleteBackup(ctx, &cloudhsmv2.DeleteBackupInput{BackupId: &id})
			wantAPIError(t, err, "CloudHsmInvalidRequestException", 400)
		}},
		{"RestoreBackup brings PENDING_DELETION back to READY without DeleteTimestamp", func(t *testing.T, e *env, c *cloudhsmv2.Client, id string) {
			mustDelete(t, c, id)
			out, err := c.RestoreBackup(ctx, &cloudhsmv2.RestoreBackupInput{BackupId: &id})
			if err != nil {
				t.Fatal(err)
			}
			if out.Backup.BackupState != types.BackupStateReady || out.Backup.DeleteTimestamp != nil {
				t.Fatalf("restored backup: state %s, DeleteTimestamp %v", out.Backup.BackupState, out.Backup.DeleteTimestamp)
			}
			if got := describeBackup(t, c, id); got.BackupState != types.BackupStateReady || got.DeleteTimestamp != nil {
				t.Fatalf("described after restore: %s %v", got.BackupState, got.DeleteTimestamp)
			}
		}},
		{"RestoreBackup of a READY backup is CloudHsmInvalidRequestException", func(t *testing.T, e *env, c *cloudhsmv2.Client, id string) {
			_, err := c.RestoreBackup(ctx, &cloudhsmv2.RestoreBackupInput{BackupId: &id})
			wantAPIError(t, err, "CloudHsmInvalidRequestException", 400)
		}},
		{"RestoreBackup just before DeleteTimestamp succeeds", func(t *testing.T, e *env, c *cloudhsmv2.Client, id string) {
			mustDelete(t, c, id)
			e.advance(week - time.Second)
			if _, err := c.RestoreBackup(ctx, &cloudhsmv2.RestoreBackupInput{BackupId: &id}); err != nil {
				t.Fatal(err)
			}
		}},
		{"at DeleteTimestamp the backup is DELETED and RestoreBackup is CloudHsmInvalidRequestException", func(t *testing.T, e *env, c *cloudhsmv2.Client, id string) {
			del := mustDelete(t, c, id)
			e.advance(week)
			got := describeBackup(t, c, id)
			if got.BackupState != types.BackupStateDeleted || !aws.ToTime(got.DeleteTimestamp).Equal(aws.ToTime(del.DeleteTimestamp)) {
				t.Fatalf("after 7 days: %s, DeleteTimestamp %v", got.BackupState, got.DeleteTimestamp)
			}
			_, err := c.RestoreBackup(ctx, &cloudhsmv2.RestoreBackupInput{BackupId: &id})
			wantAPIError(t, err, "CloudHsmInvalidRequestException", 400)
		}},
		{"a DELETED backup disappears after the tombstone period and is then not found", func(t *testing.T, e *env, c *cloudhsmv2.Client, id string) {
			mustDelete(t, c, id)
			e.advance(2 * week)
			out, err := c.DescribeBackups(ctx, &cloudhsmv2.DescribeBackupsInput{Filters: map[string][]string{"backupIds": {id}}})
			if err != nil || len(out.Backups) != 0 {
				t.Fatalf("after tombstone: %v %v", out, err)
			}
			_, err = c.RestoreBackup(ctx, &cloudhsmv2.RestoreBackupInput{BackupId: &id})
			wantAPIError(t, err, "CloudHsmResourceNotFoundException", 400)
		}},
		{"RestoreBackup of an unknown ID is CloudHsmResourceNotFoundException", func(t *testing.T, e *env, c *cloudhsmv2.Client, id string) {
			_, err := c.RestoreBackup(ctx, &cloudhsmv2.RestoreBackupInput{BackupId: aws.String("backup-aaaaaaaaaaa")})
			wantAPIError(t, err, "CloudHsmResourceNotFoundException", 400)
		}},
		{"RestoreBackup of a malformed ID is CloudHsmInvalidRequestException", func(t *testing.T, e *env, c *cloudhsmv2.Client, id string) {
			_, err := c.RestoreBackup(ctx, &cloudhsmv2.RestoreBackupInput{BackupId: aws.String("backup-1")})
			wantAPIError(t, err, "CloudHsmInvalidRequestException", 400)
		}},
		{"another account's backup is not found", func(t *testing.T, e *env, c *cloudhsmv2.Client, id string) {
			mustDelete(t, c, id)
			_, err := e.client(account2, "us-east-1").RestoreBackup(ctx, &cloudhsmv2.RestoreBackupInput{BackupId: &id})
			wantAPIError(t, err, "CloudHsmResourceNotFoundException", 400)
		}},
		{"another region's backup is not found", func(t *testing.T, e *env, c *cloudhsmv2.Client, id string) {
			_, err := e.client(account1, "eu-west-1").DeleteBackup(ctx, &cloudhsmv2.DeleteBackupInput{BackupId: &id})
			wantAPIError(t, err, "CloudHsmResourceNotFoundException", 400)
		}},
		{"ModifyBackupAttributes sets NeverExpires", func(t *testing.T, e *env, c *cloudhsmv2.Client, id string) {
			out, err := c.ModifyBackupAttributes(ctx, &cloudhsmv2.ModifyBackupAttributesInput{BackupId: &id, NeverExpires: aws.Bool(true)})
			if err != nil || !aws.ToBool(out.Backup.NeverExpires) {
				t.Fatalf("ModifyBackupAttributes: %+v %v", out, err)
			}
		}},
		{"ModifyBackupAttributes on a DELETED backup is CloudHsmInvalidRequestException", func(t *testing.T, e *env, c *cloudhsmv2.Client, id string) {
			mustDelete(t, c, id)
			e.advance(week)
			_, err := c.ModifyBackupAttributes(ctx, &cloudhsmv2.ModifyBackupAttributesInput{BackupId: &id, NeverExpires: aws.Bool(true)})
			wantAPIError(t, err, "CloudHsmInvalidRequestException", 400)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			c := e.defaultClient()
			_, backupID := e.activeCluster(t, c)
			tt.run(t, e, c, backupID)
		})
	}
}

func mustDelete(t *testing.T, c *cloudhsmv2.Client, id string) *types.Backup {
	t.Helper()
	out, err := c.DeleteBackup(context.Background(), &cloudhsmv2.DeleteBackupInput{BackupId: &id})
	if err != nil {
		t.Fatalf("DeleteBackup: %v", err)
	}
	return out.Backup
}

// virtualNow reads the virtual clock through the admin API.
func (e *env) virtualNow(t *testing.T) time.Time {
	t.Helper()
	var out struct{ Now string }
	e.adminCall(http.MethodGet, "clock", nil, &out)
	now, err := time.Parse(time.RFC3339Nano, out.Now)
	if err != nil {
		t.Fatal(err)
	}
	return now
}
