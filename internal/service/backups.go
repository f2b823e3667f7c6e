package service

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/cloudhsm-local/cloudhsm-local/internal/api"
	"github.com/cloudhsm-local/cloudhsm-local/internal/arn"
	"github.com/cloudhsm-local/cloudhsm-local/internal/identity"
	"github.com/cloudhsm-local/cloudhsm-local/internal/store"
)

// backupView renders one backup with its tags.
func backupView(tx store.Tx, b store.Backup) (*api.Backup, error) {
	tags, err := tx.Tags(b.ID)
	if err != nil {
		return nil, fmt.Errorf("tags of %s: %w", b.ID, err)
	}
	out := toAPIBackup(b, tags[b.ID])
	return &out, nil
}

// ownedBackupTagged is ownedBackup with the backup's Tags, read by the same statement, for the
// writes that answer with the backup they change: a state change leaves the tags as they are.
func ownedBackupTagged(tx store.Tx, who identity.Caller, id string) (store.Backup, error) {
	bs, err := tx.Backups(store.BackupQuery{Account: who.Account, Region: who.Region, IDs: []string{id}, Limit: 1, WithTags: true})
	if err != nil {
		return store.Backup{}, fmt.Errorf("load backup %s: %w", id, err)
	}
	if len(bs) == 0 {
		return store.Backup{}, notFound("Backup", id)
	}
	return bs[0], nil
}

// taggedView renders a backup loaded by ownedBackupTagged.
func taggedView(b store.Backup) *api.Backup {
	out := toAPIBackup(b, b.Tags)
	return &out
}

// DeleteBackup moves a READY backup to PENDING_DELETION; it can be restored until its
// DeleteTimestamp, seven days from now.
func (s *Service) DeleteBackup(ctx context.Context, in *api.DeleteBackupRequest) (*api.DeleteBackupResponse, error) {
	return authorized(ctx, s, in, s.deleteBackup)
}

func (s *Service) deleteBackup(ctx context.Context, who identity.Caller, in *api.DeleteBackupRequest) (*api.DeleteBackupResponse, error) {
	out := &api.DeleteBackupResponse{}
	err := s.update(ctx, tenant(who), func(tx store.Tx, now time.Time) error {
		b, err := ownedBackupTagged(tx, who, *in.BackupId)
		if err != nil {
			return err
		}
		if b.State != api.BackupStateReady {
			return invalid("Backup %s is in state %s; only a backup in state READY can be deleted.", b.ID, b.State)
		}
		if b, err = s.life.MarkPendingDeletion(tx, b, now); err != nil {
			return err
		}
		out.Backup = taggedView(b)
		return nil
	})
	return out, err
}

// RestoreBackup brings a PENDING_DELETION backup back to READY before its DeleteTimestamp.
func (s *Service) RestoreBackup(ctx context.Context, in *api.RestoreBackupRequest) (*api.RestoreBackupResponse, error) {
	return authorized(ctx, s, in, s.restoreBackup)
}

func (s *Service) restoreBackup(ctx context.Context, who identity.Caller, in *api.RestoreBackupRequest) (*api.RestoreBackupResponse, error) {
	out := &api.RestoreBackupResponse{}
	err := s.update(ctx, tenant(who), func(tx store.Tx, now time.Time) error {
		b, err := ownedBackupTagged(tx, who, *in.BackupId)
		if err != nil {
			return err
		}
		// Settle has already expired every backup whose DeleteTimestamp has passed, so a
		// PENDING_DELETION backup here is still within its window.
		if b.State != api.BackupStatePendingDeletion {
			return invalid("Backup %s is in state %s; only a backup in state PENDING_DELETION can be restored.", b.ID, b.State)
		}
		if b, err = s.life.RestoreBackup(tx, b); err != nil {
			return err
		}
		out.Backup = taggedView(b)
		return nil
	})
	return out, err
}

// ModifyBackupAttributes sets NeverExpires on a backup that is not DELETED.
func (s *Service) ModifyBackupAttributes(ctx context.Context, in *api.ModifyBackupAttributesRequest) (*api.ModifyBackupAttributesResponse, error) {
	return authorized(ctx, s, in, s.modifyBackupAttributes)
}

func (s *Service) modifyBackupAttributes(ctx context.Context, who identity.Caller, in *api.ModifyBackupAttributesRequest) (*api.ModifyBackupAttributesResponse, error) {
	out := &api.ModifyBackupAttributesResponse{}
	err := s.update(ctx, tenant(who), func(tx store.Tx, now time.Time) error {
		b, err := ownedBackupTagged(tx, who, *in.BackupId)
		if err != nil {
			return err
		}
		if b.State == api.BackupStateDeleted {
			return invalid("Backup %s is in state DELETED; its attributes can no longer be changed.", b.ID)
		}
		b.NeverExpires = *in.NeverExpires
		if b, err = tx.UpdateBackup(b); err != nil {
			return fmt.Errorf("modify backup %s: %w", b.ID, err)
		}
		out.Backup = taggedView(b)
		return nil
	})
	return out, err
}

// CopyBackupToRegion copies a READY backup into another region of the same account.
func (s *Service) CopyBackupToRegion(ctx context.Context, in *api.CopyBackupToRegionRequest) (*api.CopyBackupToRegionResponse, error) {
	return authorized(ctx, s, in, s.copyBackupToRegion)
}

func (s *Service) copyBackupToRegion(ctx context.Context, who identity.Caller, in *api.CopyBackupToRegionRequest) (*api.CopyBackupToRegionResponse, error) {
	if *in.DestinationRegion == who.Region {
		return nil, invalid("DestinationRegion %s is the backup's own region; choose another region.", who.Region)
	}
	if arn.Partition(*in.DestinationRegion) != arn.Partition(who.Region) {
		return nil, invalid("Backups cannot be copied between partitions (%s to %s).", who.Region, *in.DestinationRegion)
	}
	tags, err := checkTags(in.TagList)
	if err != nil {
		return nil, err
	}
	out := &api.CopyBackupToRegionResponse{}
	// The copy is a resource of the destination region: both tenants are in the scope.
	scope := store.Tenants(store.Tenant{Account: who.Account, Region: who.Region},
		store.Tenant{Account: who.Account, Region: *in.DestinationRegion})
	err = s.update(ctx, scope, func(tx store.Tx, now time.Time) error {
		src, err := ownedBackup(tx, who, *in.BackupId)
		if err != nil {
			return err
		}
		if src.State != api.BackupStateReady {
			return invalid("Backup %s is in state %s; only a backup in state READY can be copied.", src.ID, src.State)
		}
		cp, err := s.life.CopyBackup(tx, src, *in.DestinationRegion, now)
		if err != nil {
			return err
		}
		if in.TagList == nil {
			srcTags, err := tx.Tags(src.ID)
			if err != nil {
				return fmt.Errorf("tags of %s: %w", src.ID, err)
			}
			tags = srcTags[src.ID]
		}
		if len(tags) > 0 {
			if err := tx.PutTags(cp.ID, tags); err != nil {
				return fmt.Errorf("tag copy %s: %w", cp.ID, err)
			}
		}
		out.DestinationBackup = &api.DestinationBackup{
			CreateTimestamp: api.NewTimestamp(cp.CreatedAt),
			SourceRegion:    ptr(cp.SourceRegion),
			SourceBackup:    ptr(cp.SourceBackupID),
			SourceCluster:   optional(cp.SourceClusterID),
		}
		return nil
	})
	return out, err
}

// backupFilterKeys are the DescribeBackups filter keys, in the order errors list them.
var backupFilterKeys = []string{"backupIds", "sourceBackupIds", "clusterIds", "states", "neverExpires"}

// vpcIDPattern checks a vpcIds filter value. The model's VpcId pattern, ^vpc-[0-9a-fA-F]$,
// admits one hex digit only, which no real VPC ID has; this is the shape AWS's IDs have.
var vpcIDPattern = regexp.MustCompile(`^vpc-[0-9a-fA-F]+$`)

// checkFilterValues checks every value of filter key against a pattern or a value set.
func checkFilterValues(key string, values []string, ok func(string) bool, want string) error {
	if len(values) == 0 {
		return invalid("Filter %q needs at least one value.", api.Clip(key))
	}
	for _, v := range values {
		if !ok(v) {
			return invalid("Value %q of filter %q is not valid: expected %s.", api.Clip(v), api.Clip(key), want)
		}
	}
	return nil
}

func unknownFilter(key string, valid []string) error {
	return invalid("Filter key %q is not supported. Valid keys are: %s.", api.Clip(key), strings.Join(valid, ", "))
}

// backupQuery turns DescribeBackups filters into a store query.
func backupQuery(filters map[string][]string) (store.BackupQuery, error) {
	var q store.BackupQuery
	for _, key := range sortedKeys(filters) {
		values := filters[key]
		var err error
		switch key {
		case "backupIds":
			err = checkFilterValues(key, values, api.IsBackupId, "a backup ID")
			q.IDs = values
		case "sourceBackupIds":
			err = checkFilterValues(key, values, api.IsBackupId, "a backup ID")
			q.SourceBackupIDs = values
		case "clusterIds":
			err = checkFilterValues(key, values, api.IsClusterId, "a cluster ID")
			q.ClusterIDs = values
		case "states":
			err = checkFilterValues(key, values, isOneOf(api.BackupStateValues()), "one of "+strings.Join(api.BackupStateValues(), ", "))
			q.States = values
		case "neverExpires":
			err = checkFilterValues(key, values, isOneOf([]string{"true", "false"}), `"true" or "false"`)
			if err == nil && !(slices.Contains(values, "true") && slices.Contains(values, "false")) {
				q.NeverExpires = ptr(values[0] == "true")
			}
		default:
			err = unknownFilter(key, backupFilterKeys)
		}
		if err != nil {
			return q, err
		}
	}
	return q, nil
}

func isOneOf(values []string) func(string) bool {
	return func(v string) bool { return slices.Contains(values, v) }
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// filterScope renders filters canonically, to bind a NextToken to them.
func filterScope(filters map[string][]string) string {
	var b strings.Builder
	for _, k := range sortedKeys(filters) {
		b.WriteString(k + "=" + strings.Join(filters[k], ",") + ";")
	}
	return b.String()
}

// DescribeBackups lists the caller's backups in its region (or those shared with it), newest
// first unless SortAscending, filtered and paginated.
func (s *Service) DescribeBackups(ctx context.Context, in *api.DescribeBackupsRequest) (*api.DescribeBackupsResponse, error) {
	return authorized(ctx, s, in, s.describeBackups)
}

func (s *Service) describeBackups(ctx context.Context, who identity.Caller, in *api.DescribeBackupsRequest) (*api.DescribeBackupsResponse, error) {
	q, err := backupQuery(in.Filters)
	if err != nil {
		return nil, err
	}
	shared := in.Shared != nil && *in.Shared
	q.Account, q.Region = who.Account, who.Region
	if shared {
		q.SharedWith = who.Account
	}
	q.Ascending = in.SortAscending != nil && *in.SortAscending
	q.Limit = 50
	if in.MaxResults != nil {
		q.Limit = int(*in.MaxResults)
	}
	p, err := s.pager("DescribeBackups", who.Account, who.Region,
		filterScope(in.Filters), strconv.FormatBool(q.Ascending), strconv.FormatBool(shared))
	if err != nil {
		return nil, err
	}
	if q.After, err = p.cursor(in.NextToken); err != nil {
		return nil, err
	}
	limit := q.Limit
	q.Limit++ // one more tells whether another page follows
	q.WithTags = true
	var backups []store.Backup
	err = s.read(ctx, tenant(who), func(tx store.Tx, now time.Time) error {
		var err error
		if backups, err = tx.Backups(q); err != nil {
			return fmt.Errorf("list backups: %w", err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	// Rendered once the transaction is over, so that it holds its connection (the memory
	// store's only one) no longer than the reads take.
	out := &api.DescribeBackupsResponse{}
	if len(backups) > limit {
		backups = backups[:limit]
		last := backups[limit-1]
		out.NextToken = ptr(p.token(store.Cursor{CreatedAt: last.CreatedAt, ID: last.ID}))
	}
	out.Backups = make([]api.Backup, len(backups))
	for i, b := range backups {
		out.Backups[i] = toAPIBackup(b, b.Tags)
	}
	return out, nil
}
