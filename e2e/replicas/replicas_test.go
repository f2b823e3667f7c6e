package replicas

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudhsmv2"
	"github.com/aws/aws-sdk-go-v2/service/cloudhsmv2/types"

	"github.com/cloudhsm-local/cloudhsm-local/e2e/internal/netfail"
	"github.com/cloudhsm-local/cloudhsm-local/internal/admin"
	"github.com/cloudhsm-local/cloudhsm-local/internal/lifecycle"
)

const day = 24 * time.Hour

// A write acknowledged by one replica is what the next request to any other replica reads:
// replicas cache nothing.
func TestRestoreOnOneReplicaIsVisibleOnTheNextRequestToAnother(t *testing.T) {
	f := newFleet(t, 3, fleetOptions{})
	ctx := context.Background()
	_, backupID := activeCluster(t, f.replicas[0], "")
	const rounds = 30
	began := time.Now()
	for i := range rounds {
		w, r := f.replicas[i%3], f.replicas[(i+1)%3]
		del, err := w.api.DeleteBackup(ctx, &cloudhsmv2.DeleteBackupInput{BackupId: &backupID})
		if err != nil {
			t.Fatalf("round %d: %s: DeleteBackup: %v", i, w.name, err)
		}
		got := describeBackup(t, r, backupID)
		if got.BackupState != types.BackupStatePendingDeletion || !aws.ToTime(got.DeleteTimestamp).Equal(aws.ToTime(del.Backup.DeleteTimestamp)) {
			t.Fatalf("round %d: right after DeleteBackup on %s, %s shows %s (DeleteTimestamp %v, want %v)",
				i, w.name, r.name, got.BackupState, got.DeleteTimestamp, del.Backup.DeleteTimestamp)
		}
		if _, err := w.api.RestoreBackup(ctx, &cloudhsmv2.RestoreBackupInput{BackupId: &backupID}); err != nil {
			t.Fatalf("round %d: %s: RestoreBackup: %v", i, w.name, err)
		}
		got = describeBackup(t, r, backupID)
		if got.BackupState != types.BackupStateReady || got.DeleteTimestamp != nil {
			t.Fatalf("round %d: right after RestoreBackup on %s, %s shows %s (DeleteTimestamp %v)",
				i, w.name, r.name, got.BackupState, got.DeleteTimestamp)
		}
	}
	elapsed := time.Since(began)
	t.Logf("%d rounds of write-on-one, read-on-another (%d requests) in %v: %.0f requests/s",
		rounds, 4*rounds, elapsed.Round(time.Millisecond), float64(4*rounds)/elapsed.Seconds())
}

// 200 DeleteBackup and RestoreBackup calls on one backup, all at once, spread over three
// replicas: every call succeeds or is refused with CloudHsmInvalidRequestException (never a
// 500, never another error), and the successes are those of some serial order — they alternate
// delete, restore, delete, ... from READY, so #deletes - #restores is 0 or 1 and says the final
// state.
func TestConcurrentDeleteAndRestoreThroughThreeReplicasAreSerial(t *testing.T) {
	f := newFleet(t, 3, fleetOptions{})
	ctx := context.Background()
	_, backupID := activeCluster(t, f.replicas[0], "")

	const calls = 200
	type outcome struct {
		restore bool
		state   types.BackupState
		err     error
	}
	results := make([]outcome, calls)
	gate := make(chan struct{})
	var wg sync.WaitGroup
	for i := range calls {
		wg.Go(func() {
			r, restore := f.replicas[i%3], i%2 == 1
			<-gate
			results[i].restore = restore
			if restore {
				out, err := r.api.RestoreBackup(ctx, &cloudhsmv2.RestoreBackupInput{BackupId: &backupID})
				if results[i].err = err; err == nil {
					results[i].state = out.Backup.BackupState
				}
				return
			}
			out, err := r.api.DeleteBackup(ctx, &cloudhsmv2.DeleteBackupInput{BackupId: &backupID})
			if results[i].err = err; err == nil {
				results[i].state = out.Backup.BackupState
			}
		})
	}
	began := time.Now()
	close(gate)
	wg.Wait()
	elapsed := time.Since(began)

	deletes, restores, refused := 0, 0, 0
	for i, o := range results {
		switch {
		case o.err != nil:
			if code, status := apiError(o.err); code != "CloudHsmInvalidRequestException" || status != http.StatusBadRequest {
				t.Errorf("call %d (restore %t): %s (HTTP %d): %v; want success or CloudHsmInvalidRequestException", i, o.restore, code, status, o.err)
			}
			refused++
		case o.restore:
			restores++
			if o.state != types.BackupStateReady {
				t.Errorf("call %d: RestoreBackup answered %s", i, o.state)
			}
		default:
			deletes++
			if o.state != types.BackupStatePendingDeletion {
				t.Errorf("call %d: DeleteBackup answered %s", i, o.state)
			}
		}
	}
	t.Logf("%d calls through 3 replicas in %v (%.0f calls/s): %d deletes and %d restores succeeded, %d refused",
		calls, elapsed.Round(time.Millisecond), calls/elapsed.Seconds(), deletes, restores, refused)
	var want types.BackupState
	switch deletes - restores {
	case 0:
		want = types.BackupStateReady
	case 1:
		want = types.BackupStatePendingDeletion
	default:
		t.Fatalf("%d deletes and %d restores succeeded: no serial order from READY allows that", deletes, restores)
	}
	if deletes == 0 {
		t.Fatal("no DeleteBackup succeeded")
	}
	for _, r := range f.replicas {
		if got := describeBackup(t, r, backupID); got.BackupState != want {
			t.Errorf("%s: final state %s, want %s after %d deletes and %d restores", r.name, got.BackupState, want, deletes, restores)
		}
	}
}

// The virtual clock lives in the database: moved through any replica, it moves for all, and a
// transition that becomes due is applied on whichever replica is asked next.
func TestTheVirtualClockIsOneClock(t *testing.T) {
	f := newFleet(t, 3, fleetOptions{lifecycle: func(c *lifecycle.Config) {
		c.Delays = map[lifecycle.Transition]time.Duration{lifecycle.BackupCreate: time.Hour}
	}})
	a, b, c := f.replicas[0], f.replicas[1], f.replicas[2]
	same := func(what string, want time.Time) {
		t.Helper()
		for _, r := range f.replicas {
			if got := r.now(t); !got.Equal(want) {
				t.Fatalf("%s: %s says %s, want %s", what, r.name, got, want)
			}
		}
	}
	same("at start", start)

	now := a.advance(t, 7*day)
	if !now.Equal(start.Add(7 * day)) {
		t.Fatalf("advance through %s: now %s", a.name, now)
	}
	same("after advancing 168h through "+a.name, now)

	set := now.Add(day + 30*time.Minute)
	b.adminCall(t, http.MethodPost, "clock", admin.ClockChange{Set: set.Format(time.RFC3339)}, nil)
	same("after setting the clock through "+b.name, set)

	_, err := c.admin.Call(context.Background(), http.MethodPost, "clock", admin.ClockChange{Set: now.Format(time.RFC3339)})
	if err == nil || !strings.Contains(err.Error(), "409") {
		t.Fatalf("setting the clock back through %s: %v, want HTTP 409", c.name, err)
	}
	same("after a refused move back", set)

	f.clock.Advance(10 * time.Minute) // the wall clock under all of them
	same("after the wall clock moved", set.Add(10*time.Minute))

	// A backup taken through A is CREATE_IN_PROGRESS for an hour everywhere; an hour later,
	// moved through C, it is READY everywhere.
	clusterID, _ := activeCluster(t, a, "")
	var taken struct{ Backup struct{ BackupId string } }
	a.adminCall(t, http.MethodPost, "clusters/"+clusterID+"/backups", nil, &taken)
	for _, r := range f.replicas {
		if got := describeBackup(t, r, taken.Backup.BackupId); got.BackupState != types.BackupStateCreateInProgress {
			t.Fatalf("%s: new backup is %s, want CREATE_IN_PROGRESS", r.name, got.BackupState)
		}
	}
	c.advance(t, time.Hour)
	for _, r := range []*replica{b, a} {
		for _, bk := range backupsOf(t, r, clusterID) {
			if bk.BackupState != types.BackupStateReady {
				t.Fatalf("%s: backup %s is %s an hour later, want READY", r.name, aws.ToString(bk.BackupId), bk.BackupState)
			}
		}
	}
}

// Due transitions and daily backups happen exactly once, however many replicas there are and
// whoever applies them. Two ACTIVE clusters in each tenant — one keeping backups 90 days, one
// 7 — then 30 days pass at once, while replicas are reading: the first has its activation
// backup and exactly 30 daily ones, 24 h apart; the second shows each backup in the one state
// the lifecycle gives it on day 30 (expired on day c+8, DELETED on day c+15, purged on day
// c+22), with the DeleteTimestamp of a single expiry. With several tenants (accounts), each
// tenant is settled by the replicas' Updates and reads of that tenant alone, concurrently with
// the others'.
func TestDueTransitionsHappenExactlyOnce(t *testing.T) {
	for _, tc := range []struct {
		name     string
		replicas int
		tenants  int
		wallJump bool // the wall clock jumps under every replica, instead of an admin advance through A
	}{
		{"one replica, clock advanced 30 days through the admin API", 1, 1, false},
		{"three replicas, clock advanced through A while B and C read", 3, 1, false},
		{"three replicas, wall clock jumps 30 days while all three read", 3, 1, true},
		{"three replicas, three tenants, wall clock jumps 30 days while all read every tenant", 3, 3, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFleet(t, tc.replicas, fleetOptions{})
			accounts := []string{account, "444455556666", "777788889999"}[:tc.tenants]
			type tenant struct {
				account        string
				kept, expiring string
				onEveryReplica []*replica
			}
			tenants := make([]tenant, len(accounts))
			for i, acct := range accounts {
				tn := tenant{account: acct}
				for _, r := range f.replicas {
					tn.onEveryReplica = append(tn.onEveryReplica, r.as(acct))
				}
				tn.kept, _ = activeCluster(t, tn.onEveryReplica[0], "")
				tn.expiring, _ = activeCluster(t, tn.onEveryReplica[0], "7")
				tenants[i] = tn
			}

			first := 1 // replica A moves the clock; the others read
			if tc.wallJump {
				first = 0
			}
			var reads atomic.Int64
			stop := make(chan struct{})
			var wg sync.WaitGroup
			readers := 0
			for _, tn := range tenants {
				for _, r := range tn.onEveryReplica[first:] {
					readers++
					for range 2 {
						wg.Go(func() {
							for {
								select {
								case <-stop:
									return
								default:
								}
								// Retries absorb the SDK closing a keep-alive connection under its
								// own response (aws/aws-sdk-go-v2#2737), which grew likelier as the
								// server got faster, and nothing else: an answer from the server, a
								// 500 or a throttle included, fails the test.
								_, err := r.api.DescribeBackups(context.Background(), &cloudhsmv2.DescribeBackupsInput{
									Filters: map[string][]string{"clusterIds": {tn.kept, tn.expiring}},
								}, func(o *cloudhsmv2.Options) { o.Retryer = netfail.Retryer(3) })
								if err != nil {
									t.Errorf("%s as %s: DescribeBackups during the jump: %v", r.name, tn.account, err)
									return
								}
								reads.Add(1)
							}
						})
					}
				}
			}
			// waitReads waits until the readers have made n reads in all, and fails the test if
			// they do not within a minute: the jump must not pass with no one reading.
			waitReads := func(n int64, what string) {
				t.Helper()
				if readers == 0 {
					return
				}
				deadline := time.Now().Add(time.Minute)
				for reads.Load() < n && !t.Failed() && time.Now().Before(deadline) {
					time.Sleep(5 * time.Millisecond)
				}
				if got := reads.Load(); got < n {
					close(stop)
					wg.Wait()
					t.Fatalf("%s: the readers made %d DescribeBackups, want %d", what, got, n)
				}
			}
			waitReads(10, "before the jump") // the readers are hammering
			began := time.Now()
			if tc.wallJump {
				f.clock.Advance(30 * day)
			} else {
				f.replicas[0].advance(t, 30*day)
			}
			waitReads(reads.Load()+30, "after the jump") // and go on reading after it
			close(stop)
			wg.Wait()
			t.Logf("30-day jump settled and read back in %v, while %d readers made %d DescribeBackups",
				time.Since(began).Round(time.Millisecond), 2*readers, reads.Load())

			for _, tn := range tenants {
				for _, r := range tn.onEveryReplica {
					checkKept(t, r, tn.kept)
					checkExpiring(t, r, tn.expiring)
				}
				all := 0
				ids := map[string]bool{}
				pages := cloudhsmv2.NewDescribeBackupsPaginator(tn.onEveryReplica[0].api, &cloudhsmv2.DescribeBackupsInput{})
				for pages.HasMorePages() {
					page, err := pages.NextPage(context.Background())
					if err != nil {
						t.Fatal(err)
					}
					for _, bk := range page.Backups {
						all++
						ids[aws.ToString(bk.BackupId)] = true
					}
				}
				if all != 31+22 || len(ids) != all {
					t.Fatalf("account %s lists %d backups (%d distinct IDs), want 31 + 22", tn.account, all, len(ids))
				}
			}
		})
	}
}

// checkKept: the activation backup and exactly 30 daily ones, 24 h apart, all READY.
func checkKept(t *testing.T, r *replica, clusterID string) {
	t.Helper()
	backups := backupsOf(t, r, clusterID)
	if len(backups) != 31 {
		t.Fatalf("%s: cluster kept %d backups, want the activation backup + 30 daily ones", r.name, len(backups))
	}
	seen := map[string]bool{}
	for d, bk := range backups {
		id := aws.ToString(bk.BackupId)
		if seen[id] {
			t.Fatalf("%s: backup %s listed twice", r.name, id)
		}
		seen[id] = true
		if want := start.Add(time.Duration(d) * day); !aws.ToTime(bk.CreateTimestamp).Equal(want) || bk.BackupState != types.BackupStateReady || bk.DeleteTimestamp != nil {
			t.Fatalf("%s: backup #%d %s: %s created %s, want READY created %s", r.name, d, id, bk.BackupState, aws.ToTime(bk.CreateTimestamp), want)
		}
	}
}

// checkExpiring compares the backups of a cluster with 7-day retention, on day 30, with the
// lifecycle: the backup of day c is expired on day c+8 (the first daily evaluation at which it
// is more than 7 days old) with DeleteTimestamp day c+15, is DELETED from day c+15, and is gone
// from day c+22.
func checkExpiring(t *testing.T, r *replica, clusterID string) {
	t.Helper()
	type row struct {
		day      int
		state    types.BackupState
		deleteAt time.Time
	}
	var want []row
	for c := 0; c <= 30; c++ {
		switch {
		case c+22 <= 30:
			continue
		case c+15 <= 30:
			want = append(want, row{c, types.BackupStateDeleted, start.Add(time.Duration(c+15) * day)})
		case c+8 <= 30:
			want = append(want, row{c, types.BackupStatePendingDeletion, start.Add(time.Duration(c+15) * day)})
		default:
			want = append(want, row{c, types.BackupStateReady, time.Time{}})
		}
	}
	backups := backupsOf(t, r, clusterID)
	var got []row
	for _, bk := range backups {
		created := aws.ToTime(bk.CreateTimestamp)
		got = append(got, row{int(created.Sub(start) / day), bk.BackupState, aws.ToTime(bk.DeleteTimestamp).UTC()})
		if created.Sub(start)%day != 0 {
			t.Fatalf("%s: backup %s created at %s, not a whole day after activation", r.name, aws.ToString(bk.BackupId), created)
		}
	}
	if len(got) != len(want) {
		t.Fatalf("%s: 7-day cluster lists %d backups, want %d:\n got  %v\n want %v", r.name, len(got), len(want), got, want)
	}
	for i := range want {
		if got[i].day != want[i].day || got[i].state != want[i].state || !got[i].deleteAt.Equal(want[i].deleteAt) {
			t.Fatalf("%s: 7-day cluster, backup #%d:\n got  %+v\n want %+v", r.name, i, got[i], want[i])
		}
	}
}
