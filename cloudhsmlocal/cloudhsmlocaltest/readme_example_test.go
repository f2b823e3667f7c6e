package cloudhsmlocaltest_test

import (
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/cloudhsmv2"
	"github.com/aws/aws-sdk-go-v2/service/cloudhsmv2/types"

	"github.com/cloudhsm-local/cloudhsm-local/cloudhsmlocal/cloudhsmlocaltest"
)

func TestDeletedBackupExpires(t *testing.T) {
	srv := cloudhsmlocaltest.New(t) // a private server on a free loopback port, closed when the test ends
	ctx := t.Context()
	client := cloudhsmv2.NewFromConfig(srv.AWSConfig("111122223333", "us-east-1"))

	// An ACTIVE cluster and its first backup: CreateCluster, CreateHsm, the CSR signed, activated.
	_, backupID, err := srv.ActiveCluster(ctx, "111122223333", "us-east-1")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := client.DeleteBackup(ctx, &cloudhsmv2.DeleteBackupInput{BackupId: &backupID}); err != nil {
		t.Fatal(err)
	}
	if err := srv.Advance(ctx, 8*24*time.Hour); err != nil { // the virtual clock, eight days on
		t.Fatal(err)
	}
	out, err := client.DescribeBackups(ctx, &cloudhsmv2.DescribeBackupsInput{
		Filters: map[string][]string{"backupIds": {backupID}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := out.Backups[0].BackupState; got != types.BackupStateDeleted {
		t.Fatalf("8 days after DeleteBackup the backup is %s, want DELETED", got)
	}
}
