package e2e

import (
	"context"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudhsmv2"
	"github.com/aws/aws-sdk-go-v2/service/cloudhsmv2/types"

	"github.com/cloudhsm-local/cloudhsm-local/internal/admin"
	"github.com/cloudhsm-local/cloudhsm-local/internal/clock"
	"github.com/cloudhsm-local/cloudhsm-local/internal/lifecycle"
	"github.com/cloudhsm-local/cloudhsm-local/internal/server"
	"github.com/cloudhsm-local/cloudhsm-local/internal/service"
)

// startServer is newEnv for a given store and wall time, with a stop function that closes the
// server (and its store) mid-test; it is also called at cleanup.
func startServer(t *testing.T, dsn string, wall time.Time) (*env, func()) {
	t.Helper()
	clk := clock.NewManual(wall)
	srv, err := server.New(context.Background(), server.Config{
		Store: dsn, DefaultRegion: "us-east-1", Lifecycle: lifecycle.DefaultConfig(), Service: service.DefaultConfig(), Clock: clk,
	})
	if err != nil {
		t.Fatalf("start server on %s: %v", dsn, err)
	}
	hs := httptest.NewServer(srv.Handler())
	var once sync.Once
	stop := func() {
		once.Do(func() {
			hs.Close()
			if err := srv.Close(); err != nil {
				t.Errorf("close server: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	return &env{t: t, url: hs.URL, clock: clk, admin: admin.Client{Endpoint: hs.URL}}, stop
}

// snapshot is everything a client can read, as raw response bodies.
type snapshot map[string]string

func takeSnapshot(t *testing.T, e *env, clusterID, backupID, backupArn string) snapshot {
	t.Helper()
	s := snapshot{}
	for _, q := range []struct{ name, account, region, op, body string }{
		{"clusters us-east-1", account1, "us-east-1", "DescribeClusters", `{}`},
		{"backups us-east-1", account1, "us-east-1", "DescribeBackups", `{"SortAscending":true}`},
		{"clusters eu-west-1", account1, "eu-west-1", "DescribeClusters", `{}`},
		{"backups eu-west-1", account1, "eu-west-1", "DescribeBackups", `{}`},
		{"clusters of account2", account2, "us-east-1", "DescribeClusters", `{}`},
		{"shared with account2", account2, "us-east-1", "DescribeBackups", `{"Shared":true}`},
		{"cluster tags", account1, "us-east-1", "ListTags", `{"ResourceId":"` + clusterID + `"}`},
		{"backup tags", account1, "us-east-1", "ListTags", `{"ResourceId":"` + backupID + `"}`},
		{"policy", account1, "us-east-1", "GetResourcePolicy", `{"ResourceArn":"` + backupArn + `"}`},
	} {
		status, _, body := e.rawCall(q.op, q.body, sigV4(q.account, q.region))
		if status != http.StatusOK {
			t.Fatalf("%s: HTTP %d %s", q.name, status, body)
		}
		s[q.name] = body
	}
	return s
}

// TestRestart stops a server on a SQLite file and starts another on the same file: every
// resource, the virtual clock and pending lifecycle steps survive.
func TestRestart(t *testing.T) {
	ctx := context.Background()
	dsn := "sqlite:" + filepath.Join(t.TempDir(), "state.db")

	first, stopFirst := startServer(t, dsn, start)
	c := first.defaultClient()
	clusterID, b0 := first.activeCluster(t, c)
	b0Arn := aws.ToString(describeBackup(t, c, b0).BackupArn)
	if _, err := c.TagResource(ctx, &cloudhsmv2.TagResourceInput{ResourceId: &clusterID, TagList: []types.Tag{{Key: aws.String("team"), Value: aws.String("crypto")}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.TagResource(ctx, &cloudhsmv2.TagResourceInput{ResourceId: &b0, TagList: []types.Tag{{Key: aws.String("keep"), Value: aws.String("yes")}}}); err != nil {
		t.Fatal(err)
	}
	policy := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":["` + account2 + `"]},"Action":"cloudhsm:DescribeBackups","Resource":"` + b0Arn + `"}]}`
	if _, err := c.PutResourcePolicy(ctx, &cloudhsmv2.PutResourcePolicyInput{ResourceArn: &b0Arn, Policy: &policy}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CopyBackupToRegion(ctx, &cloudhsmv2.CopyBackupToRegionInput{BackupId: &b0, DestinationRegion: aws.String("eu-west-1")}); err != nil {
		t.Fatal(err)
	}
	mustCreateCluster(t, first.client(account2, "us-east-1"), nil)
	first.advance(2*oneDay + time.Hour) // two daily backups
	daily := backupsOf(t, c, clusterID)
	if len(daily) != 3 {
		t.Fatalf("want the activation backup and 2 daily ones, got %d", len(daily))
	}
	pending := aws.ToString(daily[1].BackupId)
	deleted := mustDelete(t, c, pending)
	before := takeSnapshot(t, first, clusterID, b0, b0Arn)
	clockBefore := first.virtualNow(t)
	stopFirst()

	// Same wall clock: the same virtual time, the same answers, byte for byte.
	second, stopSecond := startServer(t, dsn, start)
	after := takeSnapshot(t, second, clusterID, b0, b0Arn)
	for name, body := range before {
		if after[name] != body {
			t.Errorf("%s changed across the restart:\nbefore %s\nafter  %s", name, body, after[name])
		}
	}
	if now := second.virtualNow(t); !now.Equal(clockBefore) {
		t.Fatalf("virtual clock after restart %s, want %s", now, clockBefore)
	}
	var health admin.Health
	second.adminCall(http.MethodGet, "health", nil, &health)
	if health.Store != "sqlite" {
		t.Errorf("health store %q, want sqlite", health.Store)
	}
	stopSecond()

	// A wall clock that lags behind: the virtual clock does not move back.
	lagging, stopLagging := startServer(t, dsn, start.Add(-24*time.Hour))
	if now := lagging.virtualNow(t); now.Before(clockBefore) {
		t.Fatalf("virtual clock after a restart with a lagging wall clock: %s, before %s", now, clockBefore)
	}
	stopLagging()

	// A wall clock an hour later: the virtual clock keeps its offset and moves on from there.
	third, _ := startServer(t, dsn, start.Add(time.Hour))
	if now := third.virtualNow(t); !now.Equal(clockBefore.Add(time.Hour)) {
		t.Fatalf("virtual clock after a restart an hour later: %s, want %s", now, clockBefore.Add(time.Hour))
	}
	c = third.defaultClient()
	got := describeBackup(t, c, pending)
	if got.BackupState != types.BackupStatePendingDeletion || !aws.ToTime(got.DeleteTimestamp).Equal(aws.ToTime(deleted.DeleteTimestamp)) {
		t.Fatalf("the pending deletion after restart: %s %v", got.BackupState, got.DeleteTimestamp)
	}
	if _, err := c.RestoreBackup(ctx, &cloudhsmv2.RestoreBackupInput{BackupId: &pending}); err != nil {
		t.Fatalf("RestoreBackup after restart: %v", err)
	}
	// The daily schedule survived too: the next backup comes at activation + 3 days.
	third.advance(oneDay)
	all := backupsOf(t, c, clusterID)
	if len(all) != 4 || !aws.ToTime(all[3].CreateTimestamp).Equal(aws.ToTime(all[0].CreateTimestamp).Add(3*oneDay)) {
		t.Fatalf("after restart the daily backup should continue on schedule, got %d backups", len(all))
	}
	// A deletion made after the restart expires on time as well.
	mustDelete(t, c, pending)
	third.advance(week)
	if b := describeBackup(t, c, pending); b.BackupState != types.BackupStateDeleted {
		t.Fatalf("a week after DeleteBackup: %s, want DELETED", b.BackupState)
	}
}
