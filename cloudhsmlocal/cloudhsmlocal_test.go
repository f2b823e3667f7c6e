package cloudhsmlocal_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudhsmv2"
	"github.com/aws/aws-sdk-go-v2/service/cloudhsmv2/types"
	"github.com/aws/smithy-go"

	"github.com/cloudhsm-local/cloudhsm-local/cloudhsmlocal"
)

const (
	account1 = "111122223333"
	account2 = "444455556666"
	region   = "us-east-1"
)

// start starts a server for t and closes it when t ends.
func start(t testing.TB, opts cloudhsmlocal.Options) *cloudhsmlocal.Server {
	t.Helper()
	srv, err := cloudhsmlocal.Start(t.Context(), opts)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		if err := srv.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return srv
}

// noRetry makes a client show every error answer instead of retrying it.
func noRetry(o *cloudhsmv2.Options) { o.RetryMaxAttempts = 1 }

func describeBackup(t *testing.T, c *cloudhsmv2.Client, id string) types.Backup {
	t.Helper()
	out, err := c.DescribeBackups(t.Context(), &cloudhsmv2.DescribeBackupsInput{Filters: map[string][]string{"backupIds": {id}}})
	if err != nil {
		t.Fatalf("DescribeBackups %s: %v", id, err)
	}
	if len(out.Backups) != 1 {
		t.Fatalf("DescribeBackups %s: %d backups, want 1", id, len(out.Backups))
	}
	return out.Backups[0]
}

func clusterIDs(t *testing.T, c *cloudhsmv2.Client) []string {
	t.Helper()
	out, err := c.DescribeClusters(t.Context(), &cloudhsmv2.DescribeClustersInput{})
	if err != nil {
		t.Fatalf("DescribeClusters: %v", err)
	}
	var ids []string
	for _, cl := range out.Clusters {
		ids = append(ids, aws.ToString(cl.ClusterId))
	}
	return ids
}

// wantAPIError asserts that err is the API error named code.
func wantAPIError(t *testing.T, err error, code string) {
	t.Helper()
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		t.Fatalf("got %v, want the API error %s", err, code)
	}
	if ae.ErrorCode() != code {
		t.Fatalf("got %s (%s), want %s", ae.ErrorCode(), ae.ErrorMessage(), code)
	}
}

// TestBackupLifecycle is the scenario through the helpers: an ACTIVE cluster's backup
// deleted, restored, deleted again, and DELETED eight days later, with the clock read back.
func TestBackupLifecycle(t *testing.T) {
	srv := start(t, cloudhsmlocal.Options{})
	ctx := t.Context()
	clusterID, backupID, err := srv.ActiveCluster(ctx, account1, region)
	if err != nil {
		t.Fatal(err)
	}
	c := srv.Client(account1, region)
	if b := describeBackup(t, c, backupID); b.BackupState != types.BackupStateReady || aws.ToString(b.ClusterId) != clusterID {
		t.Fatalf("ActiveCluster's backup is %s of %s, want READY of %s", b.BackupState, aws.ToString(b.ClusterId), clusterID)
	}
	before, err := srv.Now(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []types.BackupState{types.BackupStatePendingDeletion, types.BackupStateReady, types.BackupStatePendingDeletion} {
		var got types.BackupState
		if i == 1 {
			out, err := c.RestoreBackup(ctx, &cloudhsmv2.RestoreBackupInput{BackupId: &backupID})
			if err != nil {
				t.Fatal(err)
			}
			got = out.Backup.BackupState
		} else {
			out, err := c.DeleteBackup(ctx, &cloudhsmv2.DeleteBackupInput{BackupId: &backupID})
			if err != nil {
				t.Fatal(err)
			}
			got = out.Backup.BackupState
		}
		if got != want {
			t.Fatalf("step %d: backup is %s, want %s", i+1, got, want)
		}
	}
	if err := srv.Advance(ctx, 8*24*time.Hour); err != nil {
		t.Fatal(err)
	}
	if got := describeBackup(t, c, backupID).BackupState; got != types.BackupStateDeleted {
		t.Fatalf("8 days after DeleteBackup the backup is %s, want DELETED", got)
	}
	after, err := srv.Now(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if moved := after.Sub(before); moved < 8*24*time.Hour || moved > 8*24*time.Hour+time.Minute {
		t.Fatalf("Advance(8 days) moved the clock by %s", moved)
	}
	if err := srv.SetTime(ctx, after.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if now, err := srv.Now(ctx); err != nil || now.Before(after.Add(time.Hour)) {
		t.Fatalf("after SetTime(%s) Now = %s, %v", after.Add(time.Hour), now, err)
	}
}

// TestParallelServersAreIsolated runs 50 servers in parallel tests of one process: each sees
// only its own cluster, its own clock and its own fault rules.
func TestParallelServersAreIsolated(t *testing.T) {
	for i := range 50 {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			t.Parallel()
			srv := start(t, cloudhsmlocal.Options{})
			ctx := t.Context()
			c := srv.Client(account1, region)
			if got := clusterIDs(t, c); len(got) != 0 {
				t.Fatalf("a new server lists clusters %v", got)
			}
			out, err := c.CreateCluster(ctx, &cloudhsmv2.CreateClusterInput{HsmType: aws.String("hsm2m.medium"), SubnetIds: []string{"subnet-0a1b2c3d4e5f60001"}})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := srv.AddFault(ctx, cloudhsmlocal.FaultRule{Operation: "ListTags", Latency: time.Duration(i+1) * time.Millisecond}); err != nil {
				t.Fatal(err)
			}
			if err := srv.Advance(ctx, time.Duration(i+1)*time.Hour); err != nil {
				t.Fatal(err)
			}
			if got := clusterIDs(t, c); len(got) != 1 || got[0] != aws.ToString(out.Cluster.ClusterId) {
				t.Fatalf("the server lists clusters %v, want only its own %s", got, aws.ToString(out.Cluster.ClusterId))
			}
			rules, err := srv.Faults(ctx)
			if err != nil || len(rules) != 1 || rules[0].Latency != time.Duration(i+1)*time.Millisecond {
				t.Fatalf("Faults = %+v, %v; want only this server's one rule", rules, err)
			}
			now, err := srv.Now(ctx)
			if err != nil {
				t.Fatal(err)
			}
			created := aws.ToTime(out.Cluster.CreateTimestamp)
			if moved := now.Sub(created); moved < time.Duration(i+1)*time.Hour || moved >= time.Duration(i+2)*time.Hour {
				t.Fatalf("the clock moved %s since the cluster was created, want this server's own %dh", moved, i+1)
			}
		})
	}
}

// TestFiftyServersAtOnce: 50 servers alive together, started and used from 50 goroutines, each
// see only their own cluster and clock.
func TestFiftyServersAtOnce(t *testing.T) {
	const n = 50
	servers := make([]*cloudhsmlocal.Server, n)
	clusters := make([]string, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			srv, err := cloudhsmlocal.Start(t.Context(), cloudhsmlocal.Options{})
			if err != nil {
				t.Errorf("Start #%d: %v", i, err)
				return
			}
			servers[i] = srv
			out, err := srv.Client(account1, region).CreateCluster(t.Context(), &cloudhsmv2.CreateClusterInput{HsmType: aws.String("hsm2m.medium"), SubnetIds: []string{"subnet-0a1b2c3d4e5f60001"}})
			if err != nil {
				t.Errorf("CreateCluster on server #%d: %v", i, err)
				return
			}
			clusters[i] = aws.ToString(out.Cluster.ClusterId)
			if err := srv.Advance(t.Context(), time.Duration(i+1)*24*time.Hour); err != nil {
				t.Errorf("Advance on server #%d: %v", i, err)
			}
		})
	}
	wg.Wait()
	t.Cleanup(func() {
		for _, srv := range servers {
			if srv != nil {
				if err := srv.Close(); err != nil {
					t.Errorf("Close: %v", err)
				}
			}
		}
	})
	if t.Failed() {
		t.FailNow()
	}
	first, err := servers[0].Now(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	for i, srv := range servers {
		if got := clusterIDs(t, srv.Client(account1, region)); len(got) != 1 || got[0] != clusters[i] {
			t.Errorf("server #%d lists clusters %v, want only its own %s", i, got, clusters[i])
		}
		now, err := srv.Now(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if days := now.Sub(first).Round(time.Hour) / (24 * time.Hour); int(days) != i {
			t.Errorf("server #%d's clock is %s, %d days after server #0's; want %d (each moved its own by its number + 1 days)", i, now, days, i)
		}
	}
}

// TestAccountsAndRegions: AWSConfig's account and region are the caller's; each sees only its
// own clusters.
func TestAccountsAndRegions(t *testing.T) {
	srv := start(t, cloudhsmlocal.Options{})
	ids := map[string]string{}
	for _, who := range []struct{ account, region string }{{account1, region}, {account2, region}, {account1, "eu-west-1"}} {
		id, _, err := srv.ActiveCluster(t.Context(), who.account, who.region)
		if err != nil {
			t.Fatal(err)
		}
		ids[who.account+"/"+who.region] = id
	}
	for key, id := range ids {
		account, region, _ := strings.Cut(key, "/")
		if got := clusterIDs(t, srv.Client(account, region)); len(got) != 1 || got[0] != id {
			t.Errorf("%s sees clusters %v, want only %s", key, got, id)
		}
	}
}

// TestClose: Close is idempotent, the address stops answering, and the admin methods then
// return ErrClosed.
func TestClose(t *testing.T) {
	srv, err := cloudhsmlocal.Start(t.Context(), cloudhsmlocal.Options{})
	if err != nil {
		t.Fatal(err)
	}
	c := srv.Client(account1, region)
	if got := clusterIDs(t, c); len(got) != 0 {
		t.Fatalf("clusters %v", got)
	}
	for i := range 3 {
		if err := srv.Close(); err != nil {
			t.Fatalf("Close #%d: %v", i+1, err)
		}
	}
	if _, err := c.DescribeClusters(t.Context(), &cloudhsmv2.DescribeClustersInput{}, noRetry); err == nil {
		t.Error("a closed server still answers the API")
	}
	if err := srv.Advance(t.Context(), time.Hour); !errors.Is(err, cloudhsmlocal.ErrClosed) {
		t.Errorf("Advance after Close = %v, want ErrClosed", err)
	}
}

// TestSQLiteStoreOutlivesServer: a server on a SQLite file, closed and started again on the
// same file, has the same clusters and a clock no earlier than it was.
func TestSQLiteStoreOutlivesServer(t *testing.T) {
	opts := cloudhsmlocal.Options{Store: "sqlite:" + filepath.Join(t.TempDir(), "state.db"), Durability: cloudhsmlocal.DurabilityFsync}
	first, err := cloudhsmlocal.Start(t.Context(), opts)
	if err != nil {
		t.Fatal(err)
	}
	clusterID, backupID, err := first.ActiveCluster(t.Context(), account1, region)
	if err != nil {
		t.Fatal(err)
	}
	if err := first.Advance(t.Context(), 30*24*time.Hour); err != nil {
		t.Fatal(err)
	}
	then, err := first.Now(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}

	second := start(t, opts)
	c := second.Client(account1, region)
	if got := clusterIDs(t, c); len(got) != 1 || got[0] != clusterID {
		t.Fatalf("after a restart the clusters are %v, want [%s]", got, clusterID)
	}
	if b := describeBackup(t, c, backupID); b.BackupState != types.BackupStateReady {
		t.Fatalf("after a restart the backup is %s, want READY", b.BackupState)
	}
	if now, err := second.Now(t.Context()); err != nil || now.Before(then) {
		t.Fatalf("after a restart Now = %s, %v; want no earlier than %s", now, err, then)
	}
}

// strictOptions is strict mode with one credential per account, the second from a file.
func strictOptions(t *testing.T) cloudhsmlocal.Options {
	t.Helper()
	file := filepath.Join(t.TempDir(), "credentials.json")
	if err := os.WriteFile(file, []byte(`[{"access_key_id":"AKIDFILE","secret_access_key":"file-secret","account_id":"`+account2+`"}]`), 0o600); err != nil {
		t.Fatal(err)
	}
	return cloudhsmlocal.Options{
		Strict:          true,
		AdminToken:      "admin-token",
		Credentials:     []cloudhsmlocal.Credential{{AccessKeyID: "AKIDONE", SecretAccessKey: "one-secret", AccountID: account1}},
		CredentialsFile: file,
	}
}

// TestStrictMode: AWSConfig signs with the account's credential (from the list or the file), a
// wrong secret is refused, an account without a credential fails on the client side, and the
// admin methods send the admin token.
func TestStrictMode(t *testing.T) {
	srv := start(t, strictOptions(t))
	ctx := t.Context()
	for _, account := range []string{account1, account2} {
		if _, _, err := srv.ActiveCluster(ctx, account, region); err != nil {
			t.Fatalf("ActiveCluster as %s: %v", account, err)
		}
		if got := clusterIDs(t, srv.Client(account, region)); len(got) != 1 {
			t.Fatalf("%s sees clusters %v, want its one", account, got)
		}
	}

	cfg := srv.AWSConfig(account1, region)
	creds, err := cfg.Credentials.Retrieve(ctx)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Credentials = aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
		return aws.Credentials{AccessKeyID: creds.AccessKeyID, SecretAccessKey: "wrong-secret"}, nil
	})
	_, err = cloudhsmv2.NewFromConfig(cfg).DescribeClusters(ctx, &cloudhsmv2.DescribeClustersInput{}, noRetry)
	wantAPIError(t, err, "InvalidSignatureException")

	_, err = srv.Client("999988887777", region).DescribeClusters(ctx, &cloudhsmv2.DescribeClustersInput{}, noRetry)
	if err == nil || !strings.Contains(err.Error(), `no credential for account "999988887777"`) {
		t.Fatalf("a client of an account without a credential: %v, want an error naming the account", err)
	}

	// Without the token the admin API refuses; the Server's own methods send it.
	resp, err := http.Post(srv.URL()+"/_cloudhsm-local/reset", "application/json", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("an admin request without the token: HTTP %d, want 401", resp.StatusCode)
	}
	if err := srv.Reset(ctx); err != nil {
		t.Fatal(err)
	}
}

// TestAdminErrors: every refused admin action is an *AdminError that errors.Is matches with
// the sentinel of its reason.
func TestAdminErrors(t *testing.T) {
	srv := start(t, cloudhsmlocal.Options{})
	ctx := t.Context()
	c := srv.Client(account1, region)
	out, err := c.CreateCluster(ctx, &cloudhsmv2.CreateClusterInput{HsmType: aws.String("hsm2m.medium"), SubnetIds: []string{"subnet-0a1b2c3d4e5f60001"}})
	if err != nil {
		t.Fatal(err)
	}
	uninitialized := aws.ToString(out.Cluster.ClusterId)
	now, err := srv.Now(ctx)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		call   func() error
		want   error
		status int
	}{
		{"activate an unknown cluster", func() error { return srv.Activate(ctx, "cluster-aaaaaaaaaaa") }, cloudhsmlocal.ErrNotFound, 404},
		{"activate an UNINITIALIZED cluster", func() error { return srv.Activate(ctx, uninitialized) }, cloudhsmlocal.ErrConflict, 409},
		{"back up an UNINITIALIZED cluster", func() error { _, err := srv.TakeBackup(ctx, uninitialized); return err }, cloudhsmlocal.ErrConflict, 409},
		{"take 0 backups", func() error { _, err := srv.TakeBackups(ctx, uninitialized, 0); return err }, cloudhsmlocal.ErrInvalidArgument, 400},
		{"set the clock back", func() error { return srv.SetTime(ctx, now.Add(-time.Hour)) }, cloudhsmlocal.ErrConflict, 409},
		{"advance by a negative duration", func() error { return srv.Advance(ctx, -time.Hour) }, cloudhsmlocal.ErrConflict, 409},
		{"advance by more than ten years", func() error { return srv.Advance(ctx, 11*366*24*time.Hour) }, cloudhsmlocal.ErrInvalidArgument, 400},
		{"a fault rule on no operation", func() error {
			_, err := srv.AddFault(ctx, cloudhsmlocal.FaultRule{Operation: "Nope", Error: "CloudHsmServiceException"})
			return err
		}, cloudhsmlocal.ErrInvalidArgument, 400},
		{"a fault rule with count and probability", func() error {
			_, err := srv.AddFault(ctx, cloudhsmlocal.FaultRule{Operation: cloudhsmlocal.AnyOperation, Error: "CloudHsmServiceException", Count: 1, Probability: 0.5})
			return err
		}, cloudhsmlocal.ErrInvalidArgument, 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.call()
			var ae *cloudhsmlocal.AdminError
			if !errors.As(err, &ae) {
				t.Fatalf("got %v, want an *AdminError", err)
			}
			if !errors.Is(err, tt.want) || ae.StatusCode != tt.status || ae.Message == "" {
				t.Fatalf("got %v (status %d), want %v with status %d and a message", err, ae.StatusCode, tt.want, tt.status)
			}
			for _, other := range []error{cloudhsmlocal.ErrNotFound, cloudhsmlocal.ErrConflict, cloudhsmlocal.ErrInvalidArgument} {
				if other != tt.want && errors.Is(err, other) {
					t.Errorf("%v also matches %v", err, other)
				}
			}
		})
	}
}

// TestBackupsAndReset: TakeBackup and TakeBackups add READY backups to an ACTIVE cluster, and
// Reset empties the store.
func TestBackupsAndReset(t *testing.T) {
	srv := start(t, cloudhsmlocal.Options{})
	ctx := t.Context()
	clusterID, _, err := srv.ActiveCluster(ctx, account1, region)
	if err != nil {
		t.Fatal(err)
	}
	one, err := srv.TakeBackup(ctx, clusterID)
	if err != nil {
		t.Fatal(err)
	}
	more, err := srv.TakeBackups(ctx, clusterID, 3)
	if err != nil {
		t.Fatal(err)
	}
	c := srv.Client(account1, region)
	for _, id := range append([]string{one}, more...) {
		if got := describeBackup(t, c, id); got.BackupState != types.BackupStateReady || aws.ToString(got.ClusterId) != clusterID {
			t.Errorf("backup %s is %s of %s, want READY of %s", id, got.BackupState, aws.ToString(got.ClusterId), clusterID)
		}
	}
	if err := srv.Reset(ctx); err != nil {
		t.Fatal(err)
	}
	if got := clusterIDs(t, c); len(got) != 0 {
		t.Fatalf("after Reset the clusters are %v", got)
	}
}

// TestFaults: a rule fails the next matching requests with its error, is listed with its
// counters, and ClearFaults removes it.
func TestFaults(t *testing.T) {
	srv := start(t, cloudhsmlocal.Options{})
	ctx := t.Context()
	added, err := srv.AddFault(ctx, cloudhsmlocal.FaultRule{Operation: "DescribeClusters", Error: "CloudHsmServiceException", Latency: 5 * time.Millisecond, Count: 2})
	if err != nil {
		t.Fatal(err)
	}
	want := cloudhsmlocal.Fault{ID: 1, FaultRule: cloudhsmlocal.FaultRule{Operation: "DescribeClusters", Error: "CloudHsmServiceException", Latency: 5 * time.Millisecond, Count: 2}, Remaining: 2}
	if added != want {
		t.Fatalf("AddFault = %+v, want %+v", added, want)
	}
	c := srv.Client(account1, region)
	for range 2 {
		_, err := c.DescribeClusters(ctx, &cloudhsmv2.DescribeClustersInput{}, noRetry)
		wantAPIError(t, err, "CloudHsmServiceException")
	}
	if got := clusterIDs(t, c); len(got) != 0 {
		t.Fatalf("clusters %v", got)
	}
	want.Remaining, want.Applied = 0, 2
	if list, err := srv.Faults(ctx); err != nil || len(list) != 1 || list[0] != want {
		t.Fatalf("Faults = %+v, %v; want [%+v]", list, err, want)
	}
	if n, err := srv.ClearFaults(ctx); err != nil || n != 1 {
		t.Fatalf("ClearFaults = %d, %v; want 1", n, err)
	}
	if list, err := srv.Faults(ctx); err != nil || len(list) != 0 {
		t.Fatalf("after ClearFaults, Faults = %+v, %v", list, err)
	}
}

// TestHandler: the Handler mounted in another server serves the same store.
func TestHandler(t *testing.T) {
	srv := start(t, cloudhsmlocal.Options{})
	clusterID, _, err := srv.ActiveCluster(t.Context(), account1, region)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/", srv.Handler())
	other := httptest.NewServer(mux)
	defer other.Close()
	cfg := srv.AWSConfig(account1, region)
	cfg.BaseEndpoint = aws.String(other.URL)
	if got := clusterIDs(t, cloudhsmv2.NewFromConfig(cfg)); len(got) != 1 || got[0] != clusterID {
		t.Fatalf("through the mounted Handler the clusters are %v, want [%s]", got, clusterID)
	}
}

// TestActiveClusterWaitsOutDelays: with delays, ActiveCluster moves the clock past each one
// and still returns an ACTIVE cluster with a READY backup.
func TestActiveClusterWaitsOutDelays(t *testing.T) {
	srv := start(t, cloudhsmlocal.Options{Delay: time.Hour, Delays: map[cloudhsmlocal.Transition]time.Duration{cloudhsmlocal.BackupCreate: 10 * time.Minute}})
	ctx := t.Context()
	before, err := srv.Now(ctx)
	if err != nil {
		t.Fatal(err)
	}
	clusterID, backupID, err := srv.ActiveCluster(ctx, account1, region)
	if err != nil {
		t.Fatal(err)
	}
	c := srv.Client(account1, region)
	out, err := c.DescribeClusters(ctx, &cloudhsmv2.DescribeClustersInput{Filters: map[string][]string{"clusterIds": {clusterID}}})
	if err != nil || len(out.Clusters) != 1 || out.Clusters[0].State != types.ClusterStateActive {
		t.Fatalf("DescribeClusters %s = %+v, %v; want it ACTIVE", clusterID, out, err)
	}
	if b := describeBackup(t, c, backupID); b.BackupState != types.BackupStateReady {
		t.Fatalf("backup %s is %s, want READY", backupID, b.BackupState)
	}
	after, err := srv.Now(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// cluster-create, hsm-create and cluster-initialize take an hour each, backup-create 10 min.
	if moved := after.Sub(before); moved < 3*time.Hour+10*time.Minute || moved > 3*time.Hour+11*time.Minute {
		t.Fatalf("ActiveCluster moved the clock by %s, want 3h10m", moved)
	}
}

// TestSubnets: with Options.Subnets, clusters live in those subnets, and ActiveCluster picks one
// in its region or says that there is none.
func TestSubnets(t *testing.T) {
	srv := start(t, cloudhsmlocal.Options{Subnets: map[string]cloudhsmlocal.Subnet{
		"subnet-0000000000000000b": {VPC: "vpc-0000000000000000b", AvailabilityZone: "eu-west-1b"},
		"subnet-0000000000000000c": {VPC: "vpc-0000000000000000c", AvailabilityZone: "us-east-1c"},
	}, AutoActivate: true})
	clusterID, _, err := srv.ActiveCluster(t.Context(), account1, "eu-west-1")
	if err != nil {
		t.Fatal(err)
	}
	out, err := srv.Client(account1, "eu-west-1").DescribeClusters(t.Context(), &cloudhsmv2.DescribeClustersInput{Filters: map[string][]string{"clusterIds": {clusterID}}})
	if err != nil || len(out.Clusters) != 1 {
		t.Fatalf("DescribeClusters: %+v, %v", out, err)
	}
	if got := out.Clusters[0]; aws.ToString(got.VpcId) != "vpc-0000000000000000b" || got.SubnetMapping["eu-west-1b"] != "subnet-0000000000000000b" {
		t.Fatalf("the cluster is in %s %v, want vpc-0000000000000000b with subnet-0000000000000000b in eu-west-1b", aws.ToString(got.VpcId), got.SubnetMapping)
	}
	if _, _, err := srv.ActiveCluster(t.Context(), account1, "ap-south-1"); err == nil || !strings.Contains(err.Error(), "no subnet in ap-south-1") {
		t.Fatalf("ActiveCluster in a region without subnets: %v, want an error saying so", err)
	}
}

// TestInitializeClusterNeedsCSR: a cluster without an ACTIVE HSM cannot be initialized, and the
// error says what to do.
func TestInitializeClusterNeedsCSR(t *testing.T) {
	srv := start(t, cloudhsmlocal.Options{})
	c := srv.Client(account1, region)
	out, err := c.CreateCluster(t.Context(), &cloudhsmv2.CreateClusterInput{HsmType: aws.String("hsm2m.medium"), SubnetIds: []string{"subnet-0a1b2c3d4e5f60001"}})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, account, clusterID, want string
	}{
		{"no HSM yet", account1, aws.ToString(out.Cluster.ClusterId), "has no CSR yet"},
		{"another account's cluster", account2, aws.ToString(out.Cluster.ClusterId), "account " + account2 + " has no such cluster"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := srv.InitializeCluster(t.Context(), tt.account, region, tt.clusterID)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("InitializeCluster: %v, want an error with %q", err, tt.want)
			}
		})
	}
}
