package service

import (
	"fmt"
	"strings"

	"github.com/cloudhsm-local/cloudhsm-local/internal/api"
	"github.com/cloudhsm-local/cloudhsm-local/internal/arn"
	"github.com/cloudhsm-local/cloudhsm-local/internal/identity"
	"github.com/cloudhsm-local/cloudhsm-local/internal/policy"
)

// Authorizer is the identity-based permission check of strict mode (docs/BEHAVIOUR.md §1). Each
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

// authorize resolves the resources request in (an operation's input) addresses to their
// canonical ARNs and asks the configured Authorizer whether who may act on them. An ARN that is
// not canonical is refused in both modes (CloudHsmInvalidRequestException, before anything else
// is looked at), so a policy can never be side-stepped by spelling a resource differently; in
// permissive mode nothing else is checked. An input it has no mapping for is an internal
// failure, never an allowance.
func (s *Service) authorize(who identity.Caller, in any) error {
	action, resources, err := permission(who, in)
	if err != nil {
		return err
	}
	if action == "" {
		return api.InternalFailure(fmt.Errorf("service: no permission mapping for %T", in))
	}
	if s.cfg.Authorizer == nil {
		return nil
	}
	return s.cfg.Authorizer.Authorize(who, action, resources...)
}

// actionPrefix starts every CloudHSM v2 IAM action.
const actionPrefix = "cloudhsm:"

// permission maps a request to its IAM action ("cloudhsm:<Operation>") and the canonical ARNs of
// the resources it is authorized on, following AWS's Service Authorization Reference for
// CloudHSM:
//   - an operation on one cluster (CreateHsm, DeleteHsm, InitializeCluster, ModifyCluster,
//     DeleteCluster) or one backup (DeleteBackup, RestoreBackup, ModifyBackupAttributes,
//     CopyBackupToRegion): that resource's ARN in the caller's account and region, whether or
//     not it exists, so a denial never reveals existence;
//   - TagResource, UntagResource, ListTags: the ARN of the cluster or backup named by ResourceId;
//   - Put/Get/DeleteResourcePolicy: the resource ResourceArn addresses;
//   - CreateCluster from a backup: the backup SourceBackupId addresses (the ARN's resource, or the
//     caller's own backup for a plain ID); CreateCluster from nothing, DescribeClusters,
//     DescribeBackups: "*".
//
// Every ARN a client gives is parsed by arn.Parse and authorized as the canonical ARN of what it
// addresses; the error of one that is not canonical is a CloudHsmInvalidRequestException naming
// it. Inputs have passed the model's validation, so required members are set.
func permission(who identity.Caller, in any) (action string, resources []string, err error) {
	own := func(kind string, id *string) []string {
		return []string{arn.New(who.Region, who.Account, kind, str(id)).String()}
	}
	tagged := func(id *string) []string {
		if strings.HasPrefix(str(id), arn.KindCluster+"-") {
			return own(arn.KindCluster, id)
		}
		return own(arn.KindBackup, id)
	}
	given := func(a *string) ([]string, error) {
		r, err := parseARN(str(a))
		return []string{r.String()}, err
	}
	everything := []string{"*"}
	switch in := in.(type) {
	case *api.CopyBackupToRegionRequest:
		return actionPrefix + "CopyBackupToRegion", own(arn.KindBackup, in.BackupId), nil
	case *api.CreateClusterRequest:
		switch {
		case in.SourceBackupId == nil:
			return actionPrefix + "CreateCluster", everything, nil
		case strings.HasPrefix(*in.SourceBackupId, "arn:"):
			r, err := given(in.SourceBackupId)
			return actionPrefix + "CreateCluster", r, err
		}
		return actionPrefix + "CreateCluster", own(arn.KindBackup, in.SourceBackupId), nil
	case *api.CreateHsmRequest:
		return actionPrefix + "CreateHsm", own(arn.KindCluster, in.ClusterId), nil
	case *api.DeleteBackupRequest:
		return actionPrefix + "DeleteBackup", own(arn.KindBackup, in.BackupId), nil
	case *api.DeleteClusterRequest:
		return actionPrefix + "DeleteCluster", own(arn.KindCluster, in.ClusterId), nil
	case *api.DeleteHsmRequest:
		return actionPrefix + "DeleteHsm", own(arn.KindCluster, in.ClusterId), nil
	case *api.DeleteResourcePolicyRequest:
		r, err := given(in.ResourceArn)
		return actionPrefix + "DeleteResourcePolicy", r, err
	case *api.DescribeBackupsRequest:
		return actionPrefix + "DescribeBackups", everything, nil
	case *api.DescribeClustersRequest:
		return actionPrefix + "DescribeClusters", everything, nil
	case *api.GetResourcePolicyRequest:
		r, err := given(in.ResourceArn)
		return actionPrefix + "GetResourcePolicy", r, err
	case *api.InitializeClusterRequest:
		return actionPrefix + "InitializeCluster", own(arn.KindCluster, in.ClusterId), nil
	case *api.ListTagsRequest:
		return actionPrefix + "ListTags", tagged(in.ResourceId), nil
	case *api.ModifyBackupAttributesRequest:
		return actionPrefix + "ModifyBackupAttributes", own(arn.KindBackup, in.BackupId), nil
	case *api.ModifyClusterRequest:
		return actionPrefix + "ModifyCluster", own(arn.KindCluster, in.ClusterId), nil
	case *api.PutResourcePolicyRequest:
		r, err := given(in.ResourceArn)
		return actionPrefix + "PutResourcePolicy", r, err
	case *api.RestoreBackupRequest:
		return actionPrefix + "RestoreBackup", own(arn.KindBackup, in.BackupId), nil
	case *api.TagResourceRequest:
		return actionPrefix + "TagResource", tagged(in.ResourceId), nil
	case *api.UntagResourceRequest:
		return actionPrefix + "UntagResource", tagged(in.ResourceId), nil
	}
	return "", nil, nil // not an operation's input: a programming error
}

// parseARN is arn.Parse with its error as the client sees it.
func parseARN(s string) (arn.ARN, error) {
	a, err := arn.Parse(s)
	if err != nil {
		return arn.ARN{}, invalid("%v.", err)
	}
	return a, nil
}
