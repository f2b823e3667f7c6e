package e2e

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudhsmv2"
	"github.com/aws/aws-sdk-go-v2/service/cloudhsmv2/types"
)

// account3 is never granted anything.
const account3 = "777788889999"

const (
	actDescribe = "cloudhsm:DescribeBackups"
	actCreate   = "cloudhsm:CreateCluster"
)

// shared is one sharing rule's world: the owner (account1, us-east-1) with an ACTIVE cluster and
// its first backup, and clients for the grantee (account2) and an outsider (account3).
type shared struct {
	e                  *env
	owner, grantee     *cloudhsmv2.Client
	outsider           *cloudhsmv2.Client
	clusterID, backup  string
	arn                string
	ownerOtherRegion   *cloudhsmv2.Client
	granteeOtherRegion *cloudhsmv2.Client
}

// TestSharingRules pins docs/BEHAVIOUR.md §7: backup resource policies, Shared: true and creating a
// cluster from a shared backup. Each row builds its own server.
func TestSharingRules(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name string
		run  func(t *testing.T, s shared)
	}{
		{"PutResourcePolicy returns ResourceArn and Policy, and GetResourcePolicy returns the Policy", func(t *testing.T, s shared) {
			doc := sharePolicy(s.arn, []string{account2}, actDescribe, actCreate)
			out, err := s.owner.PutResourcePolicy(ctx, &cloudhsmv2.PutResourcePolicyInput{ResourceArn: &s.arn, Policy: &doc})
			if err != nil {
				t.Fatal(err)
			}
			if aws.ToString(out.ResourceArn) != s.arn || aws.ToString(out.Policy) != doc {
				t.Fatalf("PutResourcePolicy: %s %s", aws.ToString(out.ResourceArn), aws.ToString(out.Policy))
			}
			if got := ownerPolicy(t, s); got != doc {
				t.Fatalf("GetResourcePolicy: %q, want %q", got, doc)
			}
		}},
		{"a principal given as an account ID is granted", func(t *testing.T, s shared) {
			mustShare(t, s, sharePolicy(s.arn, []string{account2}, actDescribe))
			wantShared(t, s.grantee, s.backup)
		}},
		{"a principal given as arn:aws:iam::<account>:root is granted", func(t *testing.T, s shared) {
			mustShare(t, s, sharePolicy(s.arn, []string{"arn:aws:iam::" + account2 + ":root"}, actDescribe))
			wantShared(t, s.grantee, s.backup)
		}},
		{"DeleteResourcePolicy returns ResourceArn and the removed Policy, after which there is none", func(t *testing.T, s shared) {
			doc := sharePolicy(s.arn, []string{account2}, actDescribe)
			mustShare(t, s, doc)
			out, err := s.owner.DeleteResourcePolicy(ctx, &cloudhsmv2.DeleteResourcePolicyInput{ResourceArn: &s.arn})
			if err != nil {
				t.Fatal(err)
			}
			if aws.ToString(out.ResourceArn) != s.arn || aws.ToString(out.Policy) != doc {
				t.Fatalf("DeleteResourcePolicy: %s %s", aws.ToString(out.ResourceArn), aws.ToString(out.Policy))
			}
			if got := ownerPolicy(t, s); got != "" {
				t.Fatalf("GetResourcePolicy after delete: %q", got)
			}
		}},
		{"a Statement given as one object rather than a list is accepted, as in IAM", func(t *testing.T, s shared) {
			doc := `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":{"AWS":"` + account2 + `"},"Action":"` + actDescribe + `","Resource":"` + s.arn + `"}}`
			mustShare(t, s, doc)
			wantShared(t, s.grantee, s.backup)
		}},
		{"PutResourcePolicy replaces the previous policy", func(t *testing.T, s shared) {
			mustShare(t, s, sharePolicy(s.arn, []string{account2}, actDescribe))
			mustShare(t, s, sharePolicy(s.arn, []string{account3}, actDescribe))
			wantShared(t, s.grantee)
			wantShared(t, s.outsider, s.backup)
		}},
		{"an invalid policy is CloudHsmInvalidRequestException and is not stored", func(t *testing.T, s shared) {
			other := s.e.takeBackup(t, s.clusterID)
			otherArn := "arn:aws:cloudhsm:us-east-1:" + account1 + ":backup/" + other
			statement := func(fields string) string {
				return `{"Version":"2012-10-17","Statement":[{` + fields + `}]}`
			}
			principal := `"Principal":{"AWS":["` + account2 + `"]}`
			action := `"Action":["` + actDescribe + `"]`
			resource := `"Resource":"` + s.arn + `"`
			for _, p := range []struct{ name, doc string }{
				{"not JSON", `{"Version":"2012-10-17","Statement":[`},
				{"a JSON array", `[]`},
				{"no statements", `{"Version":"2012-10-17","Statement":[]}`},
				{"no Statement member", `{"Version":"2012-10-17"}`},
				{"Effect Deny", statement(`"Effect":"Deny",` + principal + `,` + action + `,` + resource)},
				{"another action", statement(`"Effect":"Allow",` + principal + `,"Action":["cloudhsm:DeleteBackup"],` + resource)},
				{"a wildcard action", statement(`"Effect":"Allow",` + principal + `,"Action":"cloudhsm:*",` + resource)},
				{"no Action", statement(`"Effect":"Allow",` + principal + `,` + resource)},
				{"principal *", statement(`"Effect":"Allow","Principal":"*",` + action + `,` + resource)},
				{"principal AWS *", statement(`"Effect":"Allow","Principal":{"AWS":"*"},` + action + `,` + resource)},
				{"an IAM user principal", statement(`"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::` + account2 + `:user/bob"},` + action + `,` + resource)},
				{"an 11-digit account", statement(`"Effect":"Allow","Principal":{"AWS":"44445555666"},` + action + `,` + resource)},
				{"no Principal", statement(`"Effect":"Allow",` + action + `,` + resource)},
				{"a Condition", statement(`"Effect":"Allow",` + principal + `,` + action + `,` + resource + `,"Condition":{"Bool":{"aws:SecureTransport":"false"}}`)},
				{"NotPrincipal", statement(`"Effect":"Allow",` + principal + `,"NotPrincipal":{"AWS":"` + account3 + `"},` + action + `,` + resource)},
				{"NotAction", statement(`"Effect":"Allow",` + principal + `,` + action + `,"NotAction":"cloudhsm:DeleteBackup",` + resource)},
				{"NotResource", statement(`"Effect":"Allow",` + principal + `,` + action + `,` + resource + `,"NotResource":"` + otherArn + `"`)},
				{"the resource of another backup", statement(`"Effect":"Allow",` + principal + `,` + action + `,"Resource":"` + otherArn + `"`)},
				{"the resource of the cluster", statement(`"Effect":"Allow",` + principal + `,` + action + `,"Resource":"arn:aws:cloudhsm:us-east-1:` + account1 + `:cluster/` + s.clusterID + `"`)},
				{"an empty document", ``},
			} {
				t.Run(p.name, func(t *testing.T) {
					_, err := s.owner.PutResourcePolicy(ctx, &cloudhsmv2.PutResourcePolicyInput{ResourceArn: &s.arn, Policy: aws.String(p.doc)})
					wantAPIError(t, err, "CloudHsmInvalidRequestException", 400)
					if msg := apiMessage(err); strings.Contains(msg, "Go ") || strings.Contains(msg, "struct") {
						t.Fatalf("the message shows Go internals: %s", msg)
					}
				})
			}
			if got := ownerPolicy(t, s); got != "" {
				t.Fatalf("a refused policy was stored: %q", got)
			}
		}},
		{"PutResourcePolicy on a PENDING_DELETION backup is CloudHsmInvalidRequestException", func(t *testing.T, s shared) {
			mustDelete(t, s.owner, s.backup)
			doc := sharePolicy(s.arn, []string{account2}, actDescribe)
			_, err := s.owner.PutResourcePolicy(ctx, &cloudhsmv2.PutResourcePolicyInput{ResourceArn: &s.arn, Policy: &doc})
			wantAPIError(t, err, "CloudHsmInvalidRequestException", 400)
		}},
		{"a cluster ARN is CloudHsmInvalidRequestException", func(t *testing.T, s shared) {
			arn := "arn:aws:cloudhsm:us-east-1:" + account1 + ":cluster/" + s.clusterID
			wantPolicyOpsError(t, s.owner, &arn, sharePolicy(arn, []string{account2}, actDescribe), "CloudHsmInvalidRequestException", 400)
		}},
		{"a missing ResourceArn is CloudHsmInvalidRequestException", func(t *testing.T, s shared) {
			wantPolicyOpsError(t, s.owner, nil, sharePolicy(s.arn, []string{account2}, actDescribe), "CloudHsmInvalidRequestException", 400)
		}},
		{"another account's backup ARN is CloudHsmAccessDeniedException", func(t *testing.T, s shared) {
			wantPolicyOpsError(t, s.outsider, &s.arn, sharePolicy(s.arn, []string{account3}, actDescribe), "CloudHsmAccessDeniedException", 400)
		}},
		{"only the owner reads or changes a policy: the grantee's Get, Put and Delete are CloudHsmAccessDeniedException", func(t *testing.T, s shared) {
			doc := sharePolicy(s.arn, []string{account2}, actDescribe, actCreate)
			mustShare(t, s, doc)
			wantPolicyOpsError(t, s.grantee, &s.arn, sharePolicy(s.arn, []string{account2, account3}, actDescribe), "CloudHsmAccessDeniedException", 400)
			if got := ownerPolicy(t, s); got != doc {
				t.Fatalf("the owner's policy changed: %q", got)
			}
		}},
		{"a grantee of DescribeBackups sees the backup with Shared: true only", func(t *testing.T, s shared) {
			mustShare(t, s, sharePolicy(s.arn, []string{account2}, actDescribe))
			got := wantShared(t, s.grantee, s.backup)
			if aws.ToString(got[0].BackupArn) != s.arn || aws.ToString(got[0].ClusterId) != s.clusterID || got[0].BackupState != types.BackupStateReady {
				t.Fatalf("shared backup as the grantee sees it: %+v", got[0])
			}
			if own := describeAll(t, s.grantee, &cloudhsmv2.DescribeBackupsInput{}); len(own) != 0 {
				t.Fatalf("without Shared the grantee sees %v", backupIDs(own))
			}
			filtered := describeAll(t, s.grantee, &cloudhsmv2.DescribeBackupsInput{Shared: aws.Bool(true), Filters: map[string][]string{"backupIds": {s.backup}}})
			if ids := backupIDs(filtered); !slices.Equal(ids, []string{s.backup}) {
				t.Fatalf("Shared with a backupIds filter: %v", ids)
			}
		}},
		{"the owner's Shared: true list excludes its own backups, even when it names itself", func(t *testing.T, s shared) {
			mustShare(t, s, sharePolicy(s.arn, []string{account2, account1}, actDescribe))
			wantShared(t, s.owner)
		}},
		{"an account that is not granted sees nothing and cannot create a cluster", func(t *testing.T, s shared) {
			mustShare(t, s, sharePolicy(s.arn, []string{account2}, actDescribe, actCreate))
			wantShared(t, s.outsider)
			_, err := s.outsider.CreateCluster(ctx, fromBackup(s.arn))
			wantAPIError(t, err, "CloudHsmAccessDeniedException", 400)
		}},
		{"a grantee of CreateCluster creates a cluster from the ARN that becomes ACTIVE with the plain SourceBackupId", func(t *testing.T, s shared) {
			mustShare(t, s, sharePolicy(s.arn, []string{account2}, actCreate))
			cl := mustCreateCluster(t, s.grantee, fromBackup(s.arn))
			got := describeCluster(t, s.grantee, aws.ToString(cl.ClusterId))
			if got.State != types.ClusterStateActive || aws.ToString(got.SourceBackupId) != s.backup {
				t.Fatalf("cluster from the shared backup: state %s, SourceBackupId %s", got.State, aws.ToString(got.SourceBackupId))
			}
			if owned := describeAll(t, s.owner, &cloudhsmv2.DescribeBackupsInput{}); len(owned) != 1 {
				t.Fatalf("the grantee's new cluster should not add backups to the owner's account: %v", backupIDs(owned))
			}
		}},
		{"a grantee of CreateCluster only does not see the backup with Shared: true", func(t *testing.T, s shared) {
			mustShare(t, s, sharePolicy(s.arn, []string{account2}, actCreate))
			wantShared(t, s.grantee)
		}},
		{"a grantee of DescribeBackups only gets CloudHsmAccessDeniedException on CreateCluster", func(t *testing.T, s shared) {
			mustShare(t, s, sharePolicy(s.arn, []string{account2}, actDescribe))
			_, err := s.grantee.CreateCluster(ctx, fromBackup(s.arn))
			wantAPIError(t, err, "CloudHsmAccessDeniedException", 400)
		}},
		{"a grantee must name a shared backup by its ARN: the plain ID is not found", func(t *testing.T, s shared) {
			mustShare(t, s, sharePolicy(s.arn, []string{account2}, actDescribe, actCreate))
			_, err := s.grantee.CreateCluster(ctx, fromBackup(s.backup))
			wantAPIError(t, err, "CloudHsmResourceNotFoundException", 400)
		}},
		{"a shared backup that is PENDING_DELETION cannot be used to create a cluster", func(t *testing.T, s shared) {
			mustShare(t, s, sharePolicy(s.arn, []string{account2}, actDescribe, actCreate))
			mustDelete(t, s.owner, s.backup)
			_, err := s.grantee.CreateCluster(ctx, fromBackup(s.arn))
			wantAPIError(t, err, "CloudHsmInvalidRequestException", 400)
		}},
		{"after DeleteResourcePolicy the grantee neither sees nor uses the backup, and its cluster stays", func(t *testing.T, s shared) {
			mustShare(t, s, sharePolicy(s.arn, []string{account2}, actDescribe, actCreate))
			cl := mustCreateCluster(t, s.grantee, fromBackup(s.arn))
			if _, err := s.owner.DeleteResourcePolicy(ctx, &cloudhsmv2.DeleteResourcePolicyInput{ResourceArn: &s.arn}); err != nil {
				t.Fatal(err)
			}
			wantShared(t, s.grantee)
			_, err := s.grantee.CreateCluster(ctx, fromBackup(s.arn))
			wantAPIError(t, err, "CloudHsmAccessDeniedException", 400)
			s.e.advance(time.Hour)
			if got := describeCluster(t, s.grantee, aws.ToString(cl.ClusterId)); got.State != types.ClusterStateActive || aws.ToString(got.SourceBackupId) != s.backup {
				t.Fatalf("the grantee's cluster after unsharing: %s, SourceBackupId %s", got.State, aws.ToString(got.SourceBackupId))
			}
		}},
		{"sharing is per region: the grantee in another region sees nothing and cannot create a cluster", func(t *testing.T, s shared) {
			mustShare(t, s, sharePolicy(s.arn, []string{account2}, actDescribe, actCreate))
			wantShared(t, s.granteeOtherRegion)
			_, err := s.granteeOtherRegion.CreateCluster(ctx, fromBackup(s.arn))
			wantAPIError(t, err, "CloudHsmResourceNotFoundException", 400)
		}},
		{"the owner in another region is not found", func(t *testing.T, s shared) {
			_, err := s.ownerOtherRegion.GetResourcePolicy(ctx, &cloudhsmv2.GetResourcePolicyInput{ResourceArn: &s.arn})
			wantAPIError(t, err, "CloudHsmResourceNotFoundException", 400)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			s := shared{
				e: e, owner: e.defaultClient(), grantee: e.client(account2, "us-east-1"), outsider: e.client(account3, "us-east-1"),
				ownerOtherRegion: e.client(account1, "eu-west-1"), granteeOtherRegion: e.client(account2, "eu-west-1"),
			}
			s.clusterID, s.backup = e.activeCluster(t, s.owner)
			s.arn = "arn:aws:cloudhsm:us-east-1:" + account1 + ":backup/" + s.backup
			tt.run(t, s)
		})
	}
}

// sharePolicy returns a one-statement policy allowing actions on arn to principals.
func sharePolicy(arn string, principals []string, actions ...string) string {
	doc, err := json.Marshal(map[string]any{
		"Version": "2012-10-17",
		"Statement": []any{map[string]any{
			"Sid": "share", "Effect": "Allow", "Principal": map[string]any{"AWS": principals},
			"Action": actions, "Resource": arn,
		}},
	})
	if err != nil {
		panic(err)
	}
	return string(doc)
}

// mustShare puts a policy on the rule's backup as its owner.
func mustShare(t *testing.T, s shared, doc string) {
	t.Helper()
	if _, err := s.owner.PutResourcePolicy(context.Background(), &cloudhsmv2.PutResourcePolicyInput{ResourceArn: &s.arn, Policy: &doc}); err != nil {
		t.Fatalf("PutResourcePolicy: %v", err)
	}
}

// ownerPolicy returns the rule's backup policy as its owner reads it; "" when there is none.
func ownerPolicy(t *testing.T, s shared) string {
	t.Helper()
	out, err := s.owner.GetResourcePolicy(context.Background(), &cloudhsmv2.GetResourcePolicyInput{ResourceArn: &s.arn})
	if err != nil {
		t.Fatalf("GetResourcePolicy: %v", err)
	}
	return aws.ToString(out.Policy)
}

// wantShared checks the backups a client sees with Shared: true.
func wantShared(t *testing.T, c *cloudhsmv2.Client, want ...string) []types.Backup {
	t.Helper()
	got := describeAll(t, c, &cloudhsmv2.DescribeBackupsInput{Shared: aws.Bool(true)})
	if ids := backupIDs(got); !slices.Equal(ids, want) {
		t.Fatalf("Shared: true lists %v, want %v", ids, want)
	}
	return got
}

// fromBackup is a CreateCluster input restoring from a backup ID or ARN.
func fromBackup(ref string) *cloudhsmv2.CreateClusterInput {
	return &cloudhsmv2.CreateClusterInput{HsmType: aws.String("hsm2m.medium"), SubnetIds: subnets, SourceBackupId: aws.String(ref)}
}

// wantPolicyOpsError checks that Put, Get and DeleteResourcePolicy on arn all fail alike.
func wantPolicyOpsError(t *testing.T, c *cloudhsmv2.Client, arn *string, doc, code string, status int) {
	t.Helper()
	ctx := context.Background()
	_, err := c.PutResourcePolicy(ctx, &cloudhsmv2.PutResourcePolicyInput{ResourceArn: arn, Policy: &doc})
	wantAPIError(t, err, code, status)
	_, err = c.GetResourcePolicy(ctx, &cloudhsmv2.GetResourcePolicyInput{ResourceArn: arn})
	wantAPIError(t, err, code, status)
	_, err = c.DeleteResourcePolicy(ctx, &cloudhsmv2.DeleteResourcePolicyInput{ResourceArn: arn})
	wantAPIError(t, err, code, status)
}
