package service

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/cloudhsm-local/cloudhsm-local/internal/api"
	"github.com/cloudhsm-local/cloudhsm-local/internal/arn"
	"github.com/cloudhsm-local/cloudhsm-local/internal/certs"
	"github.com/cloudhsm-local/cloudhsm-local/internal/identity"
	"github.com/cloudhsm-local/cloudhsm-local/internal/store"
	"github.com/cloudhsm-local/cloudhsm-local/internal/topology"
)

// Supported HSM types, and the one migration between them that AWS offers.
const (
	hsmTypeHsm1  = "hsm1.medium"
	hsmTypeHsm2m = "hsm2m.medium"
)

var supportedHsmTypes = []string{hsmTypeHsm1, hsmTypeHsm2m}

// Retention bounds and default, in days.
const (
	minRetentionDays     = 7
	maxRetentionDays     = 379
	defaultRetentionDays = 90
)

func checkHsmType(t string) error {
	if !slices.Contains(supportedHsmTypes, t) {
		return invalid("HsmType %q is not supported. Supported types: %s.", t, strings.Join(supportedHsmTypes, ", "))
	}
	return nil
}

// retentionDays checks a BackupRetentionPolicy and returns its days.
func retentionDays(p *api.BackupRetentionPolicy) (int, error) {
	if p.Type != nil && *p.Type != api.BackupRetentionTypeDays {
		return 0, invalid("BackupRetentionPolicy.Type must be DAYS.")
	}
	if p.Value == nil {
		return 0, invalid("BackupRetentionPolicy.Value is required: a number of days from %d to %d, as a string.", minRetentionDays, maxRetentionDays)
	}
	days, err := strconv.Atoi(*p.Value)
	if err != nil || days < minRetentionDays || days > maxRetentionDays {
		return 0, invalid("BackupRetentionPolicy.Value %q is out of range: backups can be kept from %d to %d days.", *p.Value, minRetentionDays, maxRetentionDays)
	}
	return days, nil
}

// clusterView renders one cluster with its HSMs and tags.
func clusterView(tx store.Tx, c store.Cluster) (*api.Cluster, error) {
	hsms, err := tx.HSMs(c.ID)
	if err != nil {
		return nil, fmt.Errorf("HSMs of %s: %w", c.ID, err)
	}
	tags, err := tx.Tags(c.ID)
	if err != nil {
		return nil, fmt.Errorf("tags of %s: %w", c.ID, err)
	}
	out := toAPICluster(c, hsms, tags[c.ID])
	return &out, nil
}

// placeSubnets maps each subnet to its zone, requiring distinct subnets in distinct zones of
// one VPC. Subnets seen for the first time are recorded so they keep their zone for good.
func (s *Service) placeSubnets(tx store.Tx, who identity.Caller, subnetIDs []string) (vpc string, mapping map[string]string, err error) {
	mapping = map[string]string{}
	for _, id := range subnetIDs {
		sub, err := s.subnet(tx, who, id)
		if err != nil {
			return "", nil, err
		}
		if other, taken := mapping[sub.AvailabilityZone]; taken {
			if other == id {
				return "", nil, invalid("SubnetIds lists %s twice; each subnet may appear once.", id)
			}
			return "", nil, invalid("Subnets %s and %s are both in %s; a cluster needs at most one subnet per availability zone.", other, id, sub.AvailabilityZone)
		}
		if vpc != "" && sub.VpcID != vpc {
			return "", nil, invalid("Subnet %s is in %s but the other subnets are in %s; all subnets must be in one VPC.", id, sub.VpcID, vpc)
		}
		vpc = sub.VpcID
		mapping[sub.AvailabilityZone] = id
	}
	return vpc, mapping, nil
}

// subnet places one subnet: from the topology file if there is one, else as first recorded.
func (s *Service) subnet(tx store.Tx, who identity.Caller, id string) (topology.Subnet, error) {
	if s.cfg.Topology.HasFile() {
		sub, ok := s.cfg.Topology.Lookup(id)
		if !ok {
			return sub, invalid("Subnet %s does not exist in the topology file.", id)
		}
		if sub.Region() != who.Region {
			return sub, invalid("Subnet %s is in %s, not in %s.", id, sub.Region(), who.Region)
		}
		return sub, nil
	}
	known, err := tx.Subnet(who.Account, who.Region, id)
	if err == nil {
		return topology.Subnet{VpcID: known.VpcID, AvailabilityZone: known.AvailabilityZone}, nil
	}
	if !errors.Is(err, store.ErrNotFound) {
		return topology.Subnet{}, fmt.Errorf("load subnet %s: %w", id, err)
	}
	n, err := tx.CountSubnets(who.Account, who.Region)
	if err != nil {
		return topology.Subnet{}, fmt.Errorf("count subnets: %w", err)
	}
	sub := topology.Default(who.Account, who.Region, n)
	rec := store.Subnet{Account: who.Account, Region: who.Region, ID: id, VpcID: sub.VpcID, AvailabilityZone: sub.AvailabilityZone}
	if err := tx.InsertSubnet(rec); err != nil {
		return topology.Subnet{}, fmt.Errorf("record subnet %s: %w", id, err)
	}
	return sub, nil
}

// sourceBackup resolves CreateCluster's SourceBackupId (an ID, or the canonical ARN of a backup
// owned by or shared with the caller) to a READY backup. Another account's ARN that is not
// shared with the caller for cloudhsm:CreateCluster is refused the same way whether or not the
// backup exists, so existence never leaks.
func sourceBackup(tx store.Tx, who identity.Caller, ref string) (store.Backup, error) {
	id := ref
	if strings.HasPrefix(ref, "arn:") {
		a, err := parseARN(ref)
		if err != nil {
			return store.Backup{}, err
		}
		if a.Kind != arn.KindBackup {
			return store.Backup{}, invalid("SourceBackupId %s is not the ARN of a backup.", ref)
		}
		if a.Region != who.Region { // decided by the ARN alone: nothing leaks
			return store.Backup{}, notFound("Backup", ref)
		}
		if a.Account != who.Account {
			return sharedBackup(tx, who, a)
		}
		id = a.ID
	}
	b, err := ownedBackup(tx, who, id)
	if err != nil {
		return b, err
	}
	return b, checkSourceReady(b)
}

// sharedBackup loads another account's backup, addressed by its canonical ARN, that its policy
// lets the caller build a cluster from.
func sharedBackup(tx store.Tx, who identity.Caller, ref arn.ARN) (store.Backup, error) {
	denied := api.Errorf(api.CodeAccessDenied, "Account %s is not allowed to create a cluster from backup %s: its owner has not shared it with cloudhsm:CreateCluster.", who.Account, ref)
	b, err := tx.Backup(ref.ID)
	if errors.Is(err, store.ErrNotFound) {
		return store.Backup{}, denied
	}
	if err != nil {
		return store.Backup{}, fmt.Errorf("load backup %s: %w", ref.ID, err)
	}
	if b.Account != ref.Account || b.Region != ref.Region {
		return store.Backup{}, denied
	}
	ok, err := grantedCreateCluster(tx, b, who.Account)
	if err != nil {
		return store.Backup{}, err
	}
	if !ok {
		return store.Backup{}, denied
	}
	return b, checkSourceReady(b)
}

func checkSourceReady(b store.Backup) error {
	if b.State != api.BackupStateReady {
		return invalid("Backup %s is in state %s; a cluster can only be created from a backup in state READY.", b.ID, b.State)
	}
	return nil
}

// CreateCluster creates a cluster, empty or from a backup.
func (s *Service) CreateCluster(ctx context.Context, in *api.CreateClusterRequest) (*api.CreateClusterResponse, error) {
	return authorized(ctx, s, in, s.createCluster)
}

func (s *Service) createCluster(ctx context.Context, who identity.Caller, in *api.CreateClusterRequest) (*api.CreateClusterResponse, error) {
	if err := checkHsmType(*in.HsmType); err != nil {
		return nil, err
	}
	c := store.Cluster{
		Account: who.Account, Region: who.Region, HsmType: *in.HsmType,
		Mode: api.ClusterModeFips, NetworkType: api.NetworkTypeIpv4, RetentionDays: defaultRetentionDays,
	}
	if in.Mode != nil {
		c.Mode = *in.Mode
	}
	if in.NetworkType != nil {
		c.NetworkType = *in.NetworkType
	}
	if c.NetworkType == api.NetworkTypeDualstack && c.HsmType != hsmTypeHsm2m {
		return nil, invalid("NetworkType DUALSTACK is only available for clusters of HsmType %s.", hsmTypeHsm2m)
	}
	if in.BackupRetentionPolicy != nil {
		days, err := retentionDays(in.BackupRetentionPolicy)
		if err != nil {
			return nil, err
		}
		c.RetentionDays = days
	}
	tags, err := checkTags(in.TagList)
	if err != nil {
		return nil, err
	}
	out := &api.CreateClusterResponse{}
	err = s.update(ctx, createClusterScope(who, in.SourceBackupId), func(tx store.Tx, now time.Time) error {
		n, err := tx.CountClusters(who.Account, who.Region, s.cfg.MaxClusters)
		if err != nil {
			return fmt.Errorf("count clusters: %w", err)
		}
		if n >= s.cfg.MaxClusters {
			return api.Errorf(api.CodeService, "Account %s already has %d clusters in %s, the most allowed; delete one first.", who.Account, n, who.Region)
		}
		cl := c
		if cl.VpcID, cl.SubnetMapping, err = s.placeSubnets(tx, who, in.SubnetIds); err != nil {
			return err
		}
		if in.SourceBackupId != nil {
			src, err := sourceBackup(tx, who, *in.SourceBackupId)
			if err != nil {
				return err
			}
			if in.Mode != nil && *in.Mode != src.Mode {
				return invalid("Mode %s differs from the source backup's mode %s; omit Mode or use %s.", *in.Mode, src.Mode, src.Mode)
			}
			cl.SourceBackupID, cl.Mode = src.ID, src.Mode
			if cl.Certificates, err = sourceCertificates(tx, src); err != nil {
				return err
			}
		}
		if cl.ID, err = s.life.IDs().NewResourceID(tx, "cluster"); err != nil {
			return err
		}
		if cl.SecurityGroup, err = s.life.IDs().Hex("sg-", 17); err != nil {
			return err
		}
		if cl, err = s.life.CreateCluster(tx, cl, now); err != nil {
			return err
		}
		if len(tags) > 0 {
			if err := tx.PutTags(cl.ID, tags); err != nil {
				return fmt.Errorf("tag cluster %s: %w", cl.ID, err)
			}
		}
		// A new cluster has no HSMs yet and exactly these tags, in the store's order (by key):
		// no need to read them back.
		slices.SortFunc(tags, func(a, b store.Tag) int { return strings.Compare(a.Key, b.Key) })
		view := toAPICluster(cl, nil, tags)
		out.Cluster = &view
		return nil
	})
	return out, err
}

// createClusterScope is the scope of a CreateCluster: the caller's tenant and, when the source
// backup is named by the ARN of another account's backup in the caller's region, that
// account's tenant too, whose due steps (the backup's expiry, say) must be settled before the
// backup's state is read. Any other ARN is refused without reading another tenant.
func createClusterScope(who identity.Caller, source *string) store.Scope {
	own := store.Tenant{Account: who.Account, Region: who.Region}
	if source == nil || !strings.HasPrefix(*source, "arn:") {
		return store.Tenants(own)
	}
	a, err := arn.Parse(*source)
	if err != nil || a.Region != who.Region || a.Account == who.Account {
		return store.Tenants(own)
	}
	return store.Tenants(own, store.Tenant{Account: a.Account, Region: a.Region})
}

// sourceCertificates returns the identity (certificates and key) that the cluster a backup was
// taken from had when it became ACTIVE, which the store keeps even after that cluster is purged,
// so the new cluster is the same HSM identity. None is recorded only for clusters never ACTIVE.
func sourceCertificates(tx store.Tx, b store.Backup) (store.Certificates, error) {
	id := b.ClusterID
	if id == "" {
		id = b.SourceClusterID
	}
	certs, err := tx.ClusterIdentity(id)
	if errors.Is(err, store.ErrNotFound) {
		return store.Certificates{}, nil
	}
	if err != nil {
		return store.Certificates{}, fmt.Errorf("identity of cluster %s of backup %s: %w", id, b.ID, err)
	}
	certs.ClusterCsr = ""
	return certs, nil
}

// clusterFilterKeys are the DescribeClusters filter keys.
var clusterFilterKeys = []string{"clusterIds", "vpcIds", "states"}

// clusterQuery turns DescribeClusters filters into a store query.
func clusterQuery(filters map[string][]string) (store.ClusterQuery, error) {
	var q store.ClusterQuery
	for _, key := range sortedKeys(filters) {
		values := filters[key]
		var err error
		switch key {
		case "clusterIds":
			err = checkFilterValues(key, values, api.IsClusterId, "a cluster ID")
			q.IDs = values
		case "vpcIds":
			err = checkFilterValues(key, values, vpcIDPattern.MatchString, "a VPC ID")
			q.VpcIDs = values
		case "states":
			err = checkFilterValues(key, values, isOneOf(api.ClusterStateValues()), "one of "+strings.Join(api.ClusterStateValues(), ", "))
			q.States = values
		default:
			err = unknownFilter(key, clusterFilterKeys)
		}
		if err != nil {
			return q, err
		}
	}
	return q, nil
}

// DescribeClusters lists the caller's clusters in its region, oldest first, filtered and paginated.
func (s *Service) DescribeClusters(ctx context.Context, in *api.DescribeClustersRequest) (*api.DescribeClustersResponse, error) {
	return authorized(ctx, s, in, s.describeClusters)
}

func (s *Service) describeClusters(ctx context.Context, who identity.Caller, in *api.DescribeClustersRequest) (*api.DescribeClustersResponse, error) {
	q, err := clusterQuery(in.Filters)
	if err != nil {
		return nil, err
	}
	q.Account, q.Region, q.Limit = who.Account, who.Region, 25
	if in.MaxResults != nil {
		q.Limit = int(*in.MaxResults)
	}
	out := &api.DescribeClustersResponse{Clusters: []api.Cluster{}}
	p, err := s.pager("DescribeClusters", who.Account, who.Region, filterScope(in.Filters))
	if err != nil {
		return nil, err
	}
	err = s.read(ctx, tenant(who), func(tx store.Tx, now time.Time) error {
		var err error
		if q.After, err = p.cursor(in.NextToken); err != nil {
			return err
		}
		limit := q.Limit
		q.Limit++
		clusters, err := tx.Clusters(q)
		if err != nil {
			return fmt.Errorf("list clusters: %w", err)
		}
		if len(clusters) > limit {
			clusters = clusters[:limit]
			last := clusters[limit-1]
			out.NextToken = ptr(p.token(store.Cursor{CreatedAt: last.CreatedAt, ID: last.ID}))
		}
		ids := make([]string, len(clusters))
		for i, c := range clusters {
			ids[i] = c.ID
		}
		hsms, err := tx.HSMs(ids...)
		if err != nil {
			return fmt.Errorf("HSMs of clusters: %w", err)
		}
		byCluster := map[string][]store.HSM{}
		for _, h := range hsms {
			byCluster[h.ClusterID] = append(byCluster[h.ClusterID], h)
		}
		tags, err := tx.Tags(ids...)
		if err != nil {
			return fmt.Errorf("tags of clusters: %w", err)
		}
		for _, c := range clusters {
			out.Clusters = append(out.Clusters, toAPICluster(c, byCluster[c.ID], tags[c.ID]))
		}
		return nil
	})
	return out, err
}

// InitializeCluster claims an UNINITIALIZED cluster with the certificate the customer's CA
// issued for its CSR.
func (s *Service) InitializeCluster(ctx context.Context, in *api.InitializeClusterRequest) (*api.InitializeClusterResponse, error) {
	return authorized(ctx, s, in, s.initializeCluster)
}

func (s *Service) initializeCluster(ctx context.Context, who identity.Caller, in *api.InitializeClusterRequest) (*api.InitializeClusterResponse, error) {
	out := &api.InitializeClusterResponse{}
	err := s.update(ctx, tenant(who), func(tx store.Tx, now time.Time) error {
		c, err := ownedCluster(tx, who, *in.ClusterId)
		if err != nil {
			return err
		}
		if c.State != api.ClusterStateUninitialized {
			return invalid("Cluster %s is in state %s; only an UNINITIALIZED cluster can be initialized.", c.ID, c.State)
		}
		// The CSR outlives a deleted HSM, so it alone does not show that an HSM is ACTIVE.
		hsms, err := tx.HSMs(c.ID)
		if err != nil {
			return fmt.Errorf("HSMs of %s: %w", c.ID, err)
		}
		if !slices.ContainsFunc(hsms, func(h store.HSM) bool { return h.State == api.HsmStateActive }) {
			return invalid("Cluster %s has no ACTIVE HSM: create an HSM and wait until it is ACTIVE, then sign Certificates.ClusterCsr.", c.ID)
		}
		if c.Certificates.ClusterCsr == "" {
			return invalid("Cluster %s has no CSR yet: create an HSM and wait until it is ACTIVE, then sign Certificates.ClusterCsr.", c.ID)
		}
		if err := certs.VerifySignedCertificate(c.Certificates.ClusterCsr, *in.SignedCert, *in.TrustAnchor, now); err != nil {
			return invalid("%s", err)
		}
		if c, err = s.life.InitializeCluster(tx, c, *in.SignedCert, now); err != nil {
			return err
		}
		out.State, out.StateMessage = ptr(c.State), ptr(c.StateMessage)
		return nil
	})
	return out, err
}

// ModifyCluster changes a cluster's backup retention policy and/or migrates its HSM type.
func (s *Service) ModifyCluster(ctx context.Context, in *api.ModifyClusterRequest) (*api.ModifyClusterResponse, error) {
	return authorized(ctx, s, in, s.modifyCluster)
}

func (s *Service) modifyCluster(ctx context.Context, who identity.Caller, in *api.ModifyClusterRequest) (*api.ModifyClusterResponse, error) {
	if in.BackupRetentionPolicy == nil && in.HsmType == nil {
		return nil, invalid("Nothing to modify: give BackupRetentionPolicy, HsmType or both.")
	}
	days := 0
	if in.BackupRetentionPolicy != nil {
		var err error
		if days, err = retentionDays(in.BackupRetentionPolicy); err != nil {
			return nil, err
		}
	}
	if in.HsmType != nil {
		if err := checkHsmType(*in.HsmType); err != nil {
			return nil, err
		}
	}
	out := &api.ModifyClusterResponse{}
	err := s.update(ctx, tenant(who), func(tx store.Tx, now time.Time) error {
		c, err := ownedCluster(tx, who, *in.ClusterId)
		if err != nil {
			return err
		}
		if c.State == api.ClusterStateDeleteInProgress || c.State == api.ClusterStateDeleted {
			return invalid("Cluster %s is in state %s and can no longer be modified.", c.ID, c.State)
		}
		if in.HsmType != nil && *in.HsmType != c.HsmType {
			if err := checkMigration(c, *in.HsmType); err != nil {
				return err
			}
			if c, err = s.life.ChangeHsmType(tx, c, *in.HsmType, now); err != nil {
				return err
			}
		}
		if days != 0 {
			if c, err = s.life.SetRetention(tx, c, days, now); err != nil {
				return err
			}
		}
		out.Cluster, err = clusterView(tx, c)
		return err
	})
	return out, err
}

// checkMigration checks that cluster c may change its HSM type to "to": the cluster is ACTIVE
// and it is the one migration AWS offers, hsm1.medium to hsm2m.medium.
func checkMigration(c store.Cluster, to string) error {
	if c.State != api.ClusterStateActive {
		return invalid("Cluster %s is in state %s; its HSM type can only be changed while it is ACTIVE.", c.ID, c.State)
	}
	if c.HsmType != hsmTypeHsm1 || to != hsmTypeHsm2m {
		return invalid("HSM type %s cannot be changed to %s: the only supported migration is %s to %s.", c.HsmType, to, hsmTypeHsm1, hsmTypeHsm2m)
	}
	return nil
}

// DeleteCluster deletes a cluster that has no HSMs; its backups stay.
func (s *Service) DeleteCluster(ctx context.Context, in *api.DeleteClusterRequest) (*api.DeleteClusterResponse, error) {
	return authorized(ctx, s, in, s.deleteCluster)
}

func (s *Service) deleteCluster(ctx context.Context, who identity.Caller, in *api.DeleteClusterRequest) (*api.DeleteClusterResponse, error) {
	out := &api.DeleteClusterResponse{}
	err := s.update(ctx, tenant(who), func(tx store.Tx, now time.Time) error {
		c, err := ownedCluster(tx, who, *in.ClusterId)
		if err != nil {
			return err
		}
		if c.State == api.ClusterStateDeleteInProgress || c.State == api.ClusterStateDeleted {
			return invalid("Cluster %s is already in state %s.", c.ID, c.State)
		}
		hsms, err := tx.HSMs(c.ID)
		if err != nil {
			return fmt.Errorf("HSMs of %s: %w", c.ID, err)
		}
		if len(hsms) > 0 {
			return invalid("Cluster %s still has %d HSM(s); delete them before deleting the cluster.", c.ID, len(hsms))
		}
		if c, err = s.life.BeginDeleteCluster(tx, c, now); err != nil {
			return err
		}
		out.Cluster, err = clusterView(tx, c)
		return err
	})
	return out, err
}
