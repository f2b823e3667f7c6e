package service

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/cloudhsm-local/cloudhsm-local/internal/api"
	"github.com/cloudhsm-local/cloudhsm-local/internal/arn"
	"github.com/cloudhsm-local/cloudhsm-local/internal/identity"
	"github.com/cloudhsm-local/cloudhsm-local/internal/policy"
	"github.com/cloudhsm-local/cloudhsm-local/internal/store"
)

// The two actions a backup's resource policy may grant.
const (
	grantDescribeBackups = "cloudhsm:DescribeBackups"
	grantCreateCluster   = "cloudhsm:CreateCluster"
)

// grantedCreateCluster reports whether backup b's resource policy lets account create a cluster
// from it. It reads the grants recorded when the policy was put — the evaluator's decisions on
// the document, parsed once then (sharePolicy) — so sharing decides the same way in both modes
// and no document is parsed again.
func grantedCreateCluster(tx store.Tx, b store.Backup, account string) (bool, error) {
	p, err := tx.Policy(b.ID)
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("policy of %s: %w", b.ID, err)
	}
	for _, g := range p.Grants {
		if g.Account == account {
			return g.CreateCluster, nil
		}
	}
	return false, nil
}

// sharePolicy checks a backup sharing policy with package policy's sharing profile (IAM-style
// JSON whose statements Allow only cloudhsm:DescribeBackups and/or cloudhsm:CreateCluster to
// accounts, on this backup) and returns the grants the store indexes for each account it names:
// the evaluator's own decisions, so the index and the evaluator cannot disagree.
func sharePolicy(doc string, b store.Backup) ([]store.Grant, error) {
	backupArn := backupARN(b)
	p, err := policy.ParseSharing([]byte(doc), policy.Sharing{
		Resource: backupArn, Actions: []string{grantDescribeBackups, grantCreateCluster},
	})
	if err != nil {
		return nil, invalid("%s.", capitalized(err.Error()))
	}
	var grants []store.Grant
	for _, g := range p.Grants(backupArn, grantDescribeBackups, grantCreateCluster) {
		grants = append(grants, store.Grant{
			Account: g.Account, Describe: g.Allows(grantDescribeBackups), CreateCluster: g.Allows(grantCreateCluster),
		})
	}
	return grants, nil
}

// capitalized returns s with its first letter upper-case, to turn a package's error into a
// sentence of the client's message.
func capitalized(s string) string {
	if s == "" || s[0] < 'a' || s[0] > 'z' {
		return s
	}
	return string(s[0]-'a'+'A') + s[1:]
}

// policyTarget resolves a resource ARN to a backup of the caller: only backups carry
// policies, and only their owner may read or change them. The ARN must be canonical (arn.Parse).
func policyTarget(tx store.Tx, who identity.Caller, resourceArn *string) (store.Backup, error) {
	if resourceArn == nil {
		return store.Backup{}, &api.ValidationError{Violations: []string{"Value null at 'resourceArn' failed to satisfy constraint: Member must not be null"}}
	}
	a, err := parseARN(*resourceArn)
	if err != nil {
		return store.Backup{}, err
	}
	if a.Kind != arn.KindBackup {
		return store.Backup{}, invalid("Resource policies are only supported on backups, not on %s.", a)
	}
	if a.Account != who.Account {
		return store.Backup{}, api.Errorf(api.CodeAccessDenied, "Only the owner of %s can read or change its resource policy.", a)
	}
	if a.Region != who.Region {
		return store.Backup{}, notFound("Backup", a.String())
	}
	return ownedBackup(tx, who, a.ID)
}

// PutResourcePolicy shares a READY backup with other accounts.
func (s *Service) PutResourcePolicy(ctx context.Context, in *api.PutResourcePolicyRequest) (*api.PutResourcePolicyResponse, error) {
	return authorized(ctx, s, in, s.putResourcePolicy)
}

func (s *Service) putResourcePolicy(ctx context.Context, who identity.Caller, in *api.PutResourcePolicyRequest) (*api.PutResourcePolicyResponse, error) {
	if in.Policy == nil {
		return nil, &api.ValidationError{Violations: []string{"Value null at 'policy' failed to satisfy constraint: Member must not be null"}}
	}
	out := &api.PutResourcePolicyResponse{}
	err := s.update(ctx, tenant(who), func(tx store.Tx, now time.Time) error {
		b, err := policyTarget(tx, who, in.ResourceArn)
		if err != nil {
			return err
		}
		if b.State != api.BackupStateReady {
			return invalid("Backup %s is in state %s; only a backup in state READY can be shared.", b.ID, b.State)
		}
		grants, err := sharePolicy(*in.Policy, b)
		if err != nil {
			return err
		}
		if err := tx.PutPolicy(store.Policy{BackupID: b.ID, Document: *in.Policy, Grants: grants}); err != nil {
			return fmt.Errorf("put policy on %s: %w", b.ID, err)
		}
		out.ResourceArn, out.Policy = in.ResourceArn, in.Policy
		return nil
	})
	return out, err
}

// GetResourcePolicy returns a backup's resource policy; without one, the response has no Policy.
func (s *Service) GetResourcePolicy(ctx context.Context, in *api.GetResourcePolicyRequest) (*api.GetResourcePolicyResponse, error) {
	return authorized(ctx, s, in, s.getResourcePolicy)
}

func (s *Service) getResourcePolicy(ctx context.Context, who identity.Caller, in *api.GetResourcePolicyRequest) (*api.GetResourcePolicyResponse, error) {
	out := &api.GetResourcePolicyResponse{}
	err := s.read(ctx, tenant(who), func(tx store.Tx, now time.Time) error {
		b, err := policyTarget(tx, who, in.ResourceArn)
		if err != nil {
			return err
		}
		p, err := tx.Policy(b.ID)
		if errors.Is(err, store.ErrNotFound) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("policy of %s: %w", b.ID, err)
		}
		out.Policy = ptr(p.Document)
		return nil
	})
	return out, err
}

// DeleteResourcePolicy stops sharing a backup; clusters already made from it are unaffected.
func (s *Service) DeleteResourcePolicy(ctx context.Context, in *api.DeleteResourcePolicyRequest) (*api.DeleteResourcePolicyResponse, error) {
	return authorized(ctx, s, in, s.deleteResourcePolicy)
}

func (s *Service) deleteResourcePolicy(ctx context.Context, who identity.Caller, in *api.DeleteResourcePolicyRequest) (*api.DeleteResourcePolicyResponse, error) {
	out := &api.DeleteResourcePolicyResponse{}
	err := s.update(ctx, tenant(who), func(tx store.Tx, now time.Time) error {
		b, err := policyTarget(tx, who, in.ResourceArn)
		if err != nil {
			return err
		}
		p, err := tx.Policy(b.ID)
		if errors.Is(err, store.ErrNotFound) {
			return notFound("Resource policy of backup", b.ID)
		}
		if err != nil {
			return fmt.Errorf("policy of %s: %w", b.ID, err)
		}
		if err := tx.DeletePolicy(b.ID); err != nil {
			return fmt.Errorf("delete policy of %s: %w", b.ID, err)
		}
		out.ResourceArn, out.Policy = in.ResourceArn, ptr(p.Document)
		return nil
	})
	return out, err
}
