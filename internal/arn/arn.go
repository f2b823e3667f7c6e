// Package arn names CloudHSM v2 resources: it builds the one canonical ARN of a cluster, HSM or
// backup, and parses an ARN a client sent into the resource it addresses.
//
// Authorization (strict-mode identity policies and backup sharing) is decided on the canonical
// ARN of the resource addressed, never on the client's spelling (docs/DECISIONS.md, "Strict
// mode"). Parse therefore accepts exactly one spelling per resource: an ARN whose partition is
// not its region's, or that differs from the canonical form in any other way, is refused, so
// that no two strings can name the same resource.
//
// This package must never know the store, the operations or the wire: it is string rules only.
package arn

import (
	"fmt"
	"strings"

	"github.com/cloudhsm-local/cloudhsm-local/internal/api"
)

// The resource kinds that have ARNs.
const (
	KindBackup  = "backup"
	KindCluster = "cluster"
	KindHsm     = "hsm"
)

// Service is the service part of every CloudHSM v2 ARN.
const Service = "cloudhsm"

// ARN is a parsed CloudHSM v2 resource ARN:
// arn:<partition>:cloudhsm:<region>:<account>:<kind>/<id>.
type ARN struct {
	Partition string // "aws", or "aws-us-gov" for GovCloud regions
	Region    string // e.g. "us-east-1"
	Account   string // 12 digits
	Kind      string // KindBackup, KindCluster or KindHsm
	ID        string // e.g. "backup-abcdefghijk"; it starts with Kind + "-"
}

// Partition returns the partition of a region: "aws-us-gov" for GovCloud regions (us-gov-*), else
// "aws". These are the two partitions the model's ARN pattern admits.
func Partition(region string) string {
	if strings.HasPrefix(region, "us-gov-") {
		return "aws-us-gov"
	}
	return "aws"
}

// New returns the canonical ARN of resource id of the given kind in an account and region.
func New(region, account, kind, id string) ARN {
	return ARN{Partition: Partition(region), Region: region, Account: account, Kind: kind, ID: id}
}

// String renders the ARN.
func (a ARN) String() string {
	return "arn:" + a.Partition + ":" + Service + ":" + a.Region + ":" + a.Account + ":" + a.Kind + "/" + a.ID
}

// Parse reads a CloudHSM v2 resource ARN and returns the resource it addresses. It accepts only
// the canonical spelling: "arn", the region's own partition, "cloudhsm", a lowercase region, a
// 12-digit account, a known kind and an ID of that kind, separated exactly as String writes
// them, with nothing before or after. The error says what differs; callers answer it with
// CloudHsmInvalidRequestException.
func Parse(s string) (ARN, error) {
	parts := strings.SplitN(s, ":", 6)
	if len(parts) != 6 || parts[0] != "arn" || parts[2] != Service {
		return ARN{}, fmt.Errorf("%s is not a CloudHSM ARN: expected arn:<partition>:cloudhsm:<region>:<account>:<type>/<id>", api.Clip(s))
	}
	kind, id, ok := strings.Cut(parts[5], "/")
	a := ARN{Partition: parts[1], Region: parts[3], Account: parts[4], Kind: kind, ID: id}
	switch {
	case !api.IsRegion(a.Region):
		return ARN{}, fmt.Errorf("ARN %s names no valid region", api.Clip(s))
	case a.Partition != Partition(a.Region):
		return ARN{}, fmt.Errorf("ARN %s has partition %s, but region %s is in partition %s", api.Clip(s), api.Clip(a.Partition), a.Region, Partition(a.Region))
	case !api.IsAccountID(a.Account):
		return ARN{}, fmt.Errorf("ARN %s names no valid account: an account ID is 12 digits", api.Clip(s))
	case !ok || (kind != KindBackup && kind != KindCluster && kind != KindHsm):
		return ARN{}, fmt.Errorf("ARN %s names no CloudHSM resource: expected backup/, cluster/ or hsm/ after the account", api.Clip(s))
	case !isID(kind, id):
		return ARN{}, fmt.Errorf("ARN %s has no valid %s ID: expected %s- and 11 to 16 characters from a-z, A-Z and 2-7", api.Clip(s), kind, kind)
	}
	return a, nil
}

// isID reports whether id is an ID of the kind, by the model's pattern of that kind's IDs.
func isID(kind, id string) bool {
	switch kind {
	case KindBackup:
		return api.IsBackupId(id)
	case KindCluster:
		return api.IsClusterId(id)
	}
	return api.IsHsmId(id)
}
