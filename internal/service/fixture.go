package service

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/cloudhsm-local/cloudhsm-local/internal/api"
	"github.com/cloudhsm-local/cloudhsm-local/internal/certs"
	"github.com/cloudhsm-local/cloudhsm-local/internal/customerca"
	"github.com/cloudhsm-local/cloudhsm-local/internal/fixture"
	"github.com/cloudhsm-local/cloudhsm-local/internal/identity"
	"github.com/cloudhsm-local/cloudhsm-local/internal/lifecycle"
	"github.com/cloudhsm-local/cloudhsm-local/internal/store"
)

// Fixtures: a hand-written document (package fixture) built into an empty store through the
// lifecycle's own transitions, for serve --seed, the import subcommand and the admin API's
// POST /_cloudhsm-local/fixture.

// Seeded is what a fixture built: the ID each cluster name got, and how many of each resource.
type Seeded struct {
	Clusters      map[string]string
	HSMs, Backups int
}

// SeedFixture builds doc into the store in one transaction: either all of it or, on the first
// problem, nothing. The store must hold no resource (ErrConflict). A cluster without a Region
// is in region. A document the lifecycle refuses (a backup too young for its state) gives an
// error wrapping ErrInvalid and a *fixture.Error naming the JSON path.
//
// Each cluster is set up as a customer would (CreateCluster, CreateHsm, its CSR signed by a
// throwaway customer CA, InitializeCluster, activation), early enough to be ACTIVE when its
// oldest backup is taken, so its CreateTimestamp precedes its backups. The backup activation
// takes is the oldest of the fixture's; the daily backups between activation and now are
// skipped (lifecycle.SkipDailyBackups), so the cluster has exactly the backups listed.
func (s *Service) SeedFixture(ctx context.Context, doc *fixture.Document, region string) (Seeded, error) {
	var out Seeded
	err := s.store.Update(ctx, store.Everything(), func(tx store.Tx) error {
		out = Seeded{Clusters: map[string]string{}}
		empty, err := tx.Empty()
		if err != nil {
			return err
		}
		if !empty {
			return fmt.Errorf("%w: the store is not empty: a fixture seeds an empty store only (reset it first, or start a new server)", ErrConflict)
		}
		now, err := s.life.VirtualNow(tx)
		if err != nil {
			return err
		}
		if err := s.life.Settle(tx, now, store.Everything()); err != nil {
			return err
		}
		for i, fc := range doc.Clusters {
			path := fmt.Sprintf("$.Clusters[%d]", i)
			who := identity.Caller{Account: fc.Account, Region: cmp.Or(fc.Region, region)}
			c, hsms, err := s.seedCluster(tx, path, who, fc, now)
			var apiErr *api.Error
			if errors.As(err, &apiErr) {
				return fmt.Errorf("%w: the fixture is refused, nothing was seeded: %w", ErrInvalid, fixture.Errorf(path, "%s", apiErr.Message))
			}
			var bad *fixture.Error
			if errors.As(err, &bad) {
				return fmt.Errorf("%w: the fixture is refused, nothing was seeded: %w", ErrInvalid, bad)
			}
			if err != nil {
				return fmt.Errorf("seed %s (%s): %w", path, fc.Name, err)
			}
			out.Clusters[fc.Name] = c.ID
			out.HSMs += hsms
			for _, g := range fc.Backups {
				out.Backups += g.Count
			}
		}
		return s.life.Settle(tx, now, store.Everything())
	})
	return out, err
}

// seedCluster builds one cluster of a fixture, at JSON path where in the document, and returns it
// with its number of HSMs.
func (s *Service) seedCluster(tx store.Tx, where string, who identity.Caller, fc fixture.Cluster, now time.Time) (store.Cluster, int, error) {
	path := func(member string) string { return where + member }
	n, err := tx.CountClusters(who.Account, who.Region, s.cfg.MaxClusters)
	if err != nil {
		return store.Cluster{}, 0, fmt.Errorf("count clusters: %w", err)
	}
	if n >= s.cfg.MaxClusters {
		return store.Cluster{}, 0, fixture.Errorf(path(""), "account %s already has %d clusters in %s, the quota (--max-clusters)", who.Account, n, who.Region)
	}
	if err := checkHsmType(fc.HsmType); err != nil {
		return store.Cluster{}, 0, fixture.Errorf(path(".HsmType"), "%s", api.AsError(err).Message)
	}
	if fc.RetentionDays < minRetentionDays || fc.RetentionDays > maxRetentionDays {
		return store.Cluster{}, 0, fixture.Errorf(path(".RetentionDays"), "%d days is outside %d–%d", fc.RetentionDays, minRetentionDays, maxRetentionDays)
	}
	if *fc.Hsms > s.cfg.MaxHSMsPerCluster {
		return store.Cluster{}, 0, fixture.Errorf(path(".Hsms"), "%d HSMs, more than the quota of %d (--max-hsms)", *fc.Hsms, s.cfg.MaxHSMsPerCluster)
	}
	// The instants of its backups, oldest first; activation takes the first.
	type planned struct {
		at    time.Time
		group int
	}
	var plan []planned
	for g, b := range fc.Backups {
		for i := range b.Count {
			plan = append(plan, planned{now.Add(-b.AgeDuration - time.Duration(i)*time.Millisecond), g})
		}
	}
	slices.SortStableFunc(plan, func(a, b planned) int { return a.at.Compare(b.at) })
	activation := now
	if len(plan) > 0 {
		activation = plan[0].at
	}
	hsmUp := s.life.Delay(lifecycle.HSMCreate)
	setup := max(s.life.Delay(lifecycle.ClusterCreate), hsmUp) + max(s.life.Delay(lifecycle.ClusterInitialize), hsmUp)
	created := activation.Add(-setup)
	initialized := created.Add(max(s.life.Delay(lifecycle.ClusterCreate), hsmUp))

	c, zones, err := s.seedCreateCluster(tx, who, fc, created)
	if err != nil {
		return store.Cluster{}, 0, err
	}
	for i := range *fc.Hsms {
		at := created
		if i > 0 { // more HSMs only once the cluster is being initialized
			at = initialized
		}
		if i == 1 {
			if c, err = s.seedInitialize(tx, c, at); err != nil {
				return store.Cluster{}, 0, err
			}
		}
		if err := s.seedHSM(tx, c, zones[i%len(zones)], at); err != nil {
			return store.Cluster{}, 0, err
		}
		if err := s.life.Settle(tx, at, store.Everything()); err != nil {
			return store.Cluster{}, 0, err
		}
	}
	if fc.State == fixture.ClusterUninitialized {
		return c, *fc.Hsms, s.life.Settle(tx, now, store.Everything())
	}
	if *fc.Hsms == 1 {
		if c, err = s.seedInitialize(tx, c, initialized); err != nil {
			return store.Cluster{}, 0, err
		}
	}
	if err := s.life.Settle(tx, activation, store.Everything()); err != nil {
		return store.Cluster{}, 0, err
	}
	if c, err = tx.Cluster(c.ID); err != nil {
		return store.Cluster{}, 0, err
	}
	auto := c.State == api.ClusterStateActive // the server activates clusters itself (--auto-activate)
	if fc.State == fixture.ClusterInitialized {
		if auto {
			return store.Cluster{}, 0, fixture.Errorf(path(".State"), "this server activates clusters as soon as they are INITIALIZED (--auto-activate): ask for ACTIVE")
		}
		return c, *fc.Hsms, nil
	}
	if !auto {
		if c, err = s.life.Activate(tx, c, activation); err != nil {
			return store.Cluster{}, 0, err
		}
	}
	if c, err = s.life.SkipDailyBackups(tx, c, now); err != nil {
		return store.Cluster{}, 0, err
	}
	first, err := tx.Backups(store.BackupQuery{Account: c.Account, Region: c.Region, ClusterIDs: []string{c.ID}})
	if err != nil {
		return store.Cluster{}, 0, fmt.Errorf("backups of %s: %w", c.ID, err)
	}
	if len(first) != 1 && auto {
		return store.Cluster{}, 0, fixture.Errorf(path(".Hsms"), "this server activates clusters as soon as they are INITIALIZED (--auto-activate), before HSMs added meanwhile are ACTIVE, and each of them then takes a backup: ask for 1 HSM, or a cluster-initialize delay at least the hsm-create delay")
	}
	if len(first) != 1 {
		return store.Cluster{}, 0, fmt.Errorf("cluster %s has %d backups right after its activation, want the one activation took", c.ID, len(first))
	}
	for i, p := range plan {
		g := fc.Backups[p.group]
		b := first[0]
		if i > 0 {
			if b, err = s.life.TakeBackup(tx, c, p.at); err != nil {
				return store.Cluster{}, 0, err
			}
		}
		b, err = s.life.LiveBackup(tx, b, g.State, now)
		if errors.Is(err, lifecycle.ErrWrongState) {
			return store.Cluster{}, 0, fixture.Errorf(path(fmt.Sprintf(".Backups[%d]", p.group)), "%v", err)
		}
		if err != nil {
			return store.Cluster{}, 0, err
		}
		if g.NeverExpires {
			b.NeverExpires = true
			if _, err := tx.UpdateBackup(b); err != nil {
				return store.Cluster{}, 0, fmt.Errorf("set NeverExpires of %s: %w", b.ID, err)
			}
		}
		if err := putTags(tx, b.ID, g.Tags); err != nil {
			return store.Cluster{}, 0, err
		}
		if err := seedSharing(tx, b, g.SharedWith); err != nil {
			return store.Cluster{}, 0, err
		}
	}
	return c, *fc.Hsms, nil
}

// seedCreateCluster does what CreateCluster does for a fixture's cluster at instant at, with
// one new subnet per zone it needs; it returns the cluster and its zones in order.
func (s *Service) seedCreateCluster(tx store.Tx, who identity.Caller, fc fixture.Cluster, at time.Time) (store.Cluster, []string, error) {
	c := store.Cluster{
		Account: who.Account, Region: who.Region, HsmType: fc.HsmType,
		Mode: api.ClusterModeFips, NetworkType: api.NetworkTypeIpv4, RetentionDays: fc.RetentionDays,
	}
	subnets := make([]string, min(max(*fc.Hsms, 1), 3))
	var err error
	for i := range subnets {
		if subnets[i], err = s.life.IDs().Hex("subnet-", 17); err != nil {
			return c, nil, err
		}
	}
	if c.VpcID, c.SubnetMapping, err = s.placeSubnets(tx, who, subnets); err != nil {
		return c, nil, err
	}
	if c.ID, err = s.life.IDs().NewResourceID(tx, "cluster"); err != nil {
		return c, nil, err
	}
	if c.SecurityGroup, err = s.life.IDs().Hex("sg-", 17); err != nil {
		return c, nil, err
	}
	if c, err = s.life.CreateCluster(tx, c, at); err != nil {
		return c, nil, err
	}
	if err := putTags(tx, c.ID, fc.Tags); err != nil {
		return c, nil, err
	}
	zones := slices.Sorted(maps.Keys(c.SubnetMapping))
	return c, zones, nil
}

// seedHSM does what CreateHsm does, in zone of cluster c at instant at.
func (s *Service) seedHSM(tx store.Tx, c store.Cluster, zone string, at time.Time) error {
	subnetID := c.SubnetMapping[zone]
	taken, err := subnetIPs(tx, c, subnetID)
	if err != nil {
		return err
	}
	h := store.HSM{ClusterID: c.ID, AvailabilityZone: zone, SubnetID: subnetID, HsmType: c.HsmType}
	if h.EniIP, err = nextFreeIP(subnetID, taken); err != nil {
		return err
	}
	if h.ID, err = s.life.IDs().NewResourceID(tx, "hsm"); err != nil {
		return err
	}
	if h.EniID, err = s.life.IDs().Hex("eni-", 17); err != nil {
		return err
	}
	_, err = s.life.CreateHSM(tx, h, at)
	return err
}

// seedInitialize does what a customer does at instant at: signs the CSR of cluster c (by then
// UNINITIALIZED with an ACTIVE HSM) with a throwaway CA, and InitializeCluster with it.
func (s *Service) seedInitialize(tx store.Tx, c store.Cluster, at time.Time) (store.Cluster, error) {
	if err := s.life.Settle(tx, at, store.Everything()); err != nil {
		return c, err
	}
	c, err := tx.Cluster(c.ID)
	if err != nil {
		return c, err
	}
	if c.State != api.ClusterStateUninitialized || c.Certificates.ClusterCsr == "" {
		return c, fmt.Errorf("cluster %s is %s without a CSR at %s: its HSM is not ACTIVE yet", c.ID, c.State, at.Format(time.RFC3339Nano))
	}
	cert, anchor, err := customerca.SignCSR(c.Certificates.ClusterCsr, at)
	if err != nil {
		return c, fmt.Errorf("sign the CSR of %s: %w", c.ID, err)
	}
	if err := certs.VerifySignedCertificate(c.Certificates.ClusterCsr, cert, anchor, at); err != nil {
		return c, fmt.Errorf("initialize %s: %w", c.ID, err)
	}
	return s.life.InitializeCluster(tx, c, cert, at)
}

// putTags tags resource id with tags, in key order.
func putTags(tx store.Tx, id string, tags map[string]string) error {
	if len(tags) == 0 {
		return nil
	}
	var list []store.Tag
	for _, k := range slices.Sorted(maps.Keys(tags)) {
		list = append(list, store.Tag{Key: k, Value: tags[k]})
	}
	if err := tx.PutTags(id, list); err != nil {
		return fmt.Errorf("tag %s: %w", id, err)
	}
	return nil
}

// seedSharing does what PutResourcePolicy does on backup b with a policy that allows accounts
// cloudhsm:CreateCluster and cloudhsm:DescribeBackups.
func seedSharing(tx store.Tx, b store.Backup, accounts []string) error {
	if len(accounts) == 0 {
		return nil
	}
	doc, err := json.Marshal(map[string]any{
		"Version": "2012-10-17",
		"Statement": []map[string]any{{
			"Effect": "Allow", "Principal": map[string]any{"AWS": accounts},
			"Action": []string{grantCreateCluster, grantDescribeBackups}, "Resource": backupARN(b),
		}},
	})
	if err != nil {
		return fmt.Errorf("share %s: %w", b.ID, err)
	}
	grants, err := sharePolicy(string(doc), b)
	if err != nil {
		return err
	}
	if err := tx.PutPolicy(store.Policy{BackupID: b.ID, Document: string(doc), Grants: grants}); err != nil {
		return fmt.Errorf("put policy on %s: %w", b.ID, err)
	}
	return nil
}
