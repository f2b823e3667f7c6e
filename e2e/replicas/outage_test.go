package replicas

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudhsmv2"
	"github.com/aws/aws-sdk-go-v2/service/cloudhsmv2/types"

	"github.com/cloudhsm-local/cloudhsm-local/internal/store/sqlstore/pgtest"
)

const internalFailure = "CloudHsmInternalFailureException"

// PostgreSQL becomes unavailable under two replicas — simulated for this test only, without
// touching the server other tests use: the replicas connect as a role of the test's own, which
// is then refused new connections (NOLOGIN) while every session of the replicas is terminated,
// as a restart would. Requests in flight at that moment, caught mid-transaction, and requests made during
// the outage fail with CloudHsmInternalFailureException (HTTP 500, which SDKs retry); nothing
// they had begun to write is kept; and when the database is back, the replicas serve again
// by themselves.
func TestDatabaseOutageFailsRequestsCleanlyAndReplicasRecover(t *testing.T) {
	f := newFleet(t, 2, fleetOptions{ownRole: true})
	ctx := context.Background()
	tag := func(k, v string) types.Tag { return types.Tag{Key: aws.String(k), Value: aws.String(v)} }

	want := map[string]string{} // cluster ID -> its tag "n"
	for i := range 4 {
		r := f.replicas[i%2]
		c := createCluster(t, r, "", tag("n", fmt.Sprint(i)))
		want[aws.ToString(c.ClusterId)] = fmt.Sprint(i)
	}

	// Catch requests mid-transaction: a session of the test's own locks the tags table, so
	// CreateCluster stalls after writing its reserved ID and cluster row (tags come last) —
	// and every other write queues behind it on the write lock — while DescribeClusters
	// stalls reading tags.
	locker := pgtest.Open(t, f.pg.DSN("application_name", "locker_"+f.place.Name))
	lockTx, err := locker.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer lockTx.Rollback()
	if _, err := lockTx.ExecContext(ctx, "LOCK TABLE "+f.place.Name+".tags IN ACCESS EXCLUSIVE MODE"); err != nil {
		t.Fatal(err)
	}
	const creates, reads = 6, 4
	type answer struct {
		what string
		err  error
	}
	inFlight := make(chan answer, creates+reads)
	var wg sync.WaitGroup
	for i := range creates {
		wg.Go(func() {
			_, err := f.replicas[i%2].api.CreateCluster(ctx, &cloudhsmv2.CreateClusterInput{
				HsmType: aws.String("hsm2m.medium"), SubnetIds: subnets, TagList: []types.Tag{tag("n", "in-flight")},
			})
			inFlight <- answer{fmt.Sprintf("CreateCluster #%d through %s", i, f.replicas[i%2].name), err}
		})
	}
	for i := range reads {
		wg.Go(func() {
			_, err := f.replicas[i%2].api.DescribeClusters(ctx, &cloudhsmv2.DescribeClustersInput{})
			inFlight <- answer{fmt.Sprintf("DescribeClusters #%d through %s", i, f.replicas[i%2].name), err}
		})
	}
	// One write per replica reaches PostgreSQL (the first on the tags lock, the other on the
	// write lock); each replica queues its other writes itself, to share its next commit —
	// the reads too, since the new clusters have lifecycle steps due, which a read applies
	// with a write first.
	inDatabase := len(f.replicas)
	waitFor(t, fmt.Sprintf("%d requests waiting on locks inside PostgreSQL", inDatabase), func() bool {
		var n int
		err := f.pg.DB.QueryRowContext(ctx, `SELECT count(*) FROM pg_stat_activity WHERE datname = $1
			AND application_name = $2 AND wait_event_type = 'Lock'`, f.place.Database, f.place.App).Scan(&n)
		if err != nil {
			t.Fatal(err)
		}
		return n == inDatabase
	})

	// The outage.
	f.pg.SetLogin(t, f.place, false)
	terminated := f.pg.Terminate(t, f.place)
	// A request still on its way when the outage began may have been logging in at that
	// moment (replicas queue their writes in-process, so not every request was waiting inside
	// PostgreSQL): terminate until no session is left for three checks in a row, or such a
	// late session would wait on the test's table lock forever.
	for quiet := 0; quiet < 3; {
		time.Sleep(20 * time.Millisecond)
		if n := f.pg.Terminate(t, f.place); n > 0 {
			terminated, quiet = terminated+n, 0
		} else {
			quiet++
		}
	}
	wg.Wait()
	close(inFlight)
	for a := range inFlight {
		wantAPIError(t, a.what+", in flight when the database went away", a.err, internalFailure, http.StatusInternalServerError)
	}
	for _, r := range f.replicas {
		_, err := r.api.CreateCluster(ctx, &cloudhsmv2.CreateClusterInput{HsmType: aws.String("hsm2m.medium"), SubnetIds: subnets})
		wantAPIError(t, r.name+": CreateCluster during the outage", err, internalFailure, http.StatusInternalServerError)
		_, err = r.api.DescribeBackups(ctx, &cloudhsmv2.DescribeBackupsInput{})
		wantAPIError(t, r.name+": DescribeBackups during the outage", err, internalFailure, http.StatusInternalServerError)
		if _, err := r.admin.Call(ctx, http.MethodGet, "health", nil); err == nil || !strings.Contains(err.Error(), "HTTP 500") {
			t.Fatalf("%s: health during the outage: %v, want HTTP 500", r.name, err)
		}
	}
	if err := lockTx.Rollback(); err != nil {
		t.Fatal(err)
	}

	// The database is back: the very next requests succeed, on both replicas, without retries
	// (RetryMaxAttempts is 1) and without restarting anything.
	f.pg.SetLogin(t, f.place, true)
	began := time.Now()
	for i, r := range f.replicas {
		c := createCluster(t, r, "", tag("n", fmt.Sprint("after-", i)))
		want[aws.ToString(c.ClusterId)] = fmt.Sprint("after-", i)
	}
	t.Logf("%d sessions terminated; %d requests in flight and %d during the outage failed with %s; recovered in %v",
		terminated, creates+reads, 3*len(f.replicas), internalFailure, time.Since(began).Round(time.Millisecond))

	// A restart while the replicas are idle (their pooled sessions all terminated) costs no
	// request at all: a dead pooled connection is replaced before anything runs on it.
	for range 2 {
		if n := f.pg.Terminate(t, f.place); n == 0 {
			t.Fatal("the replicas hold no idle session to terminate")
		}
		for _, r := range f.replicas {
			if _, err := r.api.DescribeClusters(ctx, &cloudhsmv2.DescribeClustersInput{}); err != nil {
				t.Fatalf("%s: first request after its idle sessions were terminated: %v", r.name, err)
			}
		}
	}

	// Nothing half-written: exactly the clusters that were acknowledged, each with its tag...
	for _, r := range f.replicas {
		out, err := r.api.DescribeClusters(ctx, &cloudhsmv2.DescribeClustersInput{})
		if err != nil {
			t.Fatalf("%s: DescribeClusters after the outage: %v", r.name, err)
		}
		got := map[string]string{}
		for _, c := range out.Clusters {
			for _, tg := range c.TagList {
				got[aws.ToString(c.ClusterId)] = aws.ToString(tg.Value)
			}
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("%s: clusters after the outage %v, want %v", r.name, got, want)
		}
	}
	// ...and not one of the IDs the interrupted CreateClusters had reserved.
	var reserved, rows int
	if err := f.pg.DB.QueryRowContext(ctx, fmt.Sprintf(`SELECT (SELECT count(*) FROM %[1]s.reserved_ids WHERE id LIKE 'cluster-%%'),
		(SELECT count(*) FROM %[1]s.clusters)`, f.place.Name)).Scan(&reserved, &rows); err != nil {
		t.Fatal(err)
	}
	if reserved != len(want) || rows != len(want) {
		t.Fatalf("%d cluster IDs reserved and %d cluster rows, want %d of each", reserved, rows, len(want))
	}
}

// waitFor polls cond for up to 20 seconds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
