package e2e

import (
	"context"
	"encoding/json"
	"regexp"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudhsmv2"
	"github.com/aws/aws-sdk-go-v2/service/cloudhsmv2/types"

	"github.com/cloudhsm-local/cloudhsm-local/internal/lifecycle"
)

var backupIDRe = regexp.MustCompile(`^backup-[2-7a-z]{11}$`)

// TestCopyBackupToRegionRules pins docs/BEHAVIOUR.md §4 for CopyBackupToRegion, one row per rule.
// Each row copies from a fresh ACTIVE cluster's first backup in us-east-1.
func TestCopyBackupToRegionRules(t *testing.T) {
	ctx := context.Background()
	const dest = "eu-west-1"
	tests := []struct {
		name string
		opts []func(*options)
		run  func(t *testing.T, e *env, c *cloudhsmv2.Client, clusterID, src string)
	}{
		{"DestinationBackup has exactly the source's CreateTimestamp, SourceRegion, SourceBackup and SourceCluster", nil, func(t *testing.T, e *env, c *cloudhsmv2.Client, clusterID, src string) {
			source := describeBackup(t, c, src)
			e.advance(time.Hour)
			out, err := c.CopyBackupToRegion(ctx, &cloudhsmv2.CopyBackupToRegionInput{BackupId: &src, DestinationRegion: aws.String(dest)})
			if err != nil {
				t.Fatal(err)
			}
			d := out.DestinationBackup
			if d == nil || !aws.ToTime(d.CreateTimestamp).Equal(aws.ToTime(source.CreateTimestamp)) ||
				aws.ToString(d.SourceRegion) != "us-east-1" || aws.ToString(d.SourceBackup) != src || aws.ToString(d.SourceCluster) != clusterID {
				t.Fatalf("DestinationBackup %+v; want CreateTimestamp %v, us-east-1, %s, %s", d, source.CreateTimestamp, src, clusterID)
			}
			status, _, body := e.rawCallAs(account1, "us-east-1", "CopyBackupToRegion", `{"BackupId":"`+src+`","DestinationRegion":"`+dest+`"}`)
			if status != 200 {
				t.Fatalf("raw CopyBackupToRegion: HTTP %d %s", status, body)
			}
			var raw map[string]map[string]json.RawMessage
			if err := json.Unmarshal([]byte(body), &raw); err != nil {
				t.Fatalf("body %s: %v", body, err)
			}
			want := []string{"CreateTimestamp", "SourceBackup", "SourceCluster", "SourceRegion"}
			if len(raw) != 1 || !slices.Equal(sortedKeysOf(raw["DestinationBackup"]), want) {
				t.Fatalf("raw response %s; want only DestinationBackup with members %v", body, want)
			}
		}},
		{"the copy is a new backup of the destination region, found by sourceBackupIds, with CopyTimestamp now and no ClusterId", nil, func(t *testing.T, e *env, c *cloudhsmv2.Client, clusterID, src string) {
			source := describeBackup(t, c, src)
			e.advance(time.Hour)
			now := e.virtualNow(t)
			mustCopy(t, c, src, dest, nil)
			cp := copyOf(t, e.client(account1, dest), src)
			id := aws.ToString(cp.BackupId)
			switch {
			case id == src || !backupIDRe.MatchString(id):
				t.Fatalf("copy ID %s: want a new backup ID", id)
			case aws.ToString(cp.BackupArn) != "arn:aws:cloudhsm:"+dest+":"+account1+":backup/"+id:
				t.Fatalf("BackupArn %s", aws.ToString(cp.BackupArn))
			case cp.BackupState != types.BackupStateReady:
				t.Fatalf("state %s at the next read, want READY", cp.BackupState)
			case !aws.ToTime(cp.CreateTimestamp).Equal(aws.ToTime(source.CreateTimestamp)):
				t.Fatalf("CreateTimestamp %v, want the source's %v", cp.CreateTimestamp, source.CreateTimestamp)
			case !aws.ToTime(cp.CopyTimestamp).Equal(now):
				t.Fatalf("CopyTimestamp %v, want now %v", cp.CopyTimestamp, now)
			case cp.ClusterId != nil:
				t.Fatalf("a copy has no ClusterId, got %s", aws.ToString(cp.ClusterId))
			case aws.ToString(cp.HsmType) != aws.ToString(source.HsmType) || cp.Mode != source.Mode:
				t.Fatalf("HsmType/Mode %s/%s, want the source's %s/%s", aws.ToString(cp.HsmType), cp.Mode, aws.ToString(source.HsmType), source.Mode)
			case aws.ToString(cp.SourceRegion) != "us-east-1" || aws.ToString(cp.SourceBackup) != src || aws.ToString(cp.SourceCluster) != clusterID:
				t.Fatalf("Source* %s %s %s", aws.ToString(cp.SourceRegion), aws.ToString(cp.SourceBackup), aws.ToString(cp.SourceCluster))
			case aws.ToBool(cp.NeverExpires) || cp.DeleteTimestamp != nil:
				t.Fatalf("NeverExpires %v, DeleteTimestamp %v", cp.NeverExpires, cp.DeleteTimestamp)
			}
			if got := describeAll(t, c, &cloudhsmv2.DescribeBackupsInput{Filters: map[string][]string{"sourceBackupIds": {src}}}); len(got) != 0 {
				t.Fatalf("the copy shows in the source region: %v", backupIDs(got))
			}
			if got := describeAll(t, e.client(account2, dest), &cloudhsmv2.DescribeBackupsInput{}); len(got) != 0 {
				t.Fatalf("another account sees the copy: %v", backupIDs(got))
			}
		}},
		{"the copy is CREATE_IN_PROGRESS for the backup-create delay, then READY", []func(*options){backupDelay(time.Minute)}, func(t *testing.T, e *env, c *cloudhsmv2.Client, clusterID, src string) {
			_, err := c.CopyBackupToRegion(ctx, &cloudhsmv2.CopyBackupToRegionInput{BackupId: &src, DestinationRegion: aws.String(dest)})
			wantAPIError(t, err, "CloudHsmInvalidRequestException", 400) // the source itself is still being created
			e.advance(time.Minute)
			mustCopy(t, c, src, dest, nil)
			if cp := copyOf(t, e.client(account1, dest), src); cp.BackupState != types.BackupStateCreateInProgress {
				t.Fatalf("copy state %s right after the copy, want CREATE_IN_PROGRESS", cp.BackupState)
			}
			e.advance(time.Minute)
			if cp := copyOf(t, e.client(account1, dest), src); cp.BackupState != types.BackupStateReady {
				t.Fatalf("copy state %s after the delay, want READY", cp.BackupState)
			}
		}},
		{"without a TagList the copy gets the source's tags", nil, func(t *testing.T, e *env, c *cloudhsmv2.Client, clusterID, src string) {
			mustTag(t, c, src, "team", "crypto", "env", "prod")
			mustCopy(t, c, src, dest, nil)
			want := []string{"env=prod", "team=crypto"}
			cp := copyOf(t, e.client(account1, dest), src)
			if got := tagStrings(cp.TagList); !slices.Equal(got, want) {
				t.Fatalf("copy TagList %v, want %v", got, want)
			}
			if got := tagStrings(listAllTags(t, e.client(account1, dest), aws.ToString(cp.BackupId), 0)); !slices.Equal(got, want) {
				t.Fatalf("ListTags of the copy %v, want %v", got, want)
			}
		}},
		{"a TagList replaces the source's tags on the copy and leaves the source's alone", nil, func(t *testing.T, e *env, c *cloudhsmv2.Client, clusterID, src string) {
			mustTag(t, c, src, "team", "crypto", "env", "prod")
			mustCopy(t, c, src, dest, []types.Tag{sdkTag("env", "dr"), sdkTag("copy", "yes")})
			if got := tagStrings(copyOf(t, e.client(account1, dest), src).TagList); !slices.Equal(got, []string{"copy=yes", "env=dr"}) {
				t.Fatalf("copy TagList %v", got)
			}
			if got := tagStrings(listAllTags(t, c, src, 0)); !slices.Equal(got, []string{"env=prod", "team=crypto"}) {
				t.Fatalf("source tags changed: %v", got)
			}
		}},
		{"a copy is not under any retention policy", nil, func(t *testing.T, e *env, c *cloudhsmv2.Client, clusterID, src string) {
			if _, err := c.ModifyCluster(ctx, &cloudhsmv2.ModifyClusterInput{
				ClusterId: &clusterID, BackupRetentionPolicy: &types.BackupRetentionPolicy{Type: types.BackupRetentionTypeDays, Value: aws.String("7")},
			}); err != nil {
				t.Fatal(err)
			}
			mustCopy(t, c, src, dest, nil)
			e.advance(30 * 24 * time.Hour)
			if cp := copyOf(t, e.client(account1, dest), src); cp.BackupState != types.BackupStateReady || cp.DeleteTimestamp != nil {
				t.Fatalf("after 30 days the copy is %s (DeleteTimestamp %v), want READY", cp.BackupState, cp.DeleteTimestamp)
			}
			// The same 30 days expired and purged the source, so the policy did run.
			if got := describeAll(t, c, &cloudhsmv2.DescribeBackupsInput{Filters: map[string][]string{"backupIds": {src}}}); len(got) != 0 {
				t.Fatalf("the source should have expired under the 7-day policy: %s", got[0].BackupState)
			}
		}},
		{"a copy of a copy names the original cluster as SourceCluster", nil, func(t *testing.T, e *env, c *cloudhsmv2.Client, clusterID, src string) {
			mustCopy(t, c, src, dest, nil)
			eu := e.client(account1, dest)
			first := aws.ToString(copyOf(t, eu, src).BackupId)
			out := mustCopy(t, eu, first, "us-west-2", nil)
			if aws.ToString(out.SourceCluster) != clusterID || aws.ToString(out.SourceBackup) != first || aws.ToString(out.SourceRegion) != dest {
				t.Fatalf("DestinationBackup %+v", out)
			}
			second := copyOf(t, e.client(account1, "us-west-2"), first)
			if aws.ToString(second.SourceCluster) != clusterID || aws.ToString(second.SourceRegion) != dest || second.ClusterId != nil {
				t.Fatalf("second copy: SourceCluster %s, SourceRegion %s, ClusterId %v", aws.ToString(second.SourceCluster), aws.ToString(second.SourceRegion), second.ClusterId)
			}
		}},
		{"the source's own region as destination is CloudHsmInvalidRequestException", nil, func(t *testing.T, e *env, c *cloudhsmv2.Client, clusterID, src string) {
			_, err := c.CopyBackupToRegion(ctx, &cloudhsmv2.CopyBackupToRegionInput{BackupId: &src, DestinationRegion: aws.String("us-east-1")})
			wantAPIError(t, err, "CloudHsmInvalidRequestException", 400)
		}},
		{"a destination in another partition (GovCloud) is CloudHsmInvalidRequestException", nil, func(t *testing.T, e *env, c *cloudhsmv2.Client, clusterID, src string) {
			_, err := c.CopyBackupToRegion(ctx, &cloudhsmv2.CopyBackupToRegionInput{BackupId: &src, DestinationRegion: aws.String("us-gov-west-1")})
			wantAPIError(t, err, "CloudHsmInvalidRequestException", 400)
		}},
		{"a GovCloud backup's ARN is in the aws-us-gov partition", nil, func(t *testing.T, e *env, c *cloudhsmv2.Client, clusterID, src string) {
			gov := e.client(account1, "us-gov-west-1")
			_, backupID := e.activeCluster(t, gov)
			want := "arn:aws-us-gov:cloudhsm:us-gov-west-1:" + account1 + ":backup/" + backupID
			if got := aws.ToString(describeBackup(t, gov, backupID).BackupArn); got != want {
				t.Fatalf("BackupArn %s, want %s", got, want)
			}
		}},
		{"a source that is not READY is CloudHsmInvalidRequestException", nil, func(t *testing.T, e *env, c *cloudhsmv2.Client, clusterID, src string) {
			mustDelete(t, c, src)
			_, err := c.CopyBackupToRegion(ctx, &cloudhsmv2.CopyBackupToRegionInput{BackupId: &src, DestinationRegion: aws.String(dest)})
			wantAPIError(t, err, "CloudHsmInvalidRequestException", 400)
		}},
		{"an unknown backup is CloudHsmResourceNotFoundException", nil, func(t *testing.T, e *env, c *cloudhsmv2.Client, clusterID, src string) {
			_, err := c.CopyBackupToRegion(ctx, &cloudhsmv2.CopyBackupToRegionInput{BackupId: aws.String("backup-aaaaaaaaaaa"), DestinationRegion: aws.String(dest)})
			wantAPIError(t, err, "CloudHsmResourceNotFoundException", 400)
		}},
		{"another account's backup is CloudHsmResourceNotFoundException", nil, func(t *testing.T, e *env, c *cloudhsmv2.Client, clusterID, src string) {
			_, err := e.client(account2, "us-east-1").CopyBackupToRegion(ctx, &cloudhsmv2.CopyBackupToRegionInput{BackupId: &src, DestinationRegion: aws.String(dest)})
			wantAPIError(t, err, "CloudHsmResourceNotFoundException", 400)
		}},
		{"a DestinationRegion breaking the region pattern is CloudHsmInvalidRequestException", nil, func(t *testing.T, e *env, c *cloudhsmv2.Client, clusterID, src string) {
			for _, region := range []string{"mars-1", "EU-WEST-1", "eu-west", "eu-west-1a", ""} {
				_, err := c.CopyBackupToRegion(ctx, &cloudhsmv2.CopyBackupToRegionInput{BackupId: &src, DestinationRegion: aws.String(region)})
				wantAPIError(t, err, "CloudHsmInvalidRequestException", 400)
			}
		}},
		{"a malformed BackupId is CloudHsmInvalidRequestException", nil, func(t *testing.T, e *env, c *cloudhsmv2.Client, clusterID, src string) {
			_, err := c.CopyBackupToRegion(ctx, &cloudhsmv2.CopyBackupToRegionInput{BackupId: aws.String("backup-1"), DestinationRegion: aws.String(dest)})
			wantAPIError(t, err, "CloudHsmInvalidRequestException", 400)
		}},
		{"an empty TagList is CloudHsmInvalidRequestException", nil, func(t *testing.T, e *env, c *cloudhsmv2.Client, clusterID, src string) {
			_, err := c.CopyBackupToRegion(ctx, &cloudhsmv2.CopyBackupToRegionInput{BackupId: &src, DestinationRegion: aws.String(dest), TagList: []types.Tag{}})
			wantAPIError(t, err, "CloudHsmInvalidRequestException", 400)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, tt.opts...)
			c := e.defaultClient()
			clusterID, src := e.activeCluster(t, c)
			tt.run(t, e, c, clusterID, src)
		})
	}
}

// backupDelay makes every backup stay CREATE_IN_PROGRESS for d.
func backupDelay(d time.Duration) func(*options) {
	return func(o *options) {
		prev := o.lifecycle
		o.lifecycle = func(c *lifecycle.Config) {
			if prev != nil {
				prev(c)
			}
			c.Delays = map[lifecycle.Transition]time.Duration{lifecycle.BackupCreate: d}
		}
	}
}

// mustCopy copies a backup and returns the DestinationBackup.
func mustCopy(t *testing.T, c *cloudhsmv2.Client, id, region string, tags []types.Tag) *types.DestinationBackup {
	t.Helper()
	out, err := c.CopyBackupToRegion(context.Background(), &cloudhsmv2.CopyBackupToRegionInput{BackupId: &id, DestinationRegion: &region, TagList: tags})
	if err != nil {
		t.Fatalf("CopyBackupToRegion %s to %s: %v", id, region, err)
	}
	return out.DestinationBackup
}

// copyOf finds the one copy of source in the client's region through the sourceBackupIds filter.
func copyOf(t *testing.T, c *cloudhsmv2.Client, source string) types.Backup {
	t.Helper()
	got := describeAll(t, c, &cloudhsmv2.DescribeBackupsInput{Filters: map[string][]string{"sourceBackupIds": {source}}})
	if len(got) != 1 {
		t.Fatalf("sourceBackupIds %s: %d backups, want one copy", source, len(got))
	}
	return got[0]
}

func sortedKeysOf[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
