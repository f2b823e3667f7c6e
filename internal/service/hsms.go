package service

import (
	"context"
	"crypto/sha256"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/cloudhsm-local/cloudhsm-local/internal/api"
	"github.com/cloudhsm-local/cloudhsm-local/internal/identity"
	"github.com/cloudhsm-local/cloudhsm-local/internal/store"
)

// subnetPrefix derives a subnet's /24 address range from its ID, so ENI addresses are stable.
func subnetPrefix(subnetID string) netip.Prefix {
	sum := sha256.Sum256([]byte(subnetID))
	return netip.PrefixFrom(netip.AddrFrom4([4]byte{10, sum[0], sum[1], 0}), 24)
}

// nextFreeIP returns the first address from .4 up in the subnet's range that no HSM of the
// cluster uses (AWS reserves the first four addresses of a subnet).
func nextFreeIP(subnetID string, used map[string]bool) (string, error) {
	addr := subnetPrefix(subnetID).Addr()
	for range 4 {
		addr = addr.Next()
	}
	for range 250 {
		if !used[addr.String()] {
			return addr.String(), nil
		}
		addr = addr.Next()
	}
	return "", api.Errorf(api.CodeService, "Subnet %s has no free IP address left.", subnetID)
}

// subnetIPs returns the addresses of the HSMs in a subnet, whichever cluster of the account and
// region they belong to: two ENIs of one subnet never get the same automatic address.
func subnetIPs(tx store.Tx, c store.Cluster, subnetID string) (map[string]bool, error) {
	clusters, err := tx.Clusters(store.ClusterQuery{Account: c.Account, Region: c.Region})
	if err != nil {
		return nil, fmt.Errorf("list clusters: %w", err)
	}
	var ids []string
	for _, o := range clusters {
		for _, id := range o.SubnetMapping {
			if id == subnetID {
				ids = append(ids, o.ID)
			}
		}
	}
	hsms, err := tx.HSMs(ids...)
	if err != nil {
		return nil, fmt.Errorf("HSMs in subnet %s: %w", subnetID, err)
	}
	taken := map[string]bool{}
	for _, h := range hsms {
		if h.SubnetID == subnetID {
			taken[h.EniIP] = true
		}
	}
	return taken, nil
}

// CreateHsm adds an HSM to a cluster in one of the cluster's availability zones.
func (s *Service) CreateHsm(ctx context.Context, in *api.CreateHsmRequest) (*api.CreateHsmResponse, error) {
	return authorized(ctx, s, in, s.createHsm)
}

func (s *Service) createHsm(ctx context.Context, who identity.Caller, in *api.CreateHsmRequest) (*api.CreateHsmResponse, error) {
	out := &api.CreateHsmResponse{}
	err := s.update(ctx, tenant(who), func(tx store.Tx, now time.Time) error {
		c, err := ownedCluster(tx, who, *in.ClusterId)
		if err != nil {
			return err
		}
		if c.State == api.ClusterStateDeleteInProgress || c.State == api.ClusterStateDeleted {
			return invalid("Cluster %s is in state %s; HSMs cannot be added to it.", c.ID, c.State)
		}
		az := *in.AvailabilityZone
		subnetID, ok := c.SubnetMapping[az]
		if !ok {
			zones := sortedKeys(c.SubnetMapping)
			return invalid("Availability zone %s is not one of cluster %s's zones: %s.", az, c.ID, strings.Join(zones, ", "))
		}
		hsms, err := tx.HSMs(c.ID)
		if err != nil {
			return fmt.Errorf("HSMs of %s: %w", c.ID, err)
		}
		// Until it is initialized a cluster has one HSM, the one its CSR comes from. A new, empty
		// cluster that is still being created counts as UNINITIALIZED already (one restored from
		// a backup becomes ACTIVE instead).
		uninitialized := c.State == api.ClusterStateUninitialized ||
			(c.State == api.ClusterStateCreateInProgress && c.SourceBackupID == "")
		if uninitialized && len(hsms) > 0 {
			return invalid("Cluster %s is %s and already has HSM %s; initialize the cluster before adding more HSMs.", c.ID, c.State, hsms[0].ID)
		}
		if len(hsms) >= s.cfg.MaxHSMsPerCluster {
			return api.Errorf(api.CodeService, "Cluster %s already has %d HSMs, the most allowed.", c.ID, len(hsms))
		}
		used := map[string]bool{}
		for _, h := range hsms {
			used[h.EniIP] = true
		}
		ip := str(in.IpAddress)
		if ip == "" {
			taken, err := subnetIPs(tx, c, subnetID)
			if err != nil {
				return err
			}
			if ip, err = nextFreeIP(subnetID, taken); err != nil {
				return err
			}
		} else if used[ip] {
			return invalid("IpAddress %s is already used by another HSM of cluster %s.", ip, c.ID)
		} else if _, perr := netip.ParseAddr(ip); perr != nil {
			return invalid("IpAddress %s is not a valid IPv4 address.", ip)
		}
		h := store.HSM{ClusterID: c.ID, AvailabilityZone: az, SubnetID: subnetID, EniIP: ip, HsmType: c.HsmType}
		if h.ID, err = s.life.IDs().NewResourceID(tx, "hsm"); err != nil {
			return err
		}
		if h.EniID, err = s.life.IDs().Hex("eni-", 17); err != nil {
			return err
		}
		if h, err = s.life.CreateHSM(tx, h, now); err != nil {
			return err
		}
		out.Hsm = ptr(toAPIHsm(h))
		return nil
	})
	return out, err
}

// DeleteHsm deletes an HSM named by exactly one of HsmId, EniId and EniIp.
func (s *Service) DeleteHsm(ctx context.Context, in *api.DeleteHsmRequest) (*api.DeleteHsmResponse, error) {
	return authorized(ctx, s, in, s.deleteHsm)
}

func (s *Service) deleteHsm(ctx context.Context, who identity.Caller, in *api.DeleteHsmRequest) (*api.DeleteHsmResponse, error) {
	given := slices.DeleteFunc([]*string{in.HsmId, in.EniId, in.EniIp}, func(p *string) bool { return p == nil })
	if len(given) != 1 {
		return nil, invalid("Identify the HSM with exactly one of HsmId, EniId or EniIp (%d given).", len(given))
	}
	out := &api.DeleteHsmResponse{}
	err := s.update(ctx, tenant(who), func(tx store.Tx, now time.Time) error {
		c, err := ownedCluster(tx, who, *in.ClusterId)
		if err != nil {
			return err
		}
		hsms, err := tx.HSMs(c.ID)
		if err != nil {
			return fmt.Errorf("HSMs of %s: %w", c.ID, err)
		}
		i := slices.IndexFunc(hsms, func(h store.HSM) bool {
			return h.ID == str(in.HsmId) || h.EniID == str(in.EniId) || h.EniIP == str(in.EniIp)
		})
		if i < 0 {
			return notFound("HSM", *given[0]+" in cluster "+c.ID)
		}
		h := hsms[i]
		if h.State == api.HsmStateDeleteInProgress {
			return invalid("HSM %s is already being deleted.", h.ID)
		}
		if h, err = s.life.BeginDeleteHSM(tx, h, now); err != nil {
			return err
		}
		out.HsmId = ptr(h.ID)
		return nil
	})
	return out, err
}
