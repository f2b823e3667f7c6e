package replicas

import (
	"context"
	"net/http"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudhsmv2"
	"github.com/aws/aws-sdk-go-v2/service/cloudhsmv2/types"

	"github.com/cloudhsm-local/cloudhsm-local/internal/customerca"
)

// Fixtures, after e2e/fixtures_test.go.

// customerCA is the CA a customer uses to claim clusters.
type customerCA struct {
	ca  *customerca.CA
	pem string
}

func newCustomerCA(t testing.TB) customerCA {
	t.Helper()
	ca, err := customerca.New(start)
	if err != nil {
		t.Fatal(err)
	}
	return customerCA{ca: ca, pem: ca.PEM()}
}

// sign issues a certificate for the public key of a PEM CSR.
func (ca customerCA) sign(t testing.TB, csrPEM string) string {
	t.Helper()
	cert, err := ca.ca.Sign(csrPEM)
	if err != nil {
		t.Fatalf("sign ClusterCsr %q: %v", csrPEM, err)
	}
	return cert
}

// subnets of every test cluster; without a topology file each lands in its own zone.
var subnets = []string{"subnet-0a1b2c3d4e5f60001", "subnet-0a1b2c3d4e5f60002"}

// createCluster creates a cluster through r, with retentionDays (0: the default) and tags.
func createCluster(t testing.TB, r *replica, retentionDays string, tags ...types.Tag) *types.Cluster {
	t.Helper()
	in := &cloudhsmv2.CreateClusterInput{HsmType: aws.String("hsm2m.medium"), SubnetIds: subnets, TagList: tags}
	if retentionDays != "" {
		in.BackupRetentionPolicy = &types.BackupRetentionPolicy{Type: types.BackupRetentionTypeDays, Value: aws.String(retentionDays)}
	}
	out, err := r.api.CreateCluster(context.Background(), in)
	if err != nil {
		t.Fatalf("%s: CreateCluster: %v", r.name, err)
	}
	return out.Cluster
}

// describeCluster returns one cluster as r sees it.
func describeCluster(t testing.TB, r *replica, id string) types.Cluster {
	t.Helper()
	out, err := r.api.DescribeClusters(context.Background(), &cloudhsmv2.DescribeClustersInput{Filters: map[string][]string{"clusterIds": {id}}})
	if err != nil {
		t.Fatalf("%s: DescribeClusters: %v", r.name, err)
	}
	if len(out.Clusters) != 1 {
		t.Fatalf("%s: DescribeClusters %s: got %d clusters", r.name, id, len(out.Clusters))
	}
	return out.Clusters[0]
}

// describeBackup returns one backup as r sees it.
func describeBackup(t testing.TB, r *replica, id string) types.Backup {
	t.Helper()
	out, err := r.api.DescribeBackups(context.Background(), &cloudhsmv2.DescribeBackupsInput{Filters: map[string][]string{"backupIds": {id}}})
	if err != nil {
		t.Fatalf("%s: DescribeBackups: %v", r.name, err)
	}
	if len(out.Backups) != 1 {
		t.Fatalf("%s: DescribeBackups %s: got %d backups", r.name, id, len(out.Backups))
	}
	return out.Backups[0]
}

// backupsOf lists a cluster's backups, oldest first, as r sees them.
func backupsOf(t testing.TB, r *replica, clusterID string) []types.Backup {
	t.Helper()
	var all []types.Backup
	p := cloudhsmv2.NewDescribeBackupsPaginator(r.api, &cloudhsmv2.DescribeBackupsInput{
		Filters: map[string][]string{"clusterIds": {clusterID}}, SortAscending: aws.Bool(true),
	})
	for p.HasMorePages() {
		page, err := p.NextPage(context.Background())
		if err != nil {
			t.Fatalf("%s: DescribeBackups: %v", r.name, err)
		}
		all = append(all, page.Backups...)
	}
	return all
}

// activeCluster makes an ACTIVE cluster with one HSM through r (claimed with a customer CA,
// activated through the admin API) and returns it with the backup its activation took.
func activeCluster(t testing.TB, r *replica, retentionDays string) (clusterID, backupID string) {
	t.Helper()
	cl := createCluster(t, r, retentionDays)
	id := aws.ToString(cl.ClusterId)
	az := ""
	for zone := range cl.SubnetMapping {
		if az == "" || zone < az {
			az = zone
		}
	}
	if _, err := r.api.CreateHsm(context.Background(), &cloudhsmv2.CreateHsmInput{ClusterId: cl.ClusterId, AvailabilityZone: aws.String(az)}); err != nil {
		t.Fatalf("%s: CreateHsm: %v", r.name, err)
	}
	got := describeCluster(t, r, id)
	if got.Certificates == nil || got.Certificates.ClusterCsr == nil {
		t.Fatalf("cluster %s has no CSR after its HSM became ACTIVE: %+v", id, got)
	}
	ca := newCustomerCA(t)
	if _, err := r.api.InitializeCluster(context.Background(), &cloudhsmv2.InitializeClusterInput{
		ClusterId: cl.ClusterId, SignedCert: aws.String(ca.sign(t, *got.Certificates.ClusterCsr)), TrustAnchor: aws.String(ca.pem),
	}); err != nil {
		t.Fatalf("%s: InitializeCluster: %v", r.name, err)
	}
	r.adminCall(t, http.MethodPost, "clusters/"+id+"/activate", nil, nil)
	backups := backupsOf(t, r, id)
	if len(backups) != 1 {
		t.Fatalf("activation of %s should take one backup, got %d", id, len(backups))
	}
	return id, aws.ToString(backups[0].BackupId)
}
