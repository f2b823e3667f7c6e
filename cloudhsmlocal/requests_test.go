package cloudhsmlocal_test

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/cloudhsmv2"

	"github.com/cloudhsm-local/cloudhsm-local/cloudhsmlocal"
)

// TestRequests: a test checks what its code did — here, that RestoreBackup was called twice for
// one backup, once in vain — through Server.Requests.
func TestRequests(t *testing.T) {
	srv := start(t, cloudhsmlocal.Options{})
	ctx := t.Context()
	clusterID, backupID, err := srv.ActiveCluster(ctx, account1, region)
	if err != nil {
		t.Fatal(err)
	}
	c := cloudhsmv2.NewFromConfig(srv.AWSConfig(account1, region), noRetry)
	if _, err := c.DeleteBackup(ctx, &cloudhsmv2.DeleteBackupInput{BackupId: &backupID}); err != nil {
		t.Fatal(err)
	}
	for range 2 { // the second fails: the backup is READY again
		_, _ = c.RestoreBackup(ctx, &cloudhsmv2.RestoreBackupInput{BackupId: &backupID})
	}
	now, err := srv.Now(ctx)
	if err != nil {
		t.Fatal(err)
	}

	restores, err := srv.Requests(ctx, cloudhsmlocal.RequestFilter{Operation: "RestoreBackup"})
	if err != nil {
		t.Fatal(err)
	}
	if len(restores) != 2 {
		t.Fatalf("%d RestoreBackup requests, want 2: %+v", len(restores), restores)
	}
	failed, ok := restores[0], restores[1] // newest first
	if ok.Status != 200 || ok.Error != "" || failed.Status != 400 || failed.Error != "CloudHsmInvalidRequestException" {
		t.Fatalf("newest %d %s, oldest %d %s; want the failure first", failed.Status, failed.Error, ok.Status, ok.Error)
	}
	for _, r := range restores {
		if r.Account != account1 || r.Region != region || r.AccessKeyID != account1 || r.RequestID == "" ||
			!slices.Contains(r.ResourceIDs, backupID) || r.Time.IsZero() || r.Duration <= 0 {
			t.Fatalf("request %+v", r)
		}
		// The virtual clock reads the wall clock (not moved here): the operation ran between
		// the request's arrival and the Now call above.
		if r.VirtualTime.Before(r.Time.Truncate(time.Millisecond)) || r.VirtualTime.After(now) {
			t.Fatalf("VirtualTime %s, not between the arrival %s and %s", r.VirtualTime, r.Time, now)
		}
	}
	if !slices.Equal(ok.ResourceIDs, []string{backupID, clusterID}) {
		t.Fatalf("ResourceIDs of the restore %v, want the backup and its cluster", ok.ResourceIDs)
	}

	tests := []struct {
		name   string
		filter cloudhsmlocal.RequestFilter
		want   []string // operations, newest first
	}{
		{"any error", cloudhsmlocal.RequestFilter{Error: cloudhsmlocal.AnyError}, []string{"RestoreBackup"}},
		{"an error name", cloudhsmlocal.RequestFilter{Error: "CloudHsmInvalidRequestException"}, []string{"RestoreBackup"}},
		{"a limit", cloudhsmlocal.RequestFilter{Limit: 3}, []string{"RestoreBackup", "RestoreBackup", "DeleteBackup"}},
		{"another account", cloudhsmlocal.RequestFilter{Account: account2}, []string{}},
		{"account and region", cloudhsmlocal.RequestFilter{Account: account1, Region: region, Operation: "DeleteBackup"}, []string{"DeleteBackup"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := srv.Requests(ctx, tt.filter)
			if err != nil {
				t.Fatal(err)
			}
			ops := []string{}
			for _, r := range got {
				ops = append(ops, r.Operation)
			}
			if !slices.Equal(ops, tt.want) {
				t.Fatalf("operations %v, want %v", ops, tt.want)
			}
		})
	}

	if _, err := srv.Requests(ctx, cloudhsmlocal.RequestFilter{Operation: "restore-backup"}); !errors.Is(err, cloudhsmlocal.ErrInvalidArgument) {
		t.Fatalf("an unknown operation: %v, want ErrInvalidArgument", err)
	}
	if err := srv.Reset(ctx); err != nil {
		t.Fatal(err)
	}
	if got, err := srv.Requests(ctx, cloudhsmlocal.RequestFilter{}); err != nil || len(got) != 0 {
		t.Fatalf("after Reset: %+v, %v; want none", got, err)
	}
}

// TestRequestsHistorySize: Options.History bounds what is kept; a negative History turns it off.
func TestRequestsHistorySize(t *testing.T) {
	ctx := t.Context()
	small := start(t, cloudhsmlocal.Options{History: 2})
	c := cloudhsmv2.NewFromConfig(small.AWSConfig(account1, region), noRetry)
	for range 5 {
		if _, err := c.DescribeClusters(ctx, &cloudhsmv2.DescribeClustersInput{}); err != nil {
			t.Fatal(err)
		}
	}
	if got, err := small.Requests(ctx, cloudhsmlocal.RequestFilter{}); err != nil || len(got) != 2 {
		t.Fatalf("History 2 kept %d requests (%v), want 2", len(got), err)
	}
	off := start(t, cloudhsmlocal.Options{History: -1})
	if _, err := off.Requests(ctx, cloudhsmlocal.RequestFilter{}); !errors.Is(err, cloudhsmlocal.ErrNotFound) {
		t.Fatalf("History -1: %v, want ErrNotFound", err)
	}
}
