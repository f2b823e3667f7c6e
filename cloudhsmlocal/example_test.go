package cloudhsmlocal_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudhsmv2"
	"github.com/aws/smithy-go"

	"github.com/cloudhsm-local/cloudhsm-local/cloudhsmlocal"
)

// The backup lifecycle from the first call on: a cluster claimed and activated, its backup
// deleted, restored, deleted again, and gone for good eight days later.
func Example() {
	ctx := context.Background()
	srv, err := cloudhsmlocal.Start(ctx, cloudhsmlocal.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()
	const account, region = "111122223333", "us-east-1"
	client := cloudhsmv2.NewFromConfig(srv.AWSConfig(account, region))

	created, err := client.CreateCluster(ctx, &cloudhsmv2.CreateClusterInput{
		HsmType: aws.String("hsm2m.medium"), SubnetIds: []string{"subnet-0a1b2c3d4e5f60001"},
	})
	if err != nil {
		log.Fatal(err)
	}
	clusterID := created.Cluster.ClusterId
	fmt.Println("CreateCluster:", created.Cluster.State)

	hsm, err := client.CreateHsm(ctx, &cloudhsmv2.CreateHsmInput{ClusterId: clusterID, AvailabilityZone: aws.String("us-east-1a")})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("CreateHsm:", hsm.Hsm.State)

	// Sign the cluster's CSR with a throwaway CA, then activate it as the CloudHSM CLI would.
	if err := srv.InitializeCluster(ctx, account, region, *clusterID); err != nil {
		log.Fatal(err)
	}
	if err := srv.Activate(ctx, *clusterID); err != nil {
		log.Fatal(err)
	}
	backups, err := client.DescribeBackups(ctx, &cloudhsmv2.DescribeBackupsInput{Filters: map[string][]string{"clusterIds": {*clusterID}}})
	if err != nil {
		log.Fatal(err)
	}
	backupID := backups.Backups[0].BackupId
	fmt.Println("activation backup:", backups.Backups[0].BackupState)

	deleted, err := client.DeleteBackup(ctx, &cloudhsmv2.DeleteBackupInput{BackupId: backupID})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("DeleteBackup:", deleted.Backup.BackupState, "until", deleted.Backup.DeleteTimestamp.Sub(*deleted.Backup.CreateTimestamp).Round(time.Hour))
	restored, err := client.RestoreBackup(ctx, &cloudhsmv2.RestoreBackupInput{BackupId: backupID})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("RestoreBackup:", restored.Backup.BackupState)
	if _, err := client.DeleteBackup(ctx, &cloudhsmv2.DeleteBackupInput{BackupId: backupID}); err != nil {
		log.Fatal(err)
	}

	if err := srv.Advance(ctx, 8*24*time.Hour); err != nil {
		log.Fatal(err)
	}
	after, err := client.DescribeBackups(ctx, &cloudhsmv2.DescribeBackupsInput{Filters: map[string][]string{"backupIds": {*backupID}}})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("8 days later:", after.Backups[0].BackupState)
	// Output:
	// CreateCluster: CREATE_IN_PROGRESS
	// CreateHsm: CREATE_IN_PROGRESS
	// activation backup: READY
	// DeleteBackup: PENDING_DELETION until 168h0m0s
	// RestoreBackup: READY
	// 8 days later: DELETED
}

// ActiveCluster skips to an ACTIVE cluster with its first backup, for tests that start there.
func ExampleServer_ActiveCluster() {
	ctx := context.Background()
	srv, err := cloudhsmlocal.Start(ctx, cloudhsmlocal.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()
	clusterID, backupID, err := srv.ActiveCluster(ctx, "111122223333", "eu-west-1")
	if err != nil {
		log.Fatal(err)
	}
	client := srv.Client("111122223333", "eu-west-1")
	out, err := client.DescribeBackups(ctx, &cloudhsmv2.DescribeBackupsInput{Filters: map[string][]string{"backupIds": {backupID}}})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(out.Backups[0].BackupState, *out.Backups[0].ClusterId == clusterID)
	// Output:
	// READY true
}

// Fault rules make requests fail on purpose, to test a caller's error handling and retries.
func ExampleServer_AddFault() {
	ctx := context.Background()
	srv, err := cloudhsmlocal.Start(ctx, cloudhsmlocal.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()
	if _, err := srv.AddFault(ctx, cloudhsmlocal.FaultRule{
		Operation: "DescribeBackups", Error: "CloudHsmInternalFailureException", Count: 1,
	}); err != nil {
		log.Fatal(err)
	}
	client := srv.Client("111122223333", "us-east-1")
	noRetry := func(o *cloudhsmv2.Options) { o.RetryMaxAttempts = 1 } // the SDK would retry a 500
	_, err = client.DescribeBackups(ctx, &cloudhsmv2.DescribeBackupsInput{}, noRetry)
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) {
		fmt.Println("first call:", apiErr.ErrorCode())
	}
	_, err = client.DescribeBackups(ctx, &cloudhsmv2.DescribeBackupsInput{}, noRetry)
	fmt.Println("second call error:", err)
	rules, err := srv.Faults(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("applied:", rules[0].Applied, "remaining:", rules[0].Remaining)
	// Output:
	// first call: CloudHsmInternalFailureException
	// second call error: <nil>
	// applied: 1 remaining: 0
}
