package e2e

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudhsmv2"
	"github.com/aws/aws-sdk-go-v2/service/cloudhsmv2/types"

	"github.com/cloudhsm-local/cloudhsm-local/internal/admin"
)

const oneDay = 24 * time.Hour

// TestScenario walks the whole life of a cluster and its backups through the Go SDK, as a
// user would, then jumps the clock 30 days and checks daily backups and retention
// (docs/BEHAVIOUR.md §3, §4, §5, §7).
func TestScenario(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	c := e.defaultClient()

	// Create a cluster, add an HSM, sign the CSR, initialize, activate.
	created := mustCreateCluster(t, c, nil)
	clusterID := aws.ToString(created.ClusterId)
	if created.State != types.ClusterStateCreateInProgress {
		t.Fatalf("CreateCluster answered %s, want CREATE_IN_PROGRESS", created.State)
	}
	if got := describeCluster(t, c, clusterID); got.State != types.ClusterStateUninitialized || got.Certificates != nil {
		t.Fatalf("new cluster: %s, certificates %+v; want UNINITIALIZED without certificates", got.State, got.Certificates)
	}
	hsmOut, err := c.CreateHsm(ctx, &cloudhsmv2.CreateHsmInput{ClusterId: &clusterID, AvailabilityZone: aws.String(firstZone(created))})
	if err != nil {
		t.Fatalf("CreateHsm: %v", err)
	}
	if hsmOut.Hsm.State != types.HsmStateCreateInProgress {
		t.Fatalf("CreateHsm answered %s", hsmOut.Hsm.State)
	}
	withHSM := describeCluster(t, c, clusterID)
	if len(withHSM.Hsms) != 1 || withHSM.Hsms[0].State != types.HsmStateActive || withHSM.Certificates == nil || withHSM.Certificates.ClusterCsr == nil {
		t.Fatalf("after CreateHsm: want one ACTIVE HSM and a CSR, got %+v", withHSM)
	}
	ca := newCustomerCA(t)
	signed := ca.sign(t, *withHSM.Certificates.ClusterCsr)
	initOut, err := c.InitializeCluster(ctx, &cloudhsmv2.InitializeClusterInput{ClusterId: &clusterID, SignedCert: &signed, TrustAnchor: &ca.pem})
	if err != nil {
		t.Fatalf("InitializeCluster: %v", err)
	}
	if initOut.State != types.ClusterStateInitializeInProgress {
		t.Fatalf("InitializeCluster answered %s", initOut.State)
	}
	initialized := describeCluster(t, c, clusterID)
	if initialized.State != types.ClusterStateInitialized || aws.ToString(initialized.Certificates.ClusterCertificate) != signed {
		t.Fatalf("after InitializeCluster: %s, ClusterCertificate set: %v", initialized.State, initialized.Certificates.ClusterCertificate != nil)
	}
	activation := e.virtualNow(t)
	e.adminCall(http.MethodPost, "clusters/"+clusterID+"/activate", nil, nil)
	if got := describeCluster(t, c, clusterID); got.State != types.ClusterStateActive {
		t.Fatalf("after activation: %s", got.State)
	}

	// Activation took a backup.
	backups := backupsOf(t, c, clusterID)
	if len(backups) != 1 || backups[0].BackupState != types.BackupStateReady || !aws.ToTime(backups[0].CreateTimestamp).Equal(activation) {
		t.Fatalf("after activation: want one READY backup made at %s, got %+v", activation, backups)
	}
	b0 := backups[0]
	b0ID, b0Arn := aws.ToString(b0.BackupId), aws.ToString(b0.BackupArn)
	if want := "arn:aws:cloudhsm:us-east-1:" + account1 + ":backup/" + b0ID; b0Arn != want {
		t.Errorf("BackupArn %s, want %s", b0Arn, want)
	}

	// Delete it, restore it.
	if del := mustDelete(t, c, b0ID); del.BackupState != types.BackupStatePendingDeletion || !aws.ToTime(del.DeleteTimestamp).Equal(activation.Add(week)) {
		t.Fatalf("DeleteBackup: %s, DeleteTimestamp %v", del.BackupState, del.DeleteTimestamp)
	}
	restored, err := c.RestoreBackup(ctx, &cloudhsmv2.RestoreBackupInput{BackupId: &b0ID})
	if err != nil || restored.Backup.BackupState != types.BackupStateReady || restored.Backup.DeleteTimestamp != nil {
		t.Fatalf("RestoreBackup: %+v, %v", restored, err)
	}

	// Copy it to eu-west-1 and find the copy there by sourceBackupIds.
	cp, err := c.CopyBackupToRegion(ctx, &cloudhsmv2.CopyBackupToRegionInput{BackupId: &b0ID, DestinationRegion: aws.String("eu-west-1")})
	if err != nil {
		t.Fatalf("CopyBackupToRegion: %v", err)
	}
	if d := cp.DestinationBackup; aws.ToString(d.SourceBackup) != b0ID || aws.ToString(d.SourceCluster) != clusterID ||
		aws.ToString(d.SourceRegion) != "us-east-1" || !aws.ToTime(d.CreateTimestamp).Equal(activation) {
		t.Fatalf("DestinationBackup %+v", d)
	}
	eu := e.client(account1, "eu-west-1")
	copies, err := eu.DescribeBackups(ctx, &cloudhsmv2.DescribeBackupsInput{Filters: map[string][]string{"sourceBackupIds": {b0ID}}})
	if err != nil || len(copies.Backups) != 1 {
		t.Fatalf("eu-west-1 DescribeBackups sourceBackupIds=%s: %+v, %v", b0ID, copies, err)
	}
	euCopy := copies.Backups[0]
	if euCopy.BackupState != types.BackupStateReady || euCopy.ClusterId != nil || aws.ToString(euCopy.SourceRegion) != "us-east-1" ||
		!aws.ToTime(euCopy.CopyTimestamp).Equal(activation) || !aws.ToTime(euCopy.CreateTimestamp).Equal(activation) ||
		!strings.HasPrefix(aws.ToString(euCopy.BackupArn), "arn:aws:cloudhsm:eu-west-1:"+account1+":backup/") {
		t.Fatalf("the copy in eu-west-1: %+v", euCopy)
	}
	euCopyID := aws.ToString(euCopy.BackupId)

	// Share it with account2, which sees it as shared and makes a cluster from it.
	policy := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::` + account2 +
		`:root"},"Action":["cloudhsm:DescribeBackups","cloudhsm:CreateCluster"],"Resource":"` + b0Arn + `"}]}`
	if _, err := c.PutResourcePolicy(ctx, &cloudhsmv2.PutResourcePolicyInput{ResourceArn: &b0Arn, Policy: &policy}); err != nil {
		t.Fatalf("PutResourcePolicy: %v", err)
	}
	other := e.client(account2, "us-east-1")
	shared, err := other.DescribeBackups(ctx, &cloudhsmv2.DescribeBackupsInput{Shared: aws.Bool(true)})
	if err != nil || len(shared.Backups) != 1 || aws.ToString(shared.Backups[0].BackupId) != b0ID {
		t.Fatalf("account2 DescribeBackups Shared: %+v, %v", shared, err)
	}
	if own, err := other.DescribeBackups(ctx, &cloudhsmv2.DescribeBackupsInput{}); err != nil || len(own.Backups) != 0 {
		t.Fatalf("account2 owns no backups, got %+v, %v", own, err)
	}
	fromShared := mustCreateCluster(t, other, &cloudhsmv2.CreateClusterInput{HsmType: aws.String("hsm2m.medium"), SubnetIds: subnets, SourceBackupId: &b0Arn})
	got := describeCluster(t, other, aws.ToString(fromShared.ClusterId))
	if got.State != types.ClusterStateActive || aws.ToString(got.SourceBackupId) != b0ID ||
		got.Certificates == nil || aws.ToString(got.Certificates.ClusterCertificate) != signed {
		t.Fatalf("account2's cluster from the shared backup: %s, SourceBackupId %v, certificates %+v", got.State, got.SourceBackupId, got.Certificates)
	}

	// Retention of 7 days; the activation backup is kept for good.
	if _, err := c.ModifyCluster(ctx, &cloudhsmv2.ModifyClusterInput{
		ClusterId: &clusterID, BackupRetentionPolicy: &types.BackupRetentionPolicy{Type: types.BackupRetentionTypeDays, Value: aws.String("7")},
	}); err != nil {
		t.Fatalf("ModifyCluster: %v", err)
	}
	if _, err := c.ModifyBackupAttributes(ctx, &cloudhsmv2.ModifyBackupAttributesInput{BackupId: &b0ID, NeverExpires: aws.Bool(true)}); err != nil {
		t.Fatalf("ModifyBackupAttributes: %v", err)
	}
	// A second cluster keeps the default 90 days: it counts the daily backups.
	counterID, counterB0 := e.activeCluster(t, c)

	// Jump 30 days in one admin call.
	var moved admin.Clock
	e.adminCall(http.MethodPost, "clock", admin.ClockChange{Advance: (30 * oneDay).String()}, &moved)
	end := activation.Add(30 * oneDay)
	if moved.Now != end.Format(time.RFC3339Nano) {
		t.Fatalf("POST clock answered now=%s, want %s", moved.Now, end.Format(time.RFC3339Nano))
	}

	// Exactly 30 new daily backups, 24 h apart from activation.
	counted := backupsOf(t, c, counterID)
	if len(counted) != 31 || aws.ToString(counted[0].BackupId) != counterB0 {
		t.Fatalf("the 90-day cluster should have its activation backup and 30 daily backups, got %d", len(counted))
	}
	for k, b := range counted {
		if at := aws.ToTime(b.CreateTimestamp); !at.Equal(activation.Add(time.Duration(k) * oneDay)) {
			t.Errorf("backup %d of the 90-day cluster made at %s, want activation + %d days", k, at, k)
		}
		if b.BackupState != types.BackupStateReady || b.DeleteTimestamp != nil {
			t.Errorf("backup %d of the 90-day cluster is %s (DeleteTimestamp %v), want READY", k, b.BackupState, b.DeleteTimestamp)
		}
	}

	// The 7-day cluster: each daily backup in the state the rules give it at the end.
	checkRetention(t, backupsOf(t, c, clusterID), b0ID, activation, 7, 30)

	// The newest READY backup is never expired, however old: keep only the two oldest daily
	// backups of the 90-day cluster READY, then lower its retention to 7 days.
	for _, b := range counted[2:] {
		mustDelete(t, c, aws.ToString(b.BackupId))
	}
	if _, err := c.ModifyCluster(ctx, &cloudhsmv2.ModifyClusterInput{
		ClusterId: &counterID, BackupRetentionPolicy: &types.BackupRetentionPolicy{Type: types.BackupRetentionTypeDays, Value: aws.String("7")},
	}); err != nil {
		t.Fatalf("ModifyCluster: %v", err)
	}
	if b := describeBackup(t, c, aws.ToString(counted[1].BackupId)); b.BackupState != types.BackupStateReady {
		t.Errorf("the newest READY backup (29 days old) was expired: %s", b.BackupState)
	}
	if b := describeBackup(t, c, counterB0); b.BackupState != types.BackupStatePendingDeletion || !aws.ToTime(b.DeleteTimestamp).Equal(end.Add(week)) {
		t.Errorf("an older READY backup should be expired right after ModifyCluster: %s, DeleteTimestamp %v", b.BackupState, b.DeleteTimestamp)
	}

	// Region copies are under no policy; account2's cluster took its own daily backups.
	if b := describeBackup(t, eu, euCopyID); b.BackupState != types.BackupStateReady {
		t.Errorf("the region copy is %s after 30 days, want READY", b.BackupState)
	}
	if n := len(backupsOf(t, other, aws.ToString(fromShared.ClusterId))); n != 30 {
		t.Errorf("account2's cluster has %d backups after 30 days, want 30 daily ones", n)
	}

	// The clock is where the admin says, and never goes back.
	if now := e.virtualNow(t); !now.Equal(end) {
		t.Errorf("GET clock: %s, want %s", now, end)
	}
	var health admin.Health
	e.adminCall(http.MethodGet, "health", nil, &health)
	if health.Now != end.Format(time.RFC3339Nano) {
		t.Errorf("health now=%s, want %s", health.Now, end.Format(time.RFC3339Nano))
	}
	status, body := e.adminRaw(http.MethodPost, "clock", `{"set":"`+end.Add(-time.Second).Format(time.RFC3339)+`"}`)
	if status != http.StatusConflict {
		t.Errorf("setting the clock back: HTTP %d %s, want 409", status, body)
	}
	if now := e.virtualNow(t); !now.Equal(end) {
		t.Errorf("after a refused set: clock %s, want %s", now, end)
	}
}

// checkRetention checks the backups of a cluster activated at activation, with retention of
// days, after nowDay daily backups: the activation backup (NeverExpires) is READY; daily backup
// j was made at activation + j days; retention expires it at the first daily evaluation where it
// is older than the policy (oneDay j+days+1), so DeleteTimestamp is that oneDay + 7 days; it is DELETED
// from DeleteTimestamp on and gone 7 days later (tombstone).
func checkRetention(t *testing.T, got []types.Backup, neverExpiresID string, activation time.Time, days, nowDay int) {
	t.Helper()
	now := activation.Add(time.Duration(nowDay) * oneDay)
	type want struct {
		state    types.BackupState
		deleteAt time.Time
	}
	wants := map[time.Time]want{activation: {state: types.BackupStateReady}}
	counts := map[types.BackupState]int{}
	gone := 0
	for j := 1; j <= nowDay; j++ {
		created := activation.Add(time.Duration(j) * oneDay)
		expiredDay := j + days + 1
		w := want{state: types.BackupStateReady}
		if expiredDay <= nowDay {
			w.deleteAt = activation.Add(time.Duration(expiredDay)*oneDay + week)
			switch {
			case !now.Before(w.deleteAt.Add(week)):
				gone++
				continue
			case !now.Before(w.deleteAt):
				w.state = types.BackupStateDeleted
			default:
				w.state = types.BackupStatePendingDeletion
			}
		}
		counts[w.state]++
		wants[created] = w
	}
	if len(got) != len(wants) {
		t.Errorf("%d backups listed, want %d (%d daily backups gone after the tombstone)", len(got), len(wants), gone)
	}
	var lastDelete time.Time
	for _, b := range got {
		created := aws.ToTime(b.CreateTimestamp)
		w, ok := wants[created]
		if !ok {
			t.Errorf("unexpected backup %s made at %s (activation + %s)", aws.ToString(b.BackupId), created, created.Sub(activation))
			continue
		}
		delete(wants, created)
		if created.Equal(activation) {
			if aws.ToString(b.BackupId) != neverExpiresID || !aws.ToBool(b.NeverExpires) || b.BackupState != types.BackupStateReady || b.DeleteTimestamp != nil {
				t.Errorf("the NeverExpires activation backup was touched: %+v", b)
			}
			continue
		}
		if b.BackupState != w.state {
			t.Errorf("backup made at activation + %s: %s, want %s", created.Sub(activation), b.BackupState, w.state)
		}
		if dt := aws.ToTime(b.DeleteTimestamp); !dt.Equal(w.deleteAt) {
			t.Errorf("backup made at activation + %s: DeleteTimestamp %v, want %v", created.Sub(activation), b.DeleteTimestamp, w.deleteAt)
		} else if !dt.IsZero() {
			if !dt.After(lastDelete) {
				t.Errorf("backups were not expired in time order: DeleteTimestamp %s after %s", dt, lastDelete)
			}
			lastDelete = dt
		}
	}
	for created := range wants {
		t.Errorf("missing backup made at activation + %s", created.Sub(activation))
	}
	// With the defaults (7 days) the rules above give 8 READY, 7 PENDING_DELETION and 7 DELETED
	// daily backups after 30 days; pin that too, so a mistake in them cannot hide one in the code.
	if days == 7 && nowDay == 30 {
		wantCounts := map[types.BackupState]int{types.BackupStateReady: 8, types.BackupStatePendingDeletion: 7, types.BackupStateDeleted: 7}
		if fmt.Sprint(counts) != fmt.Sprint(wantCounts) || gone != 8 {
			t.Errorf("the rules give %v and %d gone; expected %v and 8 gone", counts, gone, wantCounts)
		}
	}
}

// TestClockJumpEqualsDailySteps checks that one 30-day jump and thirty 1-day steps leave the
// same state (docs/BEHAVIOUR.md §3: clock jumps are replayed faithfully), in two fresh servers.
func TestClockJumpEqualsDailySteps(t *testing.T) {
	jumped, stepped := newEnv(t), newEnv(t)
	a, b := retentionSetup(t, jumped), retentionSetup(t, stepped)
	jumped.advance(30 * oneDay)
	stepped.advance(30 * oneDay)

	jumped.advance(30 * oneDay)
	for range 30 {
		stepped.advance(oneDay)
	}
	shapeA, shapeB := stateShape(t, jumped, a), stateShape(t, stepped, b)
	if !slices.Equal(shapeA, shapeB) {
		t.Fatalf("one 30-day jump and 30 one-day steps differ:\njump:\n%s\nsteps:\n%s", strings.Join(shapeA, "\n"), strings.Join(shapeB, "\n"))
	}
	if now, other := jumped.virtualNow(t), stepped.virtualNow(t); !now.Equal(other) {
		t.Fatalf("clocks differ: %s and %s", now, other)
	}
	for _, s := range []struct {
		e   *env
		ids setupIDs
	}{{jumped, a}, {stepped, b}} {
		checkRetention(t, backupsOf(t, s.e.defaultClient(), s.ids.retained), s.ids.keptBackup, s.ids.activation, 7, 60)
	}
}

// setupIDs names what retentionSetup made.
type setupIDs struct {
	activation time.Time
	retained   string // ACTIVE cluster with a 7-day retention policy
	keptBackup string // its activation backup, NeverExpires
	plain      string // ACTIVE cluster with the default policy, one backup deleted by hand
}

func retentionSetup(t *testing.T, e *env) setupIDs {
	t.Helper()
	ctx := context.Background()
	c := e.defaultClient()
	var s setupIDs
	s.activation = e.virtualNow(t)
	s.retained, s.keptBackup = e.activeCluster(t, c)
	if _, err := c.ModifyCluster(ctx, &cloudhsmv2.ModifyClusterInput{
		ClusterId: &s.retained, BackupRetentionPolicy: &types.BackupRetentionPolicy{Type: types.BackupRetentionTypeDays, Value: aws.String("7")},
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.ModifyBackupAttributes(ctx, &cloudhsmv2.ModifyBackupAttributesInput{BackupId: &s.keptBackup, NeverExpires: aws.Bool(true)}); err != nil {
		t.Fatal(err)
	}
	var deleted string
	s.plain, deleted = e.activeCluster(t, c)
	mustDelete(t, c, deleted)
	return s
}

// stateShape renders the clusters and backups of a setup without IDs: each line one resource,
// with times relative to activation.
func stateShape(t *testing.T, e *env, s setupIDs) []string {
	t.Helper()
	c := e.defaultClient()
	rel := func(ts *time.Time) string {
		if ts == nil {
			return "-"
		}
		return ts.Sub(s.activation).String()
	}
	var lines []string
	for name, id := range map[string]string{"retained": s.retained, "plain": s.plain} {
		cl := describeCluster(t, c, id)
		lines = append(lines, fmt.Sprintf("cluster %s %s hsms=%d retention=%s", name, cl.State, len(cl.Hsms), aws.ToString(cl.BackupRetentionPolicy.Value)))
		for _, b := range backupsOf(t, c, id) {
			lines = append(lines, fmt.Sprintf("backup of %s created=%s state=%s delete=%s neverExpires=%t",
				name, rel(b.CreateTimestamp), b.BackupState, rel(b.DeleteTimestamp), aws.ToBool(b.NeverExpires)))
		}
	}
	slices.Sort(lines)
	return lines
}
