package e2e

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudhsmv2"
	"github.com/aws/aws-sdk-go-v2/service/cloudhsmv2/types"

	"github.com/cloudhsm-local/cloudhsm-local/e2e/internal/netfail"
	"github.com/cloudhsm-local/cloudhsm-local/internal/customerca"
)

// customerCA is the CA a customer uses to claim clusters, as in the AWS user guide.
type customerCA struct {
	ca  *customerca.CA
	pem string
}

func newCustomerCA(t *testing.T) customerCA {
	t.Helper()
	ca, err := customerca.New(start)
	if err != nil {
		t.Fatal(err)
	}
	return customerCA{ca: ca, pem: ca.PEM()}
}

// sign issues a certificate for the public key of a PEM CSR.
func (ca customerCA) sign(t *testing.T, csrPEM string) string {
	t.Helper()
	cert, err := ca.ca.Sign(csrPEM)
	if err != nil {
		t.Fatalf("sign ClusterCsr %q: %v", csrPEM, err)
	}
	return cert
}

// Subnets used by tests; without a topology file each lands in its own zone.
var subnets = []string{"subnet-0a1b2c3d4e5f60001", "subnet-0a1b2c3d4e5f60002"}

func mustCreateCluster(t *testing.T, c *cloudhsmv2.Client, in *cloudhsmv2.CreateClusterInput) *types.Cluster {
	t.Helper()
	if in == nil {
		in = &cloudhsmv2.CreateClusterInput{HsmType: aws.String("hsm2m.medium"), SubnetIds: subnets}
	}
	out, err := c.CreateCluster(context.Background(), in)
	if err != nil {
		t.Fatalf("CreateCluster: %v", err)
	}
	return out.Cluster
}

func describeCluster(t *testing.T, c *cloudhsmv2.Client, id string) types.Cluster {
	t.Helper()
	out, err := c.DescribeClusters(context.Background(), &cloudhsmv2.DescribeClustersInput{Filters: map[string][]string{"clusterIds": {id}}})
	if err != nil {
		t.Fatalf("DescribeClusters: %v", err)
	}
	if len(out.Clusters) != 1 {
		t.Fatalf("DescribeClusters %s: got %d clusters", id, len(out.Clusters))
	}
	return out.Clusters[0]
}

func describeBackup(t *testing.T, c *cloudhsmv2.Client, id string) types.Backup {
	t.Helper()
	out, err := c.DescribeBackups(context.Background(), &cloudhsmv2.DescribeBackupsInput{Filters: map[string][]string{"backupIds": {id}}})
	if err != nil {
		t.Fatalf("DescribeBackups: %v", err)
	}
	if len(out.Backups) != 1 {
		t.Fatalf("DescribeBackups %s: got %d backups", id, len(out.Backups))
	}
	return out.Backups[0]
}

// retryReads lets a read retry a connection closed under it, and nothing else. The test clients
// make one attempt, so that every error answer shows; but over many pages the SDK's transport
// now and then closes a keep-alive connection under its own response (aws/aws-sdk-go-v2#2737,
// "use of closed network connection"). Paging helpers use it; any answer from the server, a 500
// or a throttle included, fails the read (TestReadRetriesAbsorbOnlyClosedConnections).
func retryReads(o *cloudhsmv2.Options) { o.Retryer = netfail.Retryer(3) }

func backupsOf(t *testing.T, c *cloudhsmv2.Client, clusterID string) []types.Backup {
	t.Helper()
	var all []types.Backup
	p := cloudhsmv2.NewDescribeBackupsPaginator(c, &cloudhsmv2.DescribeBackupsInput{
		Filters: map[string][]string{"clusterIds": {clusterID}}, SortAscending: aws.Bool(true),
	})
	for p.HasMorePages() {
		page, err := p.NextPage(context.Background(), retryReads)
		if err != nil {
			t.Fatalf("DescribeBackups: %v", err)
		}
		all = append(all, page.Backups...)
	}
	return all
}

// initializedCluster creates a cluster with one HSM and claims it with a customer CA.
func (e *env) initializedCluster(t *testing.T, c *cloudhsmv2.Client) string {
	t.Helper()
	cl := mustCreateCluster(t, c, nil)
	id := aws.ToString(cl.ClusterId)
	az := firstZone(cl)
	if _, err := c.CreateHsm(context.Background(), &cloudhsmv2.CreateHsmInput{ClusterId: cl.ClusterId, AvailabilityZone: aws.String(az)}); err != nil {
		t.Fatalf("CreateHsm: %v", err)
	}
	got := describeCluster(t, c, id)
	if got.Certificates == nil || got.Certificates.ClusterCsr == nil {
		t.Fatalf("cluster %s has no CSR after its HSM became ACTIVE: %+v", id, got)
	}
	ca := newCustomerCA(t)
	if _, err := c.InitializeCluster(context.Background(), &cloudhsmv2.InitializeClusterInput{
		ClusterId: cl.ClusterId, SignedCert: aws.String(ca.sign(t, *got.Certificates.ClusterCsr)), TrustAnchor: aws.String(ca.pem),
	}); err != nil {
		t.Fatalf("InitializeCluster: %v", err)
	}
	return id
}

// activeCluster returns an ACTIVE cluster with one HSM and the backup its activation took.
func (e *env) activeCluster(t *testing.T, c *cloudhsmv2.Client) (clusterID, backupID string) {
	t.Helper()
	id := e.initializedCluster(t, c)
	e.adminCall(http.MethodPost, "clusters/"+id+"/activate", nil, nil)
	backups := backupsOf(t, c, id)
	if len(backups) != 1 {
		t.Fatalf("activation of %s should take one backup, got %d", id, len(backups))
	}
	return id, aws.ToString(backups[0].BackupId)
}

// firstZone returns the alphabetically first availability zone of a cluster.
func firstZone(c *types.Cluster) string {
	best := ""
	for az := range c.SubnetMapping {
		if best == "" || az < best {
			best = az
		}
	}
	return best
}

// takeBackup backs up an ACTIVE cluster now through the admin API and returns the backup's ID.
// Two calls without advancing the clock make two backups with the same CreateTimestamp.
func (e *env) takeBackup(t *testing.T, clusterID string) string {
	t.Helper()
	var out struct{ Backup struct{ BackupId string } }
	e.adminCall(http.MethodPost, "clusters/"+clusterID+"/backups", nil, &out)
	if out.Backup.BackupId == "" {
		t.Fatalf("admin backup of %s returned no BackupId", clusterID)
	}
	return out.Backup.BackupId
}

// rawCallAs is rawCall as an account (a 12-digit access key) in a region: it sends an unsigned
// SigV4 Authorization header, which permissive mode reads without checking the signature.
func (e *env) rawCallAs(account, region, target, body string) (int, string, string) {
	e.t.Helper()
	auth := "AWS4-HMAC-SHA256 Credential=" + account + "/20260301/" + region + "/cloudhsm/aws4_request, " +
		"SignedHeaders=content-type;host;x-amz-date, Signature=" + strings.Repeat("0", 64)
	return e.rawCall(target, body, map[string]string{"Authorization": auth})
}
