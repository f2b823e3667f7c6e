package cloudhsmlocal

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudhsmv2"

	"github.com/cloudhsm-local/cloudhsm-local/internal/customerca"
	"github.com/cloudhsm-local/cloudhsm-local/internal/lifecycle"
)

// The helpers below spare a test the steps it does not test. They go through the CloudHSM v2
// API (as account in region, with AWSConfig's credentials) and the admin API, as a user would;
// they never write the store.

// defaultSubnet is the subnet ActiveCluster uses without Options.Subnets or a topology file.
const defaultSubnet = "subnet-0c10ca1000000000a"

// hsmType is the HSM type of ActiveCluster's clusters.
const hsmType = "hsm2m.medium"

// InitializeCluster claims an UNINITIALIZED cluster of account in region, as its owner would
// with their own CA (AWS user guide, "Initialize the cluster"): it reads the cluster's CSR with
// DescribeClusters, signs it with a new throwaway CA, and calls InitializeCluster with that
// certificate and the CA's as the trust anchor. The cluster needs an ACTIVE HSM (then it has a
// CSR). With a cluster-initialize delay, the cluster is INITIALIZE_IN_PROGRESS on return.
func (s *Server) InitializeCluster(ctx context.Context, account, region, clusterID string) error {
	client := s.Client(account, region)
	out, err := client.DescribeClusters(ctx, &cloudhsmv2.DescribeClustersInput{Filters: map[string][]string{"clusterIds": {clusterID}}})
	if err != nil {
		return fmt.Errorf("cloudhsmlocal: initialize %s: %w", clusterID, err)
	}
	if len(out.Clusters) != 1 {
		return fmt.Errorf("cloudhsmlocal: initialize %s: account %s has no such cluster in %s", clusterID, account, region)
	}
	cl := out.Clusters[0]
	if cl.Certificates == nil || aws.ToString(cl.Certificates.ClusterCsr) == "" {
		return fmt.Errorf("cloudhsmlocal: initialize %s: the cluster is %s and has no CSR yet; it gets one when its first HSM is ACTIVE (CreateHsm, and with an hsm-create delay, Advance past it)", clusterID, cl.State)
	}
	now, err := s.Now(ctx)
	if err != nil {
		return err
	}
	// The CA is valid from the virtual time on, which is what InitializeCluster checks against.
	cert, anchor, err := customerca.SignCSR(*cl.Certificates.ClusterCsr, now)
	if err != nil {
		return fmt.Errorf("cloudhsmlocal: initialize %s: sign its CSR: %w", clusterID, err)
	}
	if _, err := client.InitializeCluster(ctx, &cloudhsmv2.InitializeClusterInput{
		ClusterId: aws.String(clusterID), SignedCert: aws.String(cert), TrustAnchor: aws.String(anchor),
	}); err != nil {
		return fmt.Errorf("cloudhsmlocal: initialize %s: %w", clusterID, err)
	}
	return nil
}

// ActiveCluster makes an ACTIVE cluster of account in region, with one HSM and the READY backup
// its activation took, and returns both IDs: CreateCluster (hsm2m.medium, in one subnet),
// CreateHsm, InitializeCluster (see Server.InitializeCluster) and Activate (unless
// Options.AutoActivate does it). The subnet is the first of Options.Subnets or the topology
// file in region, else subnet-0c10ca1000000000a.
//
// With delays configured (Options.Delay, Options.Delays), ActiveCluster moves the virtual
// clock forward by each delay it has to wait out, so the clock is later on return.
func (s *Server) ActiveCluster(ctx context.Context, account, region string) (clusterID, backupID string, err error) {
	subnet, err := s.subnetIn(region)
	if err != nil {
		return "", "", err
	}
	fail := func(step string, err error) (string, string, error) {
		return "", "", fmt.Errorf("cloudhsmlocal: active cluster: %s: %w", step, err)
	}
	client := s.Client(account, region)
	created, err := client.CreateCluster(ctx, &cloudhsmv2.CreateClusterInput{HsmType: aws.String(hsmType), SubnetIds: []string{subnet}})
	if err != nil {
		return fail("CreateCluster", err)
	}
	clusterID = aws.ToString(created.Cluster.ClusterId)
	if err := s.waitOut(ctx, ClusterCreate); err != nil {
		return fail("wait out cluster-create", err)
	}
	zones := slices.Sorted(maps.Keys(created.Cluster.SubnetMapping))
	if len(zones) == 0 {
		return fail("CreateCluster", fmt.Errorf("cluster %s has no subnet mapping", clusterID))
	}
	if _, err := client.CreateHsm(ctx, &cloudhsmv2.CreateHsmInput{ClusterId: aws.String(clusterID), AvailabilityZone: aws.String(zones[0])}); err != nil {
		return fail("CreateHsm", err)
	}
	if err := s.waitOut(ctx, HSMCreate); err != nil {
		return fail("wait out hsm-create", err)
	}
	if err := s.InitializeCluster(ctx, account, region, clusterID); err != nil {
		return "", "", err
	}
	if err := s.waitOut(ctx, ClusterInitialize); err != nil {
		return fail("wait out cluster-initialize", err)
	}
	if !s.settings.config.Lifecycle.AutoActivate {
		if err := s.Activate(ctx, clusterID); err != nil {
			return "", "", err
		}
	}
	if err := s.waitOut(ctx, BackupCreate); err != nil {
		return fail("wait out backup-create", err)
	}
	backups, err := client.DescribeBackups(ctx, &cloudhsmv2.DescribeBackupsInput{
		Filters: map[string][]string{"clusterIds": {clusterID}}, SortAscending: aws.Bool(true),
	})
	if err != nil {
		return fail("DescribeBackups", err)
	}
	if len(backups.Backups) == 0 {
		return fail("DescribeBackups", fmt.Errorf("the activation of %s took no backup", clusterID))
	}
	return clusterID, aws.ToString(backups.Backups[0].BackupId), nil
}

// waitOut moves the virtual clock past transition t, if t has a delay.
func (s *Server) waitOut(ctx context.Context, t Transition) error {
	life := s.settings.config.Lifecycle
	d, ok := life.Delays[lifecycle.Transition(t)]
	if !ok {
		d = life.DefaultDelay
	}
	if d == 0 {
		return nil
	}
	return s.Advance(ctx, d)
}

// subnetIn picks ActiveCluster's subnet in region.
func (s *Server) subnetIn(region string) (string, error) {
	if s.settings.subnets == nil {
		return defaultSubnet, nil
	}
	for _, id := range slices.Sorted(maps.Keys(s.settings.subnets)) {
		if az := s.settings.subnets[id].AvailabilityZone; strings.TrimRight(az, "abcdefghijklmnopqrstuvwxyz") == region {
			return id, nil
		}
	}
	return "", fmt.Errorf("cloudhsmlocal: active cluster: Options.Subnets (or the topology file) has no subnet in %s; add one", region)
}
