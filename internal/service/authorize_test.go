package service

import (
	"slices"
	"strings"
	"testing"

	"github.com/cloudhsm-local/cloudhsm-local/internal/api"
	"github.com/cloudhsm-local/cloudhsm-local/internal/identity"
	"github.com/cloudhsm-local/cloudhsm-local/internal/policy"
)

func s(v string) *string { return &v }

// TestPermission pins the action and resources each operation is authorized for (documented in
// docs/DECISIONS.md, "Strict mode"), and that every operation of the model has a row.
func TestPermission(t *testing.T) {
	who := identity.Caller{Account: "111122223333", Region: "us-east-1"}
	const (
		backupARN  = "arn:aws:cloudhsm:us-east-1:111122223333:backup/backup-aaaaaaaaaaa"
		clusterARN = "arn:aws:cloudhsm:us-east-1:111122223333:cluster/cluster-ccccccccccc"
		sharedARN  = "arn:aws:cloudhsm:us-east-1:444455556666:backup/backup-bbbbbbbbbbb"
	)
	tests := []struct {
		in       any
		action   string
		resource string
	}{
		{&api.CopyBackupToRegionRequest{BackupId: s("backup-aaaaaaaaaaa")}, "CopyBackupToRegion", backupARN},
		{&api.CreateClusterRequest{}, "CreateCluster", "*"},
		{&api.CreateClusterRequest{SourceBackupId: s("backup-aaaaaaaaaaa")}, "CreateCluster", backupARN},
		{&api.CreateClusterRequest{SourceBackupId: s(sharedARN)}, "CreateCluster", sharedARN},
		{&api.CreateHsmRequest{ClusterId: s("cluster-ccccccccccc")}, "CreateHsm", clusterARN},
		{&api.DeleteBackupRequest{BackupId: s("backup-aaaaaaaaaaa")}, "DeleteBackup", backupARN},
		{&api.DeleteClusterRequest{ClusterId: s("cluster-ccccccccccc")}, "DeleteCluster", clusterARN},
		{&api.DeleteHsmRequest{ClusterId: s("cluster-ccccccccccc")}, "DeleteHsm", clusterARN},
		{&api.DeleteResourcePolicyRequest{ResourceArn: s(sharedARN)}, "DeleteResourcePolicy", sharedARN},
		{&api.DescribeBackupsRequest{}, "DescribeBackups", "*"},
		{&api.DescribeClustersRequest{}, "DescribeClusters", "*"},
		{&api.GetResourcePolicyRequest{ResourceArn: s(backupARN)}, "GetResourcePolicy", backupARN},
		{&api.InitializeClusterRequest{ClusterId: s("cluster-ccccccccccc")}, "InitializeCluster", clusterARN},
		{&api.ListTagsRequest{ResourceId: s("cluster-ccccccccccc")}, "ListTags", clusterARN},
		{&api.ListTagsRequest{ResourceId: s("backup-aaaaaaaaaaa")}, "ListTags", backupARN},
		{&api.ModifyBackupAttributesRequest{BackupId: s("backup-aaaaaaaaaaa")}, "ModifyBackupAttributes", backupARN},
		{&api.ModifyClusterRequest{ClusterId: s("cluster-ccccccccccc")}, "ModifyCluster", clusterARN},
		{&api.PutResourcePolicyRequest{ResourceArn: s(backupARN)}, "PutResourcePolicy", backupARN},
		{&api.RestoreBackupRequest{BackupId: s("backup-aaaaaaaaaaa")}, "RestoreBackup", backupARN},
		{&api.TagResourceRequest{ResourceId: s("backup-aaaaaaaaaaa")}, "TagResource", backupARN},
		{&api.UntagResourceRequest{ResourceId: s("cluster-ccccccccccc")}, "UntagResource", clusterARN},
	}
	covered := map[string]bool{}
	for _, tt := range tests {
		action, resources, err := permission(who, tt.in)
		if err != nil {
			t.Errorf("permission(%T): %v", tt.in, err)
		}
		if action != "cloudhsm:"+tt.action || !slices.Equal(resources, []string{tt.resource}) {
			t.Errorf("permission(%T) = %s %v, want cloudhsm:%s [%s]", tt.in, action, resources, tt.action, tt.resource)
		}
		covered[strings.TrimPrefix(action, "cloudhsm:")] = true
	}
	for _, op := range api.OperationNames() {
		if !covered[op] {
			t.Errorf("operation %s has no permission row", op)
		}
	}
	if action, _, _ := permission(who, struct{}{}); action != "" {
		t.Errorf("permission(unknown) = %q, want none", action)
	}
}

// TestPermissionRefusesNonCanonicalARNs: an ARN that passes the model's pattern but is not the
// canonical spelling of its resource is refused before any policy is asked, so no spelling can
// side-step a Deny written on the canonical ARN.
func TestPermissionRefusesNonCanonicalARNs(t *testing.T) {
	who := identity.Caller{Account: "111122223333", Region: "us-east-1"}
	spellings := []string{
		"arn:aws-us-gov:cloudhsm:us-east-1:111122223333:backup/backup-aaaaaaaaaaa",
		"arn:aws:cloudhsm:us-gov-west-1:111122223333:backup/backup-aaaaaaaaaaa",
		"arn:aws:cloudhsm:us-iso-east-1:111122223333:backup/backup-aaaaaaaaaaa",
		"arn:aws-us-gov:cloudhsm:us-isob-east-1:111122223333:backup/backup-aaaaaaaaaaa",
	}
	inputs := func(ref string) []any {
		return []any{
			&api.CreateClusterRequest{SourceBackupId: s(ref)},
			&api.PutResourcePolicyRequest{ResourceArn: s(ref)},
			&api.GetResourcePolicyRequest{ResourceArn: s(ref)},
			&api.DeleteResourcePolicyRequest{ResourceArn: s(ref)},
		}
	}
	for _, ref := range spellings {
		for _, in := range inputs(ref) {
			_, resources, err := permission(who, in)
			if e := api.AsError(err); err == nil || e.Code != api.CodeInvalidRequest || !strings.Contains(e.Message, ref) {
				t.Errorf("permission(%T %s) = %v, %v; want CloudHsmInvalidRequestException naming the ARN", in, ref, resources, err)
			}
		}
	}
}

func TestCallerPolicies(t *testing.T) {
	doc, err := policy.Parse([]byte(`{"Statement":[
		{"Effect":"Allow","Action":"cloudhsm:*","Resource":"*"},
		{"Effect":"Deny","Action":"cloudhsm:DeleteBackup","Resource":"*"}]}`), policy.Identity)
	if err != nil {
		t.Fatal(err)
	}
	narrow, err := policy.Parse([]byte(`{"Statement":{"Effect":"Allow","Action":"cloudhsm:Describe*","Resource":"*"}}`), policy.Identity)
	if err != nil {
		t.Fatal(err)
	}
	who := identity.Caller{Account: "111122223333", Region: "us-east-1"}
	tests := []struct {
		name   string
		policy *policy.Policy
		action string
		want   string // "" = allowed, else a substring of the AccessDenied message
	}{
		{"no policy allows everything", nil, "cloudhsm:DeleteBackup", ""},
		{"allowed", doc, "cloudhsm:RestoreBackup", ""},
		{"explicit deny", doc, "cloudhsm:DeleteBackup", "with an explicit deny in an identity-based policy"},
		{"implicit deny", narrow, "cloudhsm:DeleteBackup", "because no identity-based policy allows the cloudhsm:DeleteBackup action"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			who := who
			who.Policy = tt.policy
			err := CallerPolicies{}.Authorize(who, tt.action, "arn:aws:cloudhsm:us-east-1:111122223333:backup/backup-aaaaaaaaaaa")
			if tt.want == "" {
				if err != nil {
					t.Fatalf("Authorize: %v", err)
				}
				return
			}
			e := api.AsError(err)
			if err == nil || e.Code != api.CodeAccessDenied || !strings.Contains(e.Message, tt.want) {
				t.Fatalf("Authorize: %v, want %s containing %q", err, api.CodeAccessDenied, tt.want)
			}
		})
	}
}
