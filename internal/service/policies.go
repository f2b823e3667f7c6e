package service

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/cloudhsm-local/cloudhsm-local/internal/api"
	"github.com/cloudhsm-local/cloudhsm-local/internal/identity"
	"github.com/cloudhsm-local/cloudhsm-local/internal/policy"
	"github.com/cloudhsm-local/cloudhsm-local/internal/store"
)

// The two actions a backup's resource policy may grant.
const (
	grantDescribeBackups = "cloudhsm:DescribeBackups"
	grantCreateCluster   = "cloudhsm:CreateCluster"
)

var (
	accountPattern      = regexp.MustCompile(`^[0-9]{12}$`)
	rootPrincipalPrefix = regexp.MustCompile(`^arn:aws:iam::([0-9]{12}):root$`)
)

// granted reports whether backup b's resource policy lets account perform action on it. The
// stored document is evaluated by package policy, the evaluator that also checks strict-mode
// identity policies, so sharing decides the same way in both modes. A stored document that the
// evaluator cannot read (none can be put today) grants nothing.
func granted(tx store.Tx, b store.Backup, account, action string) (bool, error) {
	p, err := tx.Policy(b.ID)
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("policy of %s: %w", b.ID, err)
	}
	doc, err := policy.Parse([]byte(p.Document), policy.Resource)
	if err != nil {
		return false, nil
	}
	return doc.Allows(shareRequest(b, account, action)), nil
}

// shareRequest is the question a backup's resource policy answers for a grantee.
func shareRequest(b store.Backup, account, action string) policy.Request {
	return policy.Request{Principal: account, Action: action, Resource: arn(b.Region, b.Account, "backup", b.ID)}
}

// stringOrList is an IAM policy value that may be one string or a list of strings.
type stringOrList []string

func (s *stringOrList) UnmarshalJSON(b []byte) error {
	var one string
	if err := json.Unmarshal(b, &one); err == nil {
		*s = []string{one}
		return nil
	}
	var many []string
	if err := json.Unmarshal(b, &many); err != nil {
		return errors.New("each of Principal.AWS, Action and Resource must be a string or a list of strings")
	}
	*s = many
	return nil
}

// policyStatement is one statement of a backup policy. Condition and the Not* elements are
// decoded only to be refused: ignoring them would share more than the owner wrote.
type policyStatement struct {
	Sid       string
	Effect    string
	Principal struct{ AWS stringOrList }
	Action    stringOrList
	Resource  stringOrList

	Condition, NotPrincipal, NotAction, NotResource json.RawMessage
}

// statementList is a policy's Statement element: one statement object or a list of them, as
// IAM allows.
type statementList []policyStatement

func (s *statementList) UnmarshalJSON(b []byte) error {
	if b = bytes.TrimSpace(b); len(b) > 0 && b[0] == '{' {
		var one policyStatement
		if err := json.Unmarshal(b, &one); err != nil {
			return err
		}
		*s = statementList{one}
		return nil
	}
	var many []policyStatement
	if err := json.Unmarshal(b, &many); err != nil {
		return err
	}
	*s = many
	return nil
}

// policyDocumentError explains why a policy is not a valid document, without Go type names.
func policyDocumentError(err error) error {
	var typ *json.UnmarshalTypeError
	if errors.As(err, &typ) {
		where := "The document"
		if typ.Field != "" {
			where = typ.Field
		}
		return invalid("Policy is not a valid policy document: %s cannot be a JSON %s.", where, typ.Value)
	}
	return invalid("Policy is not a valid policy document: %v.", err)
}

// parsePolicy checks a backup sharing policy and returns its grants: IAM-style JSON whose
// statements Allow only cloudhsm:DescribeBackups and/or cloudhsm:CreateCluster to principals
// given as account IDs or arn:aws:iam::<account>:root, on this backup. Anything it does not
// understand (Condition, NotPrincipal, NotAction, NotResource) is refused.
//
// The grants (what the store indexes for DescribeBackups with Shared) are not worked out here:
// each named account's are the decisions of package policy's evaluator on the document, the same
// evaluation granted makes later, so the index and the evaluator cannot disagree.
func parsePolicy(doc string, b store.Backup) ([]store.Grant, error) {
	backupArn := arn(b.Region, b.Account, "backup", b.ID)
	var p struct {
		Version   string
		Statement statementList
	}
	if err := json.Unmarshal([]byte(doc), &p); err != nil {
		return nil, policyDocumentError(err)
	}
	if len(p.Statement) == 0 {
		return nil, invalid("Policy has no Statement.")
	}
	seen := map[string]bool{}
	var order []string
	for i, st := range p.Statement {
		n := i + 1
		if st.Effect != "Allow" {
			return nil, invalid("Statement %d: Effect must be \"Allow\"; backup policies can only share.", n)
		}
		if st.Condition != nil || st.NotPrincipal != nil || st.NotAction != nil || st.NotResource != nil {
			return nil, invalid("Statement %d: Condition, NotPrincipal, NotAction and NotResource are not supported in backup policies.", n)
		}
		if len(st.Action) == 0 {
			return nil, invalid("Statement %d has no Action.", n)
		}
		for _, a := range st.Action {
			if a != grantDescribeBackups && a != grantCreateCluster {
				return nil, invalid("Statement %d: action %q cannot be shared; allowed actions are %s and %s.", n, a, grantDescribeBackups, grantCreateCluster)
			}
		}
		for _, r := range st.Resource {
			if r != backupArn && r != "*" {
				return nil, invalid("Statement %d: resource %q is not this backup (%s).", n, r, backupArn)
			}
		}
		if len(st.Principal.AWS) == 0 {
			return nil, invalid("Statement %d needs Principal {\"AWS\": [...]} with account IDs.", n)
		}
		for _, pr := range st.Principal.AWS {
			account := pr
			if m := rootPrincipalPrefix.FindStringSubmatch(pr); m != nil {
				account = m[1]
			}
			if !accountPattern.MatchString(account) {
				return nil, invalid("Statement %d: principal %q must be a 12-digit account ID or arn:aws:iam::<account>:root.", n, pr)
			}
			if !seen[account] {
				seen[account] = true
				order = append(order, account)
			}
		}
	}
	evaluator, err := policy.Parse([]byte(doc), policy.Resource)
	if err != nil { // what the checks above accept, the evaluator reads, but for an empty Resource list
		return nil, invalid("Policy is not a valid policy document: %v.", err)
	}
	grants := make([]store.Grant, len(order))
	for i, account := range order {
		grants[i] = store.Grant{
			Account:       account,
			Describe:      evaluator.Allows(shareRequest(b, account, grantDescribeBackups)),
			CreateCluster: evaluator.Allows(shareRequest(b, account, grantCreateCluster)),
		}
	}
	return grants, nil
}

// policyTarget resolves a resource ARN to a backup of the caller: only backups carry
// policies, and only their owner may read or change them.
func policyTarget(tx store.Tx, who identity.Caller, resourceArn *string) (store.Backup, error) {
	if resourceArn == nil {
		return store.Backup{}, &api.ValidationError{Violations: []string{"Value null at 'resourceArn' failed to satisfy constraint: Member must not be null"}}
	}
	parts := strings.Split(*resourceArn, ":") // validated by the model's pattern: 6 parts
	region, account, resource := parts[3], parts[4], parts[5]
	id, ok := strings.CutPrefix(resource, "backup/")
	if !ok {
		return store.Backup{}, invalid("Resource policies are only supported on backups, not on %s.", *resourceArn)
	}
	if account != who.Account {
		return store.Backup{}, api.Errorf(api.CodeAccessDenied, "Only the owner of %s can read or change its resource policy.", *resourceArn)
	}
	if region != who.Region {
		return store.Backup{}, notFound("Backup", *resourceArn)
	}
	return ownedBackup(tx, who, id)
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
	err := s.update(ctx, func(tx store.Tx, now time.Time) error {
		b, err := policyTarget(tx, who, in.ResourceArn)
		if err != nil {
			return err
		}
		if b.State != api.BackupStateReady {
			return invalid("Backup %s is in state %s; only a backup in state READY can be shared.", b.ID, b.State)
		}
		grants, err := parsePolicy(*in.Policy, b)
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
	err := s.read(ctx, func(tx store.Tx, now time.Time) error {
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
	err := s.update(ctx, func(tx store.Tx, now time.Time) error {
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
