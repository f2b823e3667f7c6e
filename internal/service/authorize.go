package service

import (
	"fmt"
	"strings"

	"github.com/cloudhsm-local/cloudhsm-local/internal/api"
	"github.com/cloudhsm-local/cloudhsm-local/internal/identity"
	"github.com/cloudhsm-local/cloudhsm-local/internal/policy"
)

// Authorizer is the identity-based permission check of strict mode (BEHAVIOUR.md §1). Each
// operation asks it once, after the model's validation and before its transaction, with the
// action and resources that permission names (see permission). A nil Authorizer (permissive
// mode) is never called, so permissive mode pays nothing.
type Authorizer interface {
	// Authorize MUST return nil when who may perform action on every one of resources (ARNs, or
	// "*" for an action on no particular resource), and a CloudHsmAccessDeniedException
	// (*api.Error) otherwise. It MUST NOT touch the store, block, or depend on whether the
	// resources exist.
	Authorize(who identity.Caller, action string, resources ...string) error
}

// CallerPolicies is the Authorizer of strict mode: it evaluates the caller's own identity policy
// (identity.Caller.Policy). A caller without a policy may do everything its account may.
type CallerPolicies struct{}

// Authorize implements Authorizer.
func (CallerPolicies) Authorize(who identity.Caller, action string, resources ...string) error {
	if who.Policy == nil {
		return nil
	}
	for _, r := range resources {
		switch who.Policy.Evaluate(policy.Request{Principal: who.Account, Action: action, Resource: r}) {
		case policy.Allowed:
			continue
		case policy.ExplicitDeny:
			return accessDenied(who, action, r, "with an explicit deny in an identity-based policy")
		default:
			return accessDenied(who, action, r, "because no identity-based policy allows the "+action+" action")
		}
	}
	return nil
}

func accessDenied(who identity.Caller, action, resource, why string) *api.Error {
	return api.Errorf(api.CodeAccessDenied, "The credential of account %s is not authorized to perform: %s on resource: %s %s",
		who.Account, action, resource, why)
}

// authorize asks the configured Authorizer whether who may make request in (an operation's
// input); it is a no-op in permissive mode. An input it has no mapping for is an internal
// failure, never an allowance.
func (s *Service) authorize(who identity.Caller, in any) error {
	if s.cfg.Authorizer == nil {
		return nil
	}
	action, resources := permission(who, in)
	if action == "" {
		return api.InternalFailure(fmt.Errorf("service: no permission mapping for %T", in))
	}
	return s.cfg.Authorizer.Authorize(who, action, resources...)
}

// actionPrefix starts every CloudHSM v2 IAM action.
const actionPrefix = "cloudhsm:"

// permission maps a request to its IAM action ("cloudhsm:<Operation>") and the resources it is
// authorized on, following AWS's Service Authorization Reference for CloudHSM:
//   - an operation on one cluster (CreateHsm, DeleteHsm, InitializeCluster, ModifyCluster,
//     DeleteCluster) or one backup (DeleteBackup, RestoreBackup, ModifyBackupAttributes,
//     CopyBackupToRegion): that resource's ARN in the caller's account and region, whether or
//     not it exists, so a denial never reveals existence;
//   - TagResource, UntagResource, ListTags: the ARN of the cluster or backup named by ResourceId;
//   - Put/Get/DeleteResourcePolicy: ResourceArn as given;
//   - CreateCluster from a backup: the backup's ARN (SourceBackupId as given if it is an ARN, else
//     the caller's own backup); CreateCluster from nothing, DescribeClusters, DescribeBackups: "*".
//
// Inputs have passed the model's validation, so required members are set.
func permission(who identity.Caller, in any) (action string, resources []string) {
	cluster := func(id *string) []string { return []string{arn(who.Region, who.Account, "cluster", str(id))} }
	backup := func(id *string) []string { return []string{arn(who.Region, who.Account, "backup", str(id))} }
	tagged := func(id *string) []string {
		if strings.HasPrefix(str(id), "cluster-") {
			return cluster(id)
		}
		return backup(id)
	}
	given := func(a *string) []string { return []string{str(a)} }
	everything := []string{"*"}
	switch in := in.(type) {
	case *api.CopyBackupToRegionRequest:
		return actionPrefix + "CopyBackupToRegion", backup(in.BackupId)
	case *api.CreateClusterRequest:
		if in.SourceBackupId == nil {
			return actionPrefix + "CreateCluster", everything
		}
		if strings.HasPrefix(*in.SourceBackupId, "arn:") {
			return actionPrefix + "CreateCluster", given(in.SourceBackupId)
		}
		return actionPrefix + "CreateCluster", backup(in.SourceBackupId)
	case *api.CreateHsmRequest:
		return actionPrefix + "CreateHsm", cluster(in.ClusterId)
	case *api.DeleteBackupRequest:
		return actionPrefix + "DeleteBackup", backup(in.BackupId)
	case *api.DeleteClusterRequest:
		return actionPrefix + "DeleteCluster", cluster(in.ClusterId)
	case *api.DeleteHsmRequest:
		return actionPrefix + "DeleteHsm", cluster(in.ClusterId)
	case *api.DeleteResourcePolicyRequest:
		return actionPrefix + "DeleteResourcePolicy", given(in.ResourceArn)
	case *api.DescribeBackupsRequest:
		return actionPrefix + "DescribeBackups", everything
	case *api.DescribeClustersRequest:
		return actionPrefix + "DescribeClusters", everything
	case *api.GetResourcePolicyRequest:
		return actionPrefix + "GetResourcePolicy", given(in.ResourceArn)
	case *api.InitializeClusterRequest:
		return actionPrefix + "InitializeCluster", cluster(in.ClusterId)
	case *api.ListTagsRequest:
		return actionPrefix + "ListTags", tagged(in.ResourceId)
	case *api.ModifyBackupAttributesRequest:
		return actionPrefix + "ModifyBackupAttributes", backup(in.BackupId)
	case *api.ModifyClusterRequest:
		return actionPrefix + "ModifyCluster", cluster(in.ClusterId)
	case *api.PutResourcePolicyRequest:
		return actionPrefix + "PutResourcePolicy", given(in.ResourceArn)
	case *api.RestoreBackupRequest:
		return actionPrefix + "RestoreBackup", backup(in.BackupId)
	case *api.TagResourceRequest:
		return actionPrefix + "TagResource", tagged(in.ResourceId)
	case *api.UntagResourceRequest:
		return actionPrefix + "UntagResource", tagged(in.ResourceId)
	}
	return "", nil // not an operation's input: a programming error

}
