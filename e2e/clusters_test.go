package e2e

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudhsmv2"
	"github.com/aws/aws-sdk-go-v2/service/cloudhsmv2/types"
	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/middleware"

	"github.com/cloudhsm-local/cloudhsm-local/internal/lifecycle"
	"github.com/cloudhsm-local/cloudhsm-local/internal/service"
	"github.com/cloudhsm-local/cloudhsm-local/internal/topology"
)

// clusterRule is one row of a rules table: a fresh server started with opts, driven by the
// default client (account1 in us-east-1).
type clusterRule struct {
	name string
	opts []func(*options)
	run  func(t *testing.T, e *env, c *cloudhsmv2.Client)
}

// runClusterRules runs each row as a subtest on its own server.
func runClusterRules(t *testing.T, rules []clusterRule) {
	t.Helper()
	for _, r := range rules {
		t.Run(r.name, func(t *testing.T) {
			e := newEnv(t, r.opts...)
			r.run(t, e, e.defaultClient())
		})
	}
}

// withDelays starts the server with a default delay for every *_IN_PROGRESS state and
// per-transition overrides.
func withDelays(def time.Duration, per map[lifecycle.Transition]time.Duration) func(*options) {
	return func(o *options) {
		o.lifecycle = func(c *lifecycle.Config) { c.DefaultDelay, c.Delays = def, per }
	}
}

// withServiceConfig starts the server with changed quotas or topology.
func withServiceConfig(f func(*service.Config)) func(*options) {
	return func(o *options) { o.service = f }
}

// withTopologyFile starts the server with a topology file's contents.
func withTopologyFile(doc string) func(*options) {
	topo, err := topology.Parse([]byte(doc))
	if err != nil {
		panic(fmt.Sprintf("test topology: %v", err))
	}
	return withServiceConfig(func(c *service.Config) { c.Topology = topo })
}

// Subnets of testTopology: a01, a02 and a03 are in VPC A (a01 and a03 share a zone), b01 is in
// VPC B, e01 is in another region.
const (
	topoA1 = "subnet-00000000000000a01"
	topoA2 = "subnet-00000000000000a02"
	topoA3 = "subnet-00000000000000a03"
	topoB1 = "subnet-00000000000000b01"
	topoE1 = "subnet-00000000000000e01"
	vpcA   = "vpc-0aaaaaaaaaaaaaaaa"
	vpcB   = "vpc-0bbbbbbbbbbbbbbbb"
)

const testTopology = `{"subnets": {
	"subnet-00000000000000a01": {"vpc": "vpc-0aaaaaaaaaaaaaaaa", "az": "us-east-1a"},
	"subnet-00000000000000a02": {"vpc": "vpc-0aaaaaaaaaaaaaaaa", "az": "us-east-1b"},
	"subnet-00000000000000a03": {"vpc": "vpc-0aaaaaaaaaaaaaaaa", "az": "us-east-1a"},
	"subnet-00000000000000b01": {"vpc": "vpc-0bbbbbbbbbbbbbbbb", "az": "us-east-1c"},
	"subnet-00000000000000e01": {"vpc": "vpc-0eeeeeeeeeeeeeeee", "az": "eu-west-1a"}
}}`

// withoutClientValidation lets a request that the SDK would refuse (a required member
// missing) reach the server, so that the server's own validation answers.
func withoutClientValidation(o *cloudhsmv2.Options) {
	o.APIOptions = append(o.APIOptions, func(s *middleware.Stack) error {
		_, err := s.Initialize.Remove("OperationInputValidation")
		return err
	})
}

// wantAPIErrorContaining is wantAPIError that also checks the message names what failed.
func wantAPIErrorContaining(t *testing.T, err error, code string, status int, fragment string) {
	t.Helper()
	wantAPIError(t, err, code, status)
	var ae smithy.APIError
	errors.As(err, &ae)
	if !strings.Contains(ae.ErrorMessage(), fragment) {
		t.Fatalf("%s message %q does not contain %q", code, ae.ErrorMessage(), fragment)
	}
}

// wantAPIErrorMessage is wantAPIError that also checks the exact message.
func wantAPIErrorMessage(t *testing.T, err error, code string, status int, message string) {
	t.Helper()
	wantAPIError(t, err, code, status)
	var ae smithy.APIError
	errors.As(err, &ae)
	if ae.ErrorMessage() != message {
		t.Fatalf("%s message:\n got %q\nwant %q", code, ae.ErrorMessage(), message)
	}
}

var (
	clusterIDRe = regexp.MustCompile(`^cluster-[a-z2-7]{11}$`)
	hsmIDRe     = regexp.MustCompile(`^hsm-[a-z2-7]{11}$`)
	eniIDRe     = regexp.MustCompile(`^eni-[0-9a-f]{17}$`)
	sgIDRe      = regexp.MustCompile(`^sg-[0-9a-f]{17}$`)
	vpcIDRe     = regexp.MustCompile(`^vpc-[0-9a-f]+$`)
)

// newSubnet returns the i-th of a series of distinct, valid subnet IDs.
func newSubnet(i int) string { return fmt.Sprintf("subnet-%017x", 0xf00000+i) }

func mustCreateHsm(t *testing.T, c *cloudhsmv2.Client, clusterID, az string) *types.Hsm {
	t.Helper()
	out, err := c.CreateHsm(context.Background(), &cloudhsmv2.CreateHsmInput{ClusterId: &clusterID, AvailabilityZone: &az})
	if err != nil {
		t.Fatalf("CreateHsm: %v", err)
	}
	return out.Hsm
}

func mustDeleteCluster(t *testing.T, c *cloudhsmv2.Client, id string) *types.Cluster {
	t.Helper()
	out, err := c.DeleteCluster(context.Background(), &cloudhsmv2.DeleteClusterInput{ClusterId: &id})
	if err != nil {
		t.Fatalf("DeleteCluster: %v", err)
	}
	return out.Cluster
}

// listClusters returns every cluster the client sees (all pages, no filter).
func listClusters(t *testing.T, c *cloudhsmv2.Client, filters map[string][]string) []types.Cluster {
	t.Helper()
	var all []types.Cluster
	p := cloudhsmv2.NewDescribeClustersPaginator(c, &cloudhsmv2.DescribeClustersInput{Filters: filters})
	for p.HasMorePages() {
		page, err := p.NextPage(context.Background())
		if err != nil {
			t.Fatalf("DescribeClusters: %v", err)
		}
		all = append(all, page.Clusters...)
	}
	return all
}

func clusterIDs(cs []types.Cluster) []string {
	ids := make([]string, len(cs))
	for i, c := range cs {
		ids[i] = aws.ToString(c.ClusterId)
	}
	return ids
}

// clusterWithCSR creates a cluster (in, or the fixture's default) with one HSM and returns it
// once the HSM is ACTIVE, with its CSR. Transitions must have no delay.
func clusterWithCSR(t *testing.T, c *cloudhsmv2.Client, in *cloudhsmv2.CreateClusterInput) (types.Cluster, string) {
	t.Helper()
	cl := mustCreateCluster(t, c, in)
	mustCreateHsm(t, c, aws.ToString(cl.ClusterId), firstZone(cl))
	got := describeCluster(t, c, aws.ToString(cl.ClusterId))
	if got.Certificates == nil || got.Certificates.ClusterCsr == nil {
		t.Fatalf("cluster %s has no CSR after its HSM became ACTIVE", aws.ToString(cl.ClusterId))
	}
	return got, *got.Certificates.ClusterCsr
}

// activeClusterOf is activeCluster for any CreateCluster input, on a server whose transitions
// may last up to wait: the clock is advanced by wait after each step. It returns the cluster
// as described once ACTIVE.
func (e *env) activeClusterOf(t *testing.T, c *cloudhsmv2.Client, in *cloudhsmv2.CreateClusterInput, wait time.Duration) types.Cluster {
	t.Helper()
	settle := func() {
		if wait > 0 {
			e.advance(wait)
		}
	}
	cl := mustCreateCluster(t, c, in)
	id := aws.ToString(cl.ClusterId)
	settle()
	mustCreateHsm(t, c, id, firstZone(cl))
	settle()
	got := describeCluster(t, c, id)
	if got.Certificates == nil || got.Certificates.ClusterCsr == nil {
		t.Fatalf("cluster %s has no CSR after its HSM became ACTIVE", id)
	}
	ca := newCustomerCA(t)
	if _, err := c.InitializeCluster(context.Background(), &cloudhsmv2.InitializeClusterInput{
		ClusterId: &id, SignedCert: aws.String(ca.sign(t, *got.Certificates.ClusterCsr)), TrustAnchor: aws.String(ca.pem),
	}); err != nil {
		t.Fatalf("InitializeCluster: %v", err)
	}
	settle()
	e.adminCall(http.MethodPost, "clusters/"+id+"/activate", nil, nil)
	settle()
	got = describeCluster(t, c, id)
	if got.State != types.ClusterStateActive {
		t.Fatalf("cluster %s is %s after activation", id, got.State)
	}
	return got
}

// issueFor issues a certificate from the customer CA for any public key, valid in [from, until].
func (ca customerCA) issueFor(t *testing.T, pub any, from, until time.Time) string {
	t.Helper()
	cert, err := ca.ca.Issue(pub, from, until)
	if err != nil {
		t.Fatal(err)
	}
	return cert
}

func parseCertPEM(t *testing.T, what string, s *string) *x509.Certificate {
	t.Helper()
	if s == nil {
		t.Fatalf("%s is missing", what)
	}
	block, rest := pem.Decode([]byte(*s))
	if block == nil || block.Type != "CERTIFICATE" || strings.TrimSpace(string(rest)) != "" {
		t.Fatalf("%s is not one PEM CERTIFICATE block: %q", what, *s)
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	return cert
}

func parseCSRPEM(t *testing.T, s string) *x509.CertificateRequest {
	t.Helper()
	block, rest := pem.Decode([]byte(s))
	if block == nil || block.Type != "CERTIFICATE REQUEST" || strings.TrimSpace(string(rest)) != "" {
		t.Fatalf("ClusterCsr is not one PEM CERTIFICATE REQUEST block: %q", s)
	}
	csr, err := x509.ParseCertificateRequest(block.Bytes)
	if err != nil {
		t.Fatalf("parse ClusterCsr: %v", err)
	}
	if err := csr.CheckSignature(); err != nil {
		t.Fatalf("ClusterCsr signature: %v", err)
	}
	return csr
}

// TestCreateClusterRules pins docs/BEHAVIOUR.md §5 CreateCluster (and §2 identifiers, §8 validation).
func TestCreateClusterRules(t *testing.T) {
	ctx := context.Background()
	hsm2m := aws.String("hsm2m.medium")
	retention := func(v string) *types.BackupRetentionPolicy {
		return &types.BackupRetentionPolicy{Type: types.BackupRetentionTypeDays, Value: aws.String(v)}
	}
	rules := []clusterRule{
		{name: "defaults: Mode FIPS, NetworkType IPV4, retention DAYS 90, BackupPolicy DEFAULT, SecurityGroup, VpcId, SubnetMapping, ID, TagList", run: func(t *testing.T, e *env, c *cloudhsmv2.Client) {
			cl := mustCreateCluster(t, c, nil)
			if !clusterIDRe.MatchString(aws.ToString(cl.ClusterId)) {
				t.Errorf("ClusterId %q does not match %s", aws.ToString(cl.ClusterId), clusterIDRe)
			}
			if cl.State != types.ClusterStateCreateInProgress {
				t.Errorf("State %s, want CREATE_IN_PROGRESS in the CreateCluster response", cl.State)
			}
			if cl.Mode != types.ClusterModeFips || cl.NetworkType != types.NetworkTypeIpv4 || cl.BackupPolicy != types.BackupPolicyDefault {
				t.Errorf("Mode %s, NetworkType %s, BackupPolicy %s; want FIPS, IPV4, DEFAULT", cl.Mode, cl.NetworkType, cl.BackupPolicy)
			}
			if p := cl.BackupRetentionPolicy; p == nil || p.Type != types.BackupRetentionTypeDays || aws.ToString(p.Value) != "90" {
				t.Errorf("BackupRetentionPolicy %+v, want {DAYS 90}", p)
			}
			if aws.ToString(cl.HsmType) != "hsm2m.medium" {
				t.Errorf("HsmType %q", aws.ToString(cl.HsmType))
			}
			if !sgIDRe.MatchString(aws.ToString(cl.SecurityGroup)) {
				t.Errorf("SecurityGroup %q does not match %s", aws.ToString(cl.SecurityGroup), sgIDRe)
			}
			if !vpcIDRe.MatchString(aws.ToString(cl.VpcId)) {
				t.Errorf("VpcId %q does not match %s", aws.ToString(cl.VpcId), vpcIDRe)
			}
			want := map[string]string{"us-east-1a": subnets[0], "us-east-1b": subnets[1]}
			if fmt.Sprint(cl.SubnetMapping) != fmt.Sprint(want) {
				t.Errorf("SubnetMapping %v, want %v", cl.SubnetMapping, want)
			}
			if cl.TagList == nil || len(cl.TagList) != 0 {
				t.Errorf("TagList %v, want []", cl.TagList)
			}
			if len(cl.Hsms) != 0 || cl.Certificates != nil || cl.SourceBackupId != nil {
				t.Errorf("a new cluster has Hsms %v, Certificates %+v, SourceBackupId %v", cl.Hsms, cl.Certificates, cl.SourceBackupId)
			}
			if !aws.ToTime(cl.CreateTimestamp).Equal(start) {
				t.Errorf("CreateTimestamp %v, want %v", cl.CreateTimestamp, start)
			}
			got := describeCluster(t, c, aws.ToString(cl.ClusterId))
			if got.State != types.ClusterStateUninitialized {
				t.Errorf("State on the next DescribeClusters %s, want UNINITIALIZED", got.State)
			}
			if aws.ToString(got.SecurityGroup) != aws.ToString(cl.SecurityGroup) || aws.ToString(got.VpcId) != aws.ToString(cl.VpcId) {
				t.Errorf("described cluster differs from the created one: %+v vs %+v", got, cl)
			}
		}},
		{name: "every subnet of an account and region is in one VPC, another account's in another", run: func(t *testing.T, e *env, c *cloudhsmv2.Client) {
			one := mustCreateCluster(t, c, nil)
			two := mustCreateCluster(t, c, &cloudhsmv2.CreateClusterInput{HsmType: hsm2m, SubnetIds: []string{newSubnet(1)}})
			other := mustCreateCluster(t, e.client(account2, "us-east-1"), nil)
			if aws.ToString(one.VpcId) != aws.ToString(two.VpcId) {
				t.Errorf("VPCs of one account differ: %s, %s", aws.ToString(one.VpcId), aws.ToString(two.VpcId))
			}
			if aws.ToString(one.VpcId) == aws.ToString(other.VpcId) {
				t.Errorf("two accounts share VPC %s", aws.ToString(one.VpcId))
			}
		}},
		{name: "TagList given is shown on the cluster", run: func(t *testing.T, e *env, c *cloudhsmv2.Client) {
			cl := mustCreateCluster(t, c, &cloudhsmv2.CreateClusterInput{HsmType: hsm2m, SubnetIds: subnets,
				TagList: []types.Tag{{Key: aws.String("team"), Value: aws.String("crypto")}}})
			got := describeCluster(t, c, aws.ToString(cl.ClusterId))
			for _, tags := range [][]types.Tag{cl.TagList, got.TagList} {
				if len(tags) != 1 || aws.ToString(tags[0].Key) != "team" || aws.ToString(tags[0].Value) != "crypto" {
					t.Errorf("TagList %+v", tags)
				}
			}
		}},
		{name: "Mode and NetworkType given are kept", run: func(t *testing.T, e *env, c *cloudhsmv2.Client) {
			cl := mustCreateCluster(t, c, &cloudhsmv2.CreateClusterInput{HsmType: hsm2m, SubnetIds: subnets,
				Mode: types.ClusterModeNonFips, NetworkType: types.NetworkTypeDualstack})
			got := describeCluster(t, c, aws.ToString(cl.ClusterId))
			if got.Mode != types.ClusterModeNonFips || got.NetworkType != types.NetworkTypeDualstack {
				t.Errorf("Mode %s, NetworkType %s", got.Mode, got.NetworkType)
			}
		}},
		{name: "retention 7 days is accepted", run: func(t *testing.T, e *env, c *cloudhsmv2.Client) {
			cl := mustCreateCluster(t, c, &cloudhsmv2.CreateClusterInput{HsmType: hsm2m, SubnetIds: subnets, BackupRetentionPolicy: retention("7")})
			if v := aws.ToString(describeCluster(t, c, aws.ToString(cl.ClusterId)).BackupRetentionPolicy.Value); v != "7" {
				t.Errorf("retention %q", v)
			}
		}},
		{name: "retention 379 days is accepted", run: func(t *testing.T, e *env, c *cloudhsmv2.Client) {
			cl := mustCreateCluster(t, c, &cloudhsmv2.CreateClusterInput{HsmType: hsm2m, SubnetIds: subnets, BackupRetentionPolicy: retention("379")})
			if v := aws.ToString(describeCluster(t, c, aws.ToString(cl.ClusterId)).BackupRetentionPolicy.Value); v != "379" {
				t.Errorf("retention %q", v)
			}
		}},
		{name: "retention 6 days is CloudHsmInvalidRequestException", run: func(t *testing.T, e *env, c *cloudhsmv2.Client) {
			_, err := c.CreateCluster(ctx, &cloudhsmv2.CreateClusterInput{HsmType: hsm2m, SubnetIds: subnets, BackupRetentionPolicy: retention("6")})
			wantAPIErrorContaining(t, err, "CloudHsmInvalidRequestException", 400, "BackupRetentionPolicy")
		}},
		{name: "retention 380 days is CloudHsmInvalidRequestException", run: func(t *testing.T, e *env, c *cloudhsmv2.Client) {
			_, err := c.CreateCluster(ctx, &cloudhsmv2.CreateClusterInput{HsmType: hsm2m, SubnetIds: subnets, BackupRetentionPolicy: retention("380")})
			wantAPIErrorContaining(t, err, "CloudHsmInvalidRequestException", 400, "BackupRetentionPolicy")
		}},
		{name: "non-numeric retention is CloudHsmInvalidRequestException", run: func(t *testing.T, e *env, c *cloudhsmv2.Client) {
			_, err := c.CreateCluster(ctx, &cloudhsmv2.CreateClusterInput{HsmType: hsm2m, SubnetIds: subnets, BackupRetentionPolicy: retention("ten")})
			wantAPIErrorContaining(t, err, "CloudHsmInvalidRequestException", 400, "backupRetentionPolicy.value")
		}},
		{name: "an unsupported HsmType is CloudHsmInvalidRequestException", run: func(t *testing.T, e *env, c *cloudhsmv2.Client) {
			_, err := c.CreateCluster(ctx, &cloudhsmv2.CreateClusterInput{HsmType: aws.String("hsm9.medium"), SubnetIds: subnets})
			wantAPIErrorContaining(t, err, "CloudHsmInvalidRequestException", 400, "hsm9.medium")
		}},
		{name: "NetworkType DUALSTACK with hsm1.medium is CloudHsmInvalidRequestException", run: func(t *testing.T, e *env, c *cloudhsmv2.Client) {
			_, err := c.CreateCluster(ctx, &cloudhsmv2.CreateClusterInput{HsmType: aws.String("hsm1.medium"), SubnetIds: subnets, NetworkType: types.NetworkTypeDualstack})
			wantAPIErrorContaining(t, err, "CloudHsmInvalidRequestException", 400, "DUALSTACK")
		}},
		{name: "SubnetIds must be distinct", run: func(t *testing.T, e *env, c *cloudhsmv2.Client) {
			_, err := c.CreateCluster(ctx, &cloudhsmv2.CreateClusterInput{HsmType: hsm2m, SubnetIds: []string{subnets[0], subnets[1], subnets[0]}})
			wantAPIErrorContaining(t, err, "CloudHsmInvalidRequestException", 400, subnets[0])
		}},
		{name: "topology file: subnets and VPC come from the file", opts: []func(*options){withTopologyFile(testTopology)}, run: func(t *testing.T, e *env, c *cloudhsmv2.Client) {
			cl := mustCreateCluster(t, c, &cloudhsmv2.CreateClusterInput{HsmType: hsm2m, SubnetIds: []string{topoA2, topoA1}})
			want := map[string]string{"us-east-1a": topoA1, "us-east-1b": topoA2}
			if aws.ToString(cl.VpcId) != vpcA || fmt.Sprint(cl.SubnetMapping) != fmt.Sprint(want) {
				t.Errorf("VpcId %s, SubnetMapping %v; want %s, %v", aws.ToString(cl.VpcId), cl.SubnetMapping, vpcA, want)
			}
		}},
		{name: "topology file: subnets in the same zone are CloudHsmInvalidRequestException", opts: []func(*options){withTopologyFile(testTopology)}, run: func(t *testing.T, e *env, c *cloudhsmv2.Client) {
			_, err := c.CreateCluster(ctx, &cloudhsmv2.CreateClusterInput{HsmType: hsm2m, SubnetIds: []string{topoA1, topoA3}})
			wantAPIErrorContaining(t, err, "CloudHsmInvalidRequestException", 400, "us-east-1a")
		}},
		{name: "topology file: subnets in different VPCs are CloudHsmInvalidRequestException", opts: []func(*options){withTopologyFile(testTopology)}, run: func(t *testing.T, e *env, c *cloudhsmv2.Client) {
			_, err := c.CreateCluster(ctx, &cloudhsmv2.CreateClusterInput{HsmType: hsm2m, SubnetIds: []string{topoA1, topoB1}})
			wantAPIErrorContaining(t, err, "CloudHsmInvalidRequestException", 400, "one VPC")
		}},
		{name: "topology file: an unknown subnet is CloudHsmInvalidRequestException", opts: []func(*options){withTopologyFile(testTopology)}, run: func(t *testing.T, e *env, c *cloudhsmv2.Client) {
			_, err := c.CreateCluster(ctx, &cloudhsmv2.CreateClusterInput{HsmType: hsm2m, SubnetIds: []string{topoA1, subnets[0]}})
			wantAPIErrorContaining(t, err, "CloudHsmInvalidRequestException", 400, subnets[0])
		}},
		{name: "topology file: a subnet of another region is CloudHsmInvalidRequestException", opts: []func(*options){withTopologyFile(testTopology)}, run: func(t *testing.T, e *env, c *cloudhsmv2.Client) {
			_, err := c.CreateCluster(ctx, &cloudhsmv2.CreateClusterInput{HsmType: hsm2m, SubnetIds: []string{topoE1}})
			wantAPIErrorContaining(t, err, "CloudHsmInvalidRequestException", 400, topoE1)
		}},
		{name: "default topology: a subnet keeps its zone across clusters", run: func(t *testing.T, e *env, c *cloudhsmv2.Client) {
			s1, s2, s3 := newSubnet(1), newSubnet(2), newSubnet(3)
			one := mustCreateCluster(t, c, &cloudhsmv2.CreateClusterInput{HsmType: hsm2m, SubnetIds: []string{s1, s2}})
			two := mustCreateCluster(t, c, &cloudhsmv2.CreateClusterInput{HsmType: hsm2m, SubnetIds: []string{s3, s1}})
			if want := map[string]string{"us-east-1a": s1, "us-east-1b": s2}; fmt.Sprint(one.SubnetMapping) != fmt.Sprint(want) {
				t.Errorf("first cluster SubnetMapping %v, want %v", one.SubnetMapping, want)
			}
			if want := map[string]string{"us-east-1a": s1, "us-east-1c": s3}; fmt.Sprint(two.SubnetMapping) != fmt.Sprint(want) {
				t.Errorf("second cluster SubnetMapping %v, want %v", two.SubnetMapping, want)
			}
		}},
		{name: "default topology: the seventh new subnet wraps to zone a", run: func(t *testing.T, e *env, c *cloudhsmv2.Client) {
			for i := 1; i <= 6; i += 3 {
				mustCreateCluster(t, c, &cloudhsmv2.CreateClusterInput{HsmType: hsm2m, SubnetIds: []string{newSubnet(i), newSubnet(i + 1), newSubnet(i + 2)}})
			}
			seventh := mustCreateCluster(t, c, &cloudhsmv2.CreateClusterInput{HsmType: hsm2m, SubnetIds: []string{newSubnet(7)}})
			if want := map[string]string{"us-east-1a": newSubnet(7)}; fmt.Sprint(seventh.SubnetMapping) != fmt.Sprint(want) {
				t.Errorf("SubnetMapping %v, want %v", seventh.SubnetMapping, want)
			}
			_, err := c.CreateCluster(ctx, &cloudhsmv2.CreateClusterInput{HsmType: hsm2m, SubnetIds: []string{newSubnet(1), newSubnet(7)}})
			wantAPIErrorContaining(t, err, "CloudHsmInvalidRequestException", 400, "us-east-1a")
		}},
		{name: "default topology: zones are named after the caller's region", run: func(t *testing.T, e *env, c *cloudhsmv2.Client) {
			cl := mustCreateCluster(t, e.client(account1, "eu-west-1"), nil)
			want := map[string]string{"eu-west-1a": subnets[0], "eu-west-1b": subnets[1]}
			if fmt.Sprint(cl.SubnetMapping) != fmt.Sprint(want) {
				t.Errorf("SubnetMapping %v, want %v", cl.SubnetMapping, want)
			}
		}},
		{name: "quota: clusters over MaxClusters are CloudHsmServiceException", opts: []func(*options){withServiceConfig(func(c *service.Config) { c.MaxClusters = 1 })}, run: func(t *testing.T, e *env, c *cloudhsmv2.Client) {
			mustCreateCluster(t, c, nil)
			_, err := c.CreateCluster(ctx, &cloudhsmv2.CreateClusterInput{HsmType: hsm2m, SubnetIds: subnets})
			wantAPIError(t, err, "CloudHsmServiceException", 400)
			mustCreateCluster(t, e.client(account2, "us-east-1"), nil) // the quota is per account
		}},
		{name: "quota: DELETED clusters do not count", opts: []func(*options){withServiceConfig(func(c *service.Config) { c.MaxClusters = 1 })}, run: func(t *testing.T, e *env, c *cloudhsmv2.Client) {
			cl := mustCreateCluster(t, c, nil)
			mustDeleteCluster(t, c, aws.ToString(cl.ClusterId))
			mustCreateCluster(t, c, nil)
		}},
		{name: "validation: missing HsmType is AWS's null-member message", run: func(t *testing.T, e *env, c *cloudhsmv2.Client) {
			_, err := c.CreateCluster(ctx, &cloudhsmv2.CreateClusterInput{SubnetIds: subnets}, withoutClientValidation)
			wantAPIErrorMessage(t, err, "CloudHsmInvalidRequestException", 400,
				"1 validation error detected: Value null at 'hsmType' failed to satisfy constraint: Member must not be null")
		}},
		{name: "validation: more than 10 SubnetIds", run: func(t *testing.T, e *env, c *cloudhsmv2.Client) {
			var ids []string
			for i := range 11 {
				ids = append(ids, newSubnet(i))
			}
			_, err := c.CreateCluster(ctx, &cloudhsmv2.CreateClusterInput{HsmType: hsm2m, SubnetIds: ids})
			wantAPIErrorMessage(t, err, "CloudHsmInvalidRequestException", 400,
				"1 validation error detected: Value '["+strings.Join(ids, ", ")+"]' at 'subnetIds' failed to satisfy constraint: Member must have length less than or equal to 10")
		}},
		{name: "validation: a subnet ID that does not match the pattern", run: func(t *testing.T, e *env, c *cloudhsmv2.Client) {
			_, err := c.CreateCluster(ctx, &cloudhsmv2.CreateClusterInput{HsmType: hsm2m, SubnetIds: []string{subnets[0], "subnet-xyz"}})
			wantAPIErrorMessage(t, err, "CloudHsmInvalidRequestException", 400,
				"1 validation error detected: Value 'subnet-xyz' at 'subnetIds.2.member' failed to satisfy constraint: Member must satisfy regular expression pattern: ^subnet-[0-9a-fA-F]{8,17}$")
		}},
	}
	runClusterRules(t, rules)
}

// TestCreateClusterFromBackupRules pins docs/BEHAVIOUR.md §5 "From a backup".
func TestCreateClusterFromBackupRules(t *testing.T) {
	ctx := context.Background()
	fromBackup := func(ref string) *cloudhsmv2.CreateClusterInput {
		return &cloudhsmv2.CreateClusterInput{HsmType: aws.String("hsm2m.medium"), SubnetIds: subnets, SourceBackupId: aws.String(ref)}
	}
	// restored checks a cluster made from backupID of source: CREATE_IN_PROGRESS, then ACTIVE with
	// the plain backup ID and the source's certificates.
	restored := func(t *testing.T, c *cloudhsmv2.Client, ref, backupID, source string) {
		t.Helper()
		cl := mustCreateCluster(t, c, fromBackup(ref))
		if cl.State != types.ClusterStateCreateInProgress {
			t.Errorf("State %s in the response, want CREATE_IN_PROGRESS", cl.State)
		}
		got := describeCluster(t, c, aws.ToString(cl.ClusterId))
		if got.State != types.ClusterStateActive {
			t.Errorf("State %s on the next read, want ACTIVE", got.State)
		}
		if aws.ToString(got.SourceBackupId) != backupID {
			t.Errorf("SourceBackupId %q, want the plain ID %q", aws.ToString(got.SourceBackupId), backupID)
		}
		src := describeCluster(t, c, source)
		if got.Certificates == nil || src.Certificates == nil || src.Certificates.ClusterCertificate == nil ||
			aws.ToString(got.Certificates.ClusterCertificate) != aws.ToString(src.Certificates.ClusterCertificate) ||
			aws.ToString(got.Certificates.HsmCertificate) != aws.ToString(src.Certificates.HsmCertificate) {
			t.Errorf("certificates not carried over:\n got %+v\nwant %+v", got.Certificates, src.Certificates)
		}
		if got.Certificates != nil && got.Certificates.ClusterCsr != nil {
			t.Errorf("an ACTIVE cluster shows a CSR")
		}
	}
	rules := []struct {
		name string
		run  func(t *testing.T, e *env, c *cloudhsmv2.Client, clusterID, backupID string)
	}{
		{"by backup ID: CREATE_IN_PROGRESS then ACTIVE with the source's certificates", func(t *testing.T, e *env, c *cloudhsmv2.Client, clusterID, backupID string) {
			restored(t, c, backupID, backupID, clusterID)
		}},
		{"by the ARN of an owned backup: SourceBackupId is the plain ID", func(t *testing.T, e *env, c *cloudhsmv2.Client, clusterID, backupID string) {
			restored(t, c, aws.ToString(describeBackup(t, c, backupID).BackupArn), backupID, clusterID)
		}},
		{"after the source cluster is deleted and purged, a restored cluster still gets its certificates", func(t *testing.T, e *env, c *cloudhsmv2.Client, clusterID, backupID string) {
			src := describeCluster(t, c, clusterID)
			for _, h := range src.Hsms {
				if _, err := c.DeleteHsm(ctx, &cloudhsmv2.DeleteHsmInput{ClusterId: &clusterID, HsmId: h.HsmId}); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := c.DeleteCluster(ctx, &cloudhsmv2.DeleteClusterInput{ClusterId: &clusterID}); err != nil {
				t.Fatal(err)
			}
			e.advance(8 * 24 * time.Hour) // past the 7-day tombstone
			if out, err := c.DescribeClusters(ctx, &cloudhsmv2.DescribeClustersInput{Filters: map[string][]string{"clusterIds": {clusterID}}}); err != nil || len(out.Clusters) != 0 {
				t.Fatalf("the source cluster should be purged: %+v %v", out, err)
			}
			cl := mustCreateCluster(t, c, fromBackup(backupID))
			got := describeCluster(t, c, aws.ToString(cl.ClusterId))
			if got.State != types.ClusterStateActive || got.Certificates == nil ||
				aws.ToString(got.Certificates.ClusterCertificate) != aws.ToString(src.Certificates.ClusterCertificate) ||
				aws.ToString(got.Certificates.HsmCertificate) != aws.ToString(src.Certificates.HsmCertificate) {
				t.Fatalf("restored cluster: %s, certificates %+v, want the purged source's", got.State, got.Certificates)
			}
		}},
		{"a backup that is not READY is CloudHsmInvalidRequestException", func(t *testing.T, e *env, c *cloudhsmv2.Client, clusterID, backupID string) {
			mustDelete(t, c, backupID)
			_, err := c.CreateCluster(ctx, fromBackup(backupID))
			wantAPIErrorContaining(t, err, "CloudHsmInvalidRequestException", 400, "PENDING_DELETION")
		}},
		{"an unknown backup is CloudHsmResourceNotFoundException", func(t *testing.T, e *env, c *cloudhsmv2.Client, clusterID, backupID string) {
			_, err := c.CreateCluster(ctx, fromBackup("backup-aaaaaaaaaaa"))
			wantAPIError(t, err, "CloudHsmResourceNotFoundException", 400)
		}},
		{"another account's backup by ID is CloudHsmResourceNotFoundException", func(t *testing.T, e *env, c *cloudhsmv2.Client, clusterID, backupID string) {
			_, err := e.client(account2, "us-east-1").CreateCluster(ctx, fromBackup(backupID))
			wantAPIError(t, err, "CloudHsmResourceNotFoundException", 400)
		}},
		{"another account's unshared backup by ARN is CloudHsmAccessDeniedException", func(t *testing.T, e *env, c *cloudhsmv2.Client, clusterID, backupID string) {
			arn := aws.ToString(describeBackup(t, c, backupID).BackupArn)
			_, err := e.client(account2, "us-east-1").CreateCluster(ctx, fromBackup(arn))
			wantAPIError(t, err, "CloudHsmAccessDeniedException", 400)
		}},
		{"another account's ARN is CloudHsmAccessDeniedException whether or not the backup exists (existence never leaks)", func(t *testing.T, e *env, c *cloudhsmv2.Client, clusterID, backupID string) {
			arn := "arn:aws:cloudhsm:us-east-1:" + account1 + ":backup/backup-aaaaaaaaaaa"
			_, err := e.client(account2, "us-east-1").CreateCluster(ctx, fromBackup(arn))
			wantAPIError(t, err, "CloudHsmAccessDeniedException", 400)
		}},
		{"the same account's backup from another region is CloudHsmResourceNotFoundException", func(t *testing.T, e *env, c *cloudhsmv2.Client, clusterID, backupID string) {
			arn := aws.ToString(describeBackup(t, c, backupID).BackupArn)
			_, err := e.client(account1, "eu-west-1").CreateCluster(ctx, fromBackup(arn))
			wantAPIError(t, err, "CloudHsmResourceNotFoundException", 400)
		}},
	}
	for _, r := range rules {
		t.Run(r.name, func(t *testing.T) {
			e := newEnv(t)
			c := e.defaultClient()
			clusterID, backupID := e.activeCluster(t, c)
			r.run(t, e, c, clusterID, backupID)
		})
	}
}

// TestClusterCertificateRules pins docs/BEHAVIOUR.md §5 "Certificates are real X.509" and
// InitializeCluster.
func TestClusterCertificateRules(t *testing.T) {
	ctx := context.Background()
	initialize := func(c *cloudhsmv2.Client, id, cert, anchor string) error {
		_, err := c.InitializeCluster(ctx, &cloudhsmv2.InitializeClusterInput{ClusterId: &id, SignedCert: &cert, TrustAnchor: &anchor})
		return err
	}
	rules := []clusterRule{
		{name: "no CSR before the cluster has an HSM", run: func(t *testing.T, e *env, c *cloudhsmv2.Client) {
			cl := mustCreateCluster(t, c, nil)
			if got := describeCluster(t, c, aws.ToString(cl.ClusterId)); got.Certificates != nil && got.Certificates.ClusterCsr != nil {
				t.Errorf("ClusterCsr shown before any HSM: %+v", got.Certificates)
			}
		}},
		{name: "once the first HSM is ACTIVE: a PEM CSR and a hardware chain HsmCertificate → AwsHardwareCertificate → ManufacturerHardwareCertificate", run: func(t *testing.T, e *env, c *cloudhsmv2.Client) {
			cl, csrPEM := clusterWithCSR(t, c, nil)
			csr := parseCSRPEM(t, csrPEM)
			cs := cl.Certificates
			hsm := parseCertPEM(t, "HsmCertificate", cs.HsmCertificate)
			hw := parseCertPEM(t, "AwsHardwareCertificate", cs.AwsHardwareCertificate)
			root := parseCertPEM(t, "ManufacturerHardwareCertificate", cs.ManufacturerHardwareCertificate)
			roots, inter := x509.NewCertPool(), x509.NewCertPool()
			roots.AddCert(root)
			inter.AddCert(hw)
			chains, err := hsm.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, CurrentTime: start, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}})
			if err != nil {
				t.Fatalf("HsmCertificate does not chain to ManufacturerHardwareCertificate: %v", err)
			}
			if len(chains) != 1 || len(chains[0]) != 3 || !chains[0][1].Equal(hw) || !chains[0][2].Equal(root) {
				t.Errorf("chain is not HSM → AWS hardware → manufacturer: %v", chains)
			}
			if err := hsm.CheckSignatureFrom(hw); err != nil {
				t.Errorf("HsmCertificate is not signed by AwsHardwareCertificate: %v", err)
			}
			if k, ok := hsm.PublicKey.(*ecdsa.PublicKey); !ok || !k.Equal(csr.PublicKey) {
				t.Errorf("HsmCertificate is not for the cluster key of the CSR")
			}
		}},
		{name: "InitializeCluster: INITIALIZE_IN_PROGRESS with StateMessage, then INITIALIZED with ClusterCertificate and no CSR", run: func(t *testing.T, e *env, c *cloudhsmv2.Client) {
			cl, csrPEM := clusterWithCSR(t, c, nil)
			id := aws.ToString(cl.ClusterId)
			ca := newCustomerCA(t)
			signed := ca.sign(t, csrPEM)
			out, err := c.InitializeCluster(ctx, &cloudhsmv2.InitializeClusterInput{ClusterId: &id, SignedCert: &signed, TrustAnchor: &ca.pem})
			if err != nil {
				t.Fatal(err)
			}
			if out.State != types.ClusterStateInitializeInProgress || aws.ToString(out.StateMessage) == "" {
				t.Errorf("response State %s, StateMessage %q", out.State, aws.ToString(out.StateMessage))
			}
			got := describeCluster(t, c, id)
			if got.State != types.ClusterStateInitialized {
				t.Errorf("State %s, want INITIALIZED", got.State)
			}
			if got.Certificates == nil || aws.ToString(got.Certificates.ClusterCertificate) != signed || got.Certificates.ClusterCsr != nil {
				t.Errorf("Certificates %+v: want ClusterCertificate = the signed certificate and no ClusterCsr", got.Certificates)
			}
		}},
		{name: "InitializeCluster on an INITIALIZED cluster is CloudHsmInvalidRequestException", run: func(t *testing.T, e *env, c *cloudhsmv2.Client) {
			id := e.initializedCluster(t, c)
			ca := newCustomerCA(t)
			err := initialize(c, id, ca.pem, ca.pem)
			wantAPIErrorContaining(t, err, "CloudHsmInvalidRequestException", 400, "INITIALIZED")
		}},
		{name: "InitializeCluster on a cluster without an HSM is CloudHsmInvalidRequestException", run: func(t *testing.T, e *env, c *cloudhsmv2.Client) {
			cl := mustCreateCluster(t, c, nil)
			ca := newCustomerCA(t)
			err := initialize(c, aws.ToString(cl.ClusterId), ca.pem, ca.pem)
			wantAPIErrorContaining(t, err, "CloudHsmInvalidRequestException", 400, "HSM")
		}},
		{name: "InitializeCluster after the only HSM was deleted is CloudHsmInvalidRequestException", run: func(t *testing.T, e *env, c *cloudhsmv2.Client) {
			cl, csrPEM := clusterWithCSR(t, c, nil)
			id := aws.ToString(cl.ClusterId)
			if _, err := c.DeleteHsm(ctx, &cloudhsmv2.DeleteHsmInput{ClusterId: &id, HsmId: cl.Hsms[0].HsmId}); err != nil {
				t.Fatal(err)
			}
			ca := newCustomerCA(t)
			err := initialize(c, id, ca.sign(t, csrPEM), ca.pem)
			wantAPIErrorContaining(t, err, "CloudHsmInvalidRequestException", 400, "ACTIVE HSM")
		}},
		{name: "InitializeCluster with a SignedCert that is not a certificate is CloudHsmInvalidRequestException", run: func(t *testing.T, e *env, c *cloudhsmv2.Client) {
			cl, _ := clusterWithCSR(t, c, nil)
			ca := newCustomerCA(t)
			err := initialize(c, aws.ToString(cl.ClusterId), "not a certificate", ca.pem)
			wantAPIErrorContaining(t, err, "CloudHsmInvalidRequestException", 400, "SignedCert is not a PEM-encoded X.509 certificate")
		}},
		{name: "InitializeCluster with a certificate for another key is CloudHsmInvalidRequestException", run: func(t *testing.T, e *env, c *cloudhsmv2.Client) {
			cl, _ := clusterWithCSR(t, c, nil)
			ca := newCustomerCA(t)
			other, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
			if err != nil {
				t.Fatal(err)
			}
			cert := ca.issueFor(t, &other.PublicKey, start.Add(-time.Hour), start.AddDate(1, 0, 0))
			err = initialize(c, aws.ToString(cl.ClusterId), cert, ca.pem)
			wantAPIErrorContaining(t, err, "CloudHsmInvalidRequestException", 400, "SignedCert was not issued for the cluster's CSR")
		}},
		{name: "InitializeCluster with a TrustAnchor that is not the issuer is CloudHsmInvalidRequestException", run: func(t *testing.T, e *env, c *cloudhsmv2.Client) {
			cl, csrPEM := clusterWithCSR(t, c, nil)
			ca, stranger := newCustomerCA(t), newCustomerCA(t)
			err := initialize(c, aws.ToString(cl.ClusterId), ca.sign(t, csrPEM), stranger.pem)
			wantAPIErrorContaining(t, err, "CloudHsmInvalidRequestException", 400, "SignedCert does not chain to TrustAnchor")
		}},
		{name: "InitializeCluster with an expired certificate is CloudHsmInvalidRequestException", run: func(t *testing.T, e *env, c *cloudhsmv2.Client) {
			cl, csrPEM := clusterWithCSR(t, c, nil)
			ca := newCustomerCA(t)
			cert := ca.issueFor(t, parseCSRPEM(t, csrPEM).PublicKey, start.Add(-48*time.Hour), start.Add(-24*time.Hour))
			err := initialize(c, aws.ToString(cl.ClusterId), cert, ca.pem)
			wantAPIErrorContaining(t, err, "CloudHsmInvalidRequestException", 400, "SignedCert is not valid at")
			if got := describeCluster(t, c, aws.ToString(cl.ClusterId)); got.State != types.ClusterStateUninitialized {
				t.Errorf("a refused InitializeCluster changed the state to %s", got.State)
			}
		}},
		{name: "InitializeCluster of an unknown cluster is CloudHsmResourceNotFoundException", run: func(t *testing.T, e *env, c *cloudhsmv2.Client) {
			ca := newCustomerCA(t)
			err := initialize(c, "cluster-aaaaaaaaaaa", ca.pem, ca.pem)
			wantAPIError(t, err, "CloudHsmResourceNotFoundException", 400)
		}},
	}
	runClusterRules(t, rules)
}

// TestActivationRules pins docs/BEHAVIOUR.md §5 Activation and §9 POST clusters/<id>/activate.
func TestActivationRules(t *testing.T) {
	ctx := context.Background()
	activateStatus := func(t *testing.T, e *env, id string) string {
		t.Helper()
		_, err := e.admin.Call(ctx, http.MethodPost, "clusters/"+id+"/activate", nil)
		if err == nil {
			t.Fatalf("activating %s succeeded", id)
		}
		return err.Error()
	}
	rules := []clusterRule{
		{name: "INITIALIZED becomes ACTIVE and exactly one backup is taken", run: func(t *testing.T, e *env, c *cloudhsmv2.Client) {
			id := e.initializedCluster(t, c)
			var out struct {
				Cluster struct{ ClusterId, State string }
			}
			e.adminCall(http.MethodPost, "clusters/"+id+"/activate", nil, &out)
			if out.Cluster.ClusterId != id || out.Cluster.State != "ACTIVE" {
				t.Errorf("activate answered %+v", out)
			}
			if got := describeCluster(t, c, id); got.State != types.ClusterStateActive {
				t.Errorf("State %s, want ACTIVE", got.State)
			}
			backups := backupsOf(t, c, id)
			if len(backups) != 1 {
				t.Fatalf("%d backups, want 1", len(backups))
			}
			b := backups[0]
			if b.BackupState != types.BackupStateReady {
				t.Errorf("BackupState %s on the next read, want READY", b.BackupState)
			}
			if aws.ToString(b.ClusterId) != id || aws.ToString(b.HsmType) != "hsm2m.medium" || b.Mode != types.ClusterModeFips {
				t.Errorf("ClusterId %q, HsmType %q, Mode %s", aws.ToString(b.ClusterId), aws.ToString(b.HsmType), b.Mode)
			}
			if b.NeverExpires == nil || *b.NeverExpires || b.TagList == nil || len(b.TagList) != 0 {
				t.Errorf("NeverExpires %v, TagList %v; want false, []", b.NeverExpires, b.TagList)
			}
			if want := "arn:aws:cloudhsm:us-east-1:" + account1 + ":backup/" + aws.ToString(b.BackupId); aws.ToString(b.BackupArn) != want {
				t.Errorf("BackupArn %q, want %q", aws.ToString(b.BackupArn), want)
			}
			if !aws.ToTime(b.CreateTimestamp).Equal(start) {
				t.Errorf("CreateTimestamp %v, want %v", b.CreateTimestamp, start)
			}
		}},
		{name: "with a backup-create delay the activation backup is CREATE_IN_PROGRESS until it has passed",
			opts: []func(*options){withDelays(0, map[lifecycle.Transition]time.Duration{lifecycle.BackupCreate: 10 * time.Minute})},
			run: func(t *testing.T, e *env, c *cloudhsmv2.Client) {
				id := e.initializedCluster(t, c)
				e.adminCall(http.MethodPost, "clusters/"+id+"/activate", nil, nil)
				backups := backupsOf(t, c, id)
				if len(backups) != 1 || backups[0].BackupState != types.BackupStateCreateInProgress {
					t.Fatalf("backups after activation: %+v", backups)
				}
				e.advance(10*time.Minute - time.Second)
				if got := describeBackup(t, c, aws.ToString(backups[0].BackupId)); got.BackupState != types.BackupStateCreateInProgress {
					t.Errorf("before the delay: %s", got.BackupState)
				}
				e.advance(time.Second)
				if got := describeBackup(t, c, aws.ToString(backups[0].BackupId)); got.BackupState != types.BackupStateReady {
					t.Errorf("after the delay: %s", got.BackupState)
				}
			}},
		{name: "activating an UNINITIALIZED cluster is HTTP 409", run: func(t *testing.T, e *env, c *cloudhsmv2.Client) {
			cl := mustCreateCluster(t, c, nil)
			describeCluster(t, c, aws.ToString(cl.ClusterId))
			if msg := activateStatus(t, e, aws.ToString(cl.ClusterId)); !strings.Contains(msg, "(HTTP 409)") || !strings.Contains(msg, "UNINITIALIZED") {
				t.Errorf("error %q, want HTTP 409 naming UNINITIALIZED", msg)
			}
			if n := len(backupsOf(t, c, aws.ToString(cl.ClusterId))); n != 0 {
				t.Errorf("a refused activation took %d backups", n)
			}
		}},
		{name: "activating an ACTIVE cluster is HTTP 409", run: func(t *testing.T, e *env, c *cloudhsmv2.Client) {
			id, _ := e.activeCluster(t, c)
			if msg := activateStatus(t, e, id); !strings.Contains(msg, "(HTTP 409)") {
				t.Errorf("error %q, want HTTP 409", msg)
			}
		}},
		{name: "activating an unknown cluster is HTTP 404", run: func(t *testing.T, e *env, c *cloudhsmv2.Client) {
			if msg := activateStatus(t, e, "cluster-aaaaaaaaaaa"); !strings.Contains(msg, "(HTTP 404)") {
				t.Errorf("error %q, want HTTP 404", msg)
			}
		}},
	}
	runClusterRules(t, rules)
}

// TestTransitionDelayRules pins docs/BEHAVIOUR.md §3: each *_IN_PROGRESS state lasts its configured
// delay on the virtual clock, globally or per transition.
func TestTransitionDelayRules(t *testing.T) {
	ctx := context.Background()
	const delay = 10 * time.Minute
	slow := withDelays(delay, nil)
	clusterState := func(t *testing.T, c *cloudhsmv2.Client, id string) types.ClusterState {
		t.Helper()
		return describeCluster(t, c, id).State
	}
	// stays checks that a state lasts exactly d: unchanged just before, over at d.
	stays := func(t *testing.T, e *env, d time.Duration, read func() string, during, after string) {
		t.Helper()
		if got := read(); got != during {
			t.Fatalf("right after the call: %s, want %s", got, during)
		}
		e.advance(d - time.Second)
		if got := read(); got != during {
			t.Fatalf("1s before the delay is over: %s, want %s", got, during)
		}
		e.advance(time.Second)
		if got := read(); got != after {
			t.Fatalf("once the delay is over: %s, want %s", got, after)
		}
	}
	rules := []clusterRule{
		{name: "cluster create stays CREATE_IN_PROGRESS for the delay", opts: []func(*options){slow}, run: func(t *testing.T, e *env, c *cloudhsmv2.Client) {
			id := aws.ToString(mustCreateCluster(t, c, nil).ClusterId)
			stays(t, e, delay, func() string { return string(clusterState(t, c, id)) }, "CREATE_IN_PROGRESS", "UNINITIALIZED")
		}},
		{name: "HSM create stays CREATE_IN_PROGRESS for the delay, and the CSR waits for it", opts: []func(*options){slow}, run: func(t *testing.T, e *env, c *cloudhsmv2.Client) {
			cl := mustCreateCluster(t, c, nil)
			id := aws.ToString(cl.ClusterId)
			e.advance(delay)
			mustCreateHsm(t, c, id, firstZone(cl))
			stays(t, e, delay, func() string {
				got := describeCluster(t, c, id)
				hasCSR := got.Certificates != nil && got.Certificates.ClusterCsr != nil
				return fmt.Sprintf("%s csr=%t", got.Hsms[0].State, hasCSR)
			}, "CREATE_IN_PROGRESS csr=false", "ACTIVE csr=true")
		}},
		{name: "initialize stays INITIALIZE_IN_PROGRESS for the delay", opts: []func(*options){slow}, run: func(t *testing.T, e *env, c *cloudhsmv2.Client) {
			cl := mustCreateCluster(t, c, nil)
			id := aws.ToString(cl.ClusterId)
			e.advance(delay)
			mustCreateHsm(t, c, id, firstZone(cl))
			e.advance(delay)
			ca := newCustomerCA(t)
			csr := describeCluster(t, c, id).Certificates.ClusterCsr
			if _, err := c.InitializeCluster(ctx, &cloudhsmv2.InitializeClusterInput{ClusterId: &id, SignedCert: aws.String(ca.sign(t, *csr)), TrustAnchor: &ca.pem}); err != nil {
				t.Fatal(err)
			}
			stays(t, e, delay, func() string { return string(clusterState(t, c, id)) }, "INITIALIZE_IN_PROGRESS", "INITIALIZED")
		}},
		{name: "cluster delete stays DELETE_IN_PROGRESS for the delay", opts: []func(*options){slow}, run: func(t *testing.T, e *env, c *cloudhsmv2.Client) {
			id := aws.ToString(mustCreateCluster(t, c, nil).ClusterId)
			e.advance(delay)
			mustDeleteCluster(t, c, id)
			stays(t, e, delay, func() string { return string(clusterState(t, c, id)) }, "DELETE_IN_PROGRESS", "DELETED")
		}},
		{name: "HSM delete stays DELETE_IN_PROGRESS for the delay, then the HSM is gone", opts: []func(*options){slow}, run: func(t *testing.T, e *env, c *cloudhsmv2.Client) {
			cl := mustCreateCluster(t, c, nil)
			id := aws.ToString(cl.ClusterId)
			e.advance(delay)
			h := mustCreateHsm(t, c, id, firstZone(cl))
			e.advance(delay)
			if _, err := c.DeleteHsm(ctx, &cloudhsmv2.DeleteHsmInput{ClusterId: &id, HsmId: h.HsmId}); err != nil {
				t.Fatal(err)
			}
			stays(t, e, delay, func() string {
				got := describeCluster(t, c, id)
				if len(got.Hsms) == 0 {
					return "gone"
				}
				return string(got.Hsms[0].State)
			}, "DELETE_IN_PROGRESS", "gone")
		}},
		{name: "HSM-type change stays MODIFY_IN_PROGRESS for the delay", opts: []func(*options){slow}, run: func(t *testing.T, e *env, c *cloudhsmv2.Client) {
			cl := e.activeClusterOf(t, c, &cloudhsmv2.CreateClusterInput{HsmType: aws.String("hsm1.medium"), SubnetIds: subnets}, delay)
			id := aws.ToString(cl.ClusterId)
			if _, err := c.ModifyCluster(ctx, &cloudhsmv2.ModifyClusterInput{ClusterId: &id, HsmType: aws.String("hsm2m.medium")}); err != nil {
				t.Fatal(err)
			}
			stays(t, e, delay, func() string { return string(clusterState(t, c, id)) }, "MODIFY_IN_PROGRESS", "ACTIVE")
		}},
		{name: "a per-transition delay overrides the default: cluster-create 0",
			opts: []func(*options){withDelays(delay, map[lifecycle.Transition]time.Duration{lifecycle.ClusterCreate: 0})},
			run: func(t *testing.T, e *env, c *cloudhsmv2.Client) {
				id := aws.ToString(mustCreateCluster(t, c, nil).ClusterId)
				if got := clusterState(t, c, id); got != types.ClusterStateUninitialized {
					t.Errorf("State %s, want UNINITIALIZED at once", got)
				}
			}},
		{name: "a per-transition delay overrides the default: hsm-create 1h",
			opts: []func(*options){withDelays(delay, map[lifecycle.Transition]time.Duration{lifecycle.HSMCreate: time.Hour})},
			run: func(t *testing.T, e *env, c *cloudhsmv2.Client) {
				cl := mustCreateCluster(t, c, nil)
				id := aws.ToString(cl.ClusterId)
				e.advance(delay)
				mustCreateHsm(t, c, id, firstZone(cl))
				stays(t, e, time.Hour, func() string { return string(describeCluster(t, c, id).Hsms[0].State) }, "CREATE_IN_PROGRESS", "ACTIVE")
			}},
		{name: "an HSM that is ACTIVE before its cluster has finished creating still gives the cluster a CSR",
			opts: []func(*options){withDelays(delay, map[lifecycle.Transition]time.Duration{lifecycle.HSMCreate: time.Minute})},
			run: func(t *testing.T, e *env, c *cloudhsmv2.Client) {
				cl := mustCreateCluster(t, c, nil)
				id := aws.ToString(cl.ClusterId)
				mustCreateHsm(t, c, id, firstZone(cl))
				e.advance(delay)
				got := describeCluster(t, c, id)
				if got.State != types.ClusterStateUninitialized || got.Hsms[0].State != types.HsmStateActive {
					t.Fatalf("cluster %s, HSM %s", got.State, got.Hsms[0].State)
				}
				if got.Certificates == nil || got.Certificates.ClusterCsr == nil {
					t.Fatalf("an UNINITIALIZED cluster with an ACTIVE HSM has no CSR")
				}
				parseCSRPEM(t, *got.Certificates.ClusterCsr)
			}},
	}
	runClusterRules(t, rules)
}

// TestModifyClusterRules pins docs/BEHAVIOUR.md §5 ModifyCluster.
func TestModifyClusterRules(t *testing.T) {
	ctx := context.Background()
	hsm1 := &cloudhsmv2.CreateClusterInput{HsmType: aws.String("hsm1.medium"), SubnetIds: subnets}
	rules := []clusterRule{
		{name: "a retention change is returned and persisted", run: func(t *testing.T, e *env, c *cloudhsmv2.Client) {
			id := aws.ToString(mustCreateCluster(t, c, nil).ClusterId)
			out, err := c.ModifyCluster(ctx, &cloudhsmv2.ModifyClusterInput{ClusterId: &id,
				BackupRetentionPolicy: &types.BackupRetentionPolicy{Type: types.BackupRetentionTypeDays, Value: aws.String("30")}})
			if err != nil {
				t.Fatal(err)
			}
			if v := aws.ToString(out.Cluster.BackupRetentionPolicy.Value); v != "30" {
				t.Errorf("response retention %q", v)
			}
			if v := aws.ToString(describeCluster(t, c, id).BackupRetentionPolicy.Value); v != "30" {
				t.Errorf("persisted retention %q", v)
			}
		}},
		{name: "a retention out of 7–379 is CloudHsmInvalidRequestException", run: func(t *testing.T, e *env, c *cloudhsmv2.Client) {
			id := aws.ToString(mustCreateCluster(t, c, nil).ClusterId)
			_, err := c.ModifyCluster(ctx, &cloudhsmv2.ModifyClusterInput{ClusterId: &id,
				BackupRetentionPolicy: &types.BackupRetentionPolicy{Type: types.BackupRetentionTypeDays, Value: aws.String("500")}})
			wantAPIErrorContaining(t, err, "CloudHsmInvalidRequestException", 400, "BackupRetentionPolicy")
		}},
		{name: "nothing to modify is CloudHsmInvalidRequestException", run: func(t *testing.T, e *env, c *cloudhsmv2.Client) {
			id := aws.ToString(mustCreateCluster(t, c, nil).ClusterId)
			_, err := c.ModifyCluster(ctx, &cloudhsmv2.ModifyClusterInput{ClusterId: &id})
			wantAPIError(t, err, "CloudHsmInvalidRequestException", 400)
		}},
		{name: "HsmType hsm1.medium → hsm2m.medium on an ACTIVE cluster: backup first, MODIFY_IN_PROGRESS, then ACTIVE on the new type", run: func(t *testing.T, e *env, c *cloudhsmv2.Client) {
			cl := e.activeClusterOf(t, c, hsm1, 0)
			id := aws.ToString(cl.ClusterId)
			activation := backupsOf(t, c, id)
			e.advance(time.Minute)
			now := e.virtualNow(t)
			out, err := c.ModifyCluster(ctx, &cloudhsmv2.ModifyClusterInput{ClusterId: &id, HsmType: aws.String("hsm2m.medium")})
			if err != nil {
				t.Fatal(err)
			}
			if out.Cluster.State != types.ClusterStateModifyInProgress || aws.ToString(out.Cluster.HsmType) != "hsm2m.medium" {
				t.Errorf("response State %s, HsmType %q", out.Cluster.State, aws.ToString(out.Cluster.HsmType))
			}
			if exp := aws.ToTime(out.Cluster.HsmTypeRollbackExpiration); !exp.After(now) {
				t.Errorf("HsmTypeRollbackExpiration %v, want a time after %v", out.Cluster.HsmTypeRollbackExpiration, now)
			}
			backups := backupsOf(t, c, id)
			if len(backups) != len(activation)+1 {
				t.Fatalf("%d backups, want %d", len(backups), len(activation)+1)
			}
			pre := backups[len(backups)-1]
			if aws.ToString(pre.HsmType) != "hsm1.medium" || !aws.ToTime(pre.CreateTimestamp).Equal(now) {
				t.Errorf("backup taken before the change: HsmType %q at %v", aws.ToString(pre.HsmType), pre.CreateTimestamp)
			}
			got := describeCluster(t, c, id)
			if got.State != types.ClusterStateActive || aws.ToString(got.HsmType) != "hsm2m.medium" || got.HsmTypeRollbackExpiration == nil {
				t.Errorf("after the change: State %s, HsmType %q, HsmTypeRollbackExpiration %v", got.State, aws.ToString(got.HsmType), got.HsmTypeRollbackExpiration)
			}
			for _, h := range got.Hsms {
				if aws.ToString(h.HsmType) != "hsm2m.medium" {
					t.Errorf("HSM %s is on %q", aws.ToString(h.HsmId), aws.ToString(h.HsmType))
				}
			}
		}},
		{name: "daily backups are not taken while MODIFY_IN_PROGRESS, nor replayed afterwards with past timestamps",
			opts: []func(*options){withDelays(0, map[lifecycle.Transition]time.Duration{lifecycle.ClusterModify: 50 * time.Hour})},
			run: func(t *testing.T, e *env, c *cloudhsmv2.Client) {
				cl := e.activeClusterOf(t, c, hsm1, 0)
				id := aws.ToString(cl.ClusterId)
				activated := e.virtualNow(t)
				if _, err := c.ModifyCluster(ctx, &cloudhsmv2.ModifyClusterInput{ClusterId: &id, HsmType: aws.String("hsm2m.medium")}); err != nil {
					t.Fatal(err)
				}
				before := backupsOf(t, c, id) // the activation backup and the one before the change
				e.advance(50 * time.Hour)
				if got := describeCluster(t, c, id); got.State != types.ClusterStateActive {
					t.Fatalf("State %s after the change, want ACTIVE", got.State)
				}
				if added := newBackups(before, backupsOf(t, c, id)); len(added) != 0 {
					t.Errorf("backups taken for instants while MODIFY_IN_PROGRESS: %v", backupTimes(added))
				}
				e.advance(22 * time.Hour) // to activation + 72h: the schedule is still counted from activation
				added := newBackups(before, backupsOf(t, c, id))
				if len(added) != 1 || !aws.ToTime(added[0].CreateTimestamp).Equal(activated.Add(72*time.Hour)) {
					t.Errorf("daily backups after the change at %v, want one at %v", backupTimes(added), activated.Add(72*time.Hour))
				}
			}},
		{name: "an HsmType change on a cluster that is not ACTIVE is CloudHsmInvalidRequestException", run: func(t *testing.T, e *env, c *cloudhsmv2.Client) {
			id := aws.ToString(mustCreateCluster(t, c, hsm1).ClusterId)
			_, err := c.ModifyCluster(ctx, &cloudhsmv2.ModifyClusterInput{ClusterId: &id, HsmType: aws.String("hsm2m.medium")})
			wantAPIErrorContaining(t, err, "CloudHsmInvalidRequestException", 400, "UNINITIALIZED")
			if got := describeCluster(t, c, id); aws.ToString(got.HsmType) != "hsm1.medium" {
				t.Errorf("a refused change left HsmType %q", aws.ToString(got.HsmType))
			}
		}},
		{name: "HsmType hsm2m.medium → hsm1.medium is CloudHsmInvalidRequestException", run: func(t *testing.T, e *env, c *cloudhsmv2.Client) {
			id, _ := e.activeCluster(t, c)
			_, err := c.ModifyCluster(ctx, &cloudhsmv2.ModifyClusterInput{ClusterId: &id, HsmType: aws.String("hsm1.medium")})
			wantAPIErrorContaining(t, err, "CloudHsmInvalidRequestException", 400, "hsm1.medium")
			if n := len(backupsOf(t, c, id)); n != 1 {
				t.Errorf("a refused change took a backup: %d backups", n)
			}
		}},
		{name: "ModifyCluster of a DELETED cluster is CloudHsmInvalidRequestException", run: func(t *testing.T, e *env, c *cloudhsmv2.Client) {
			id := aws.ToString(mustCreateCluster(t, c, nil).ClusterId)
			mustDeleteCluster(t, c, id)
			_, err := c.ModifyCluster(ctx, &cloudhsmv2.ModifyClusterInput{ClusterId: &id,
				BackupRetentionPolicy: &types.BackupRetentionPolicy{Type: types.BackupRetentionTypeDays, Value: aws.String("30")}})
			wantAPIErrorContaining(t, err, "CloudHsmInvalidRequestException", 400, "DELETED")
		}},
		{name: "ModifyCluster of an unknown cluster is CloudHsmResourceNotFoundException", run: func(t *testing.T, e *env, c *cloudhsmv2.Client) {
			_, err := c.ModifyCluster(ctx, &cloudhsmv2.ModifyClusterInput{ClusterId: aws.String("cluster-aaaaaaaaaaa"), HsmType: aws.String("hsm2m.medium")})
			wantAPIError(t, err, "CloudHsmResourceNotFoundException", 400)
		}},
	}
	runClusterRules(t, rules)
}

// TestDeleteClusterRules pins docs/BEHAVIOUR.md §5 DeleteCluster.
func TestDeleteClusterRules(t *testing.T) {
	ctx := context.Background()
	rules := []clusterRule{
		{name: "a cluster with HSMs is CloudHsmInvalidRequestException", run: func(t *testing.T, e *env, c *cloudhsmv2.Client) {
			id, _ := e.activeCluster(t, c)
			_, err := c.DeleteCluster(ctx, &cloudhsmv2.DeleteClusterInput{ClusterId: &id})
			wantAPIErrorContaining(t, err, "CloudHsmInvalidRequestException", 400, "HSM")
		}},
		{name: "DELETE_IN_PROGRESS, then DELETED for the 7-day tombstone, then gone; its backups stay", run: func(t *testing.T, e *env, c *cloudhsmv2.Client) {
			id, _ := e.activeCluster(t, c)
			cl := describeCluster(t, c, id)
			if _, err := c.DeleteHsm(ctx, &cloudhsmv2.DeleteHsmInput{ClusterId: &id, HsmId: cl.Hsms[0].HsmId}); err != nil {
				t.Fatal(err)
			}
			backups := backupsOf(t, c, id)
			if out := mustDeleteCluster(t, c, id); out.State != types.ClusterStateDeleteInProgress {
				t.Errorf("response State %s, want DELETE_IN_PROGRESS", out.State)
			}
			if got := describeCluster(t, c, id); got.State != types.ClusterStateDeleted {
				t.Errorf("State %s, want DELETED", got.State)
			}
			e.advance(week - time.Second)
			if got := listClusters(t, c, nil); len(got) != 1 || got[0].State != types.ClusterStateDeleted {
				t.Errorf("just before the tombstone ends: %v", clusterIDs(got))
			}
			e.advance(time.Second)
			if got := listClusters(t, c, nil); len(got) != 0 {
				t.Errorf("after the tombstone: still listed %v", clusterIDs(got))
			}
			_, err := c.DeleteCluster(ctx, &cloudhsmv2.DeleteClusterInput{ClusterId: &id})
			wantAPIError(t, err, "CloudHsmResourceNotFoundException", 400)
			after := backupsOf(t, c, id)
			if len(backups) != 2 || len(after) != len(backups) {
				t.Errorf("backups of the cluster: %d before, %d after it is gone; want 2 and 2", len(backups), len(after))
			}
		}},
		{name: "deleting a DELETED cluster is CloudHsmInvalidRequestException", run: func(t *testing.T, e *env, c *cloudhsmv2.Client) {
			id := aws.ToString(mustCreateCluster(t, c, nil).ClusterId)
			mustDeleteCluster(t, c, id)
			_, err := c.DeleteCluster(ctx, &cloudhsmv2.DeleteClusterInput{ClusterId: &id})
			wantAPIErrorContaining(t, err, "CloudHsmInvalidRequestException", 400, "DELETED")
		}},
		{name: "deleting a DELETE_IN_PROGRESS cluster is CloudHsmInvalidRequestException",
			opts: []func(*options){withDelays(0, map[lifecycle.Transition]time.Duration{lifecycle.ClusterDelete: time.Hour})},
			run: func(t *testing.T, e *env, c *cloudhsmv2.Client) {
				id := aws.ToString(mustCreateCluster(t, c, nil).ClusterId)
				mustDeleteCluster(t, c, id)
				_, err := c.DeleteCluster(ctx, &cloudhsmv2.DeleteClusterInput{ClusterId: &id})
				wantAPIErrorContaining(t, err, "CloudHsmInvalidRequestException", 400, "DELETE_IN_PROGRESS")
			}},
		{name: "an unknown cluster is CloudHsmResourceNotFoundException", run: func(t *testing.T, e *env, c *cloudhsmv2.Client) {
			_, err := c.DeleteCluster(ctx, &cloudhsmv2.DeleteClusterInput{ClusterId: aws.String("cluster-aaaaaaaaaaa")})
			wantAPIError(t, err, "CloudHsmResourceNotFoundException", 400)
		}},
		{name: "no daily backups while DELETE_IN_PROGRESS",
			opts: []func(*options){withDelays(0, map[lifecycle.Transition]time.Duration{lifecycle.ClusterDelete: 72 * time.Hour})},
			run: func(t *testing.T, e *env, c *cloudhsmv2.Client) {
				id, _ := e.activeCluster(t, c)
				cl := describeCluster(t, c, id)
				if _, err := c.DeleteHsm(ctx, &cloudhsmv2.DeleteHsmInput{ClusterId: &id, HsmId: cl.Hsms[0].HsmId}); err != nil {
					t.Fatal(err)
				}
				before := len(backupsOf(t, c, id))
				mustDeleteCluster(t, c, id)
				e.advance(72 * time.Hour)
				if got := describeCluster(t, c, id); got.State != types.ClusterStateDeleted {
					t.Fatalf("State %s, want DELETED", got.State)
				}
				if after := len(backupsOf(t, c, id)); after != before {
					t.Errorf("%d backups were taken while the cluster was being deleted", after-before)
				}
			}},
	}
	runClusterRules(t, rules)
}

// TestDescribeClustersRules pins docs/BEHAVIOUR.md §5 DescribeClusters and §8 NextToken.
func TestDescribeClustersRules(t *testing.T) {
	ctx := context.Background()
	hsm2m := aws.String("hsm2m.medium")
	rules := []clusterRule{
		{name: "filter clusterIds selects the named clusters", run: func(t *testing.T, e *env, c *cloudhsmv2.Client) {
			a := aws.ToString(mustCreateCluster(t, c, nil).ClusterId)
			mustCreateCluster(t, c, nil)
			b := aws.ToString(mustCreateCluster(t, c, nil).ClusterId)
			got := clusterIDs(listClusters(t, c, map[string][]string{"clusterIds": {b, a, "cluster-aaaaaaaaaaa"}}))
			slices.Sort(got)
			want := []string{a, b}
			slices.Sort(want)
			if !slices.Equal(got, want) {
				t.Errorf("got %v, want %v", got, want)
			}
		}},
		{name: "filter vpcIds selects the clusters of those VPCs", opts: []func(*options){withTopologyFile(testTopology)}, run: func(t *testing.T, e *env, c *cloudhsmv2.Client) {
			a := aws.ToString(mustCreateCluster(t, c, &cloudhsmv2.CreateClusterInput{HsmType: hsm2m, SubnetIds: []string{topoA1, topoA2}}).ClusterId)
			e.advance(time.Second) // a is the older
			b := aws.ToString(mustCreateCluster(t, c, &cloudhsmv2.CreateClusterInput{HsmType: hsm2m, SubnetIds: []string{topoB1}}).ClusterId)
			if got := clusterIDs(listClusters(t, c, map[string][]string{"vpcIds": {vpcB}})); !slices.Equal(got, []string{b}) {
				t.Errorf("vpcIds %s: %v, want [%s]", vpcB, got, b)
			}
			if got := clusterIDs(listClusters(t, c, map[string][]string{"vpcIds": {vpcA, vpcB}})); !slices.Equal(got, []string{a, b}) {
				t.Errorf("vpcIds both: %v, want [%s %s]", got, a, b)
			}
		}},
		{name: "filter states selects the clusters in those states; keys combine with AND", run: func(t *testing.T, e *env, c *cloudhsmv2.Client) {
			a := aws.ToString(mustCreateCluster(t, c, nil).ClusterId)
			b := aws.ToString(mustCreateCluster(t, c, nil).ClusterId)
			mustDeleteCluster(t, c, b)
			if got := clusterIDs(listClusters(t, c, map[string][]string{"states": {"DELETED"}})); !slices.Equal(got, []string{b}) {
				t.Errorf("states DELETED: %v, want [%s]", got, b)
			}
			if got := clusterIDs(listClusters(t, c, map[string][]string{"states": {"UNINITIALIZED", "DELETED"}})); len(got) != 2 {
				t.Errorf("states UNINITIALIZED or DELETED: %v", got)
			}
			if got := clusterIDs(listClusters(t, c, map[string][]string{"states": {"DELETED"}, "clusterIds": {a}})); len(got) != 0 {
				t.Errorf("DELETED and %s: %v, want none", a, got)
			}
		}},
		{name: "a filter value that is not valid is CloudHsmInvalidRequestException", run: func(t *testing.T, e *env, c *cloudhsmv2.Client) {
			_, err := c.DescribeClusters(ctx, &cloudhsmv2.DescribeClustersInput{Filters: map[string][]string{"states": {"SLEEPING"}}})
			wantAPIErrorContaining(t, err, "CloudHsmInvalidRequestException", 400, "SLEEPING")
		}},
		{name: "an unknown filter key is CloudHsmInvalidRequestException", run: func(t *testing.T, e *env, c *cloudhsmv2.Client) {
			_, err := c.DescribeClusters(ctx, &cloudhsmv2.DescribeClustersInput{Filters: map[string][]string{"hsmIds": {"hsm-aaaaaaaaaaa"}}})
			wantAPIErrorContaining(t, err, "CloudHsmInvalidRequestException", 400, "hsmIds")
		}},
		{name: "clusters are listed oldest first", run: func(t *testing.T, e *env, c *cloudhsmv2.Client) {
			var want []string
			for range 4 {
				want = append(want, aws.ToString(mustCreateCluster(t, c, nil).ClusterId))
				e.advance(time.Second)
			}
			if got := clusterIDs(listClusters(t, c, nil)); !slices.Equal(got, want) {
				t.Errorf("order %v, want %v", got, want)
			}
		}},
		{name: "MaxResults 0 is CloudHsmInvalidRequestException with AWS's range message", run: func(t *testing.T, e *env, c *cloudhsmv2.Client) {
			_, err := c.DescribeClusters(ctx, &cloudhsmv2.DescribeClustersInput{MaxResults: aws.Int32(0)})
			wantAPIErrorMessage(t, err, "CloudHsmInvalidRequestException", 400,
				"1 validation error detected: Value '0' at 'maxResults' failed to satisfy constraint: Member must have value greater than or equal to 1")
		}},
		{name: "MaxResults 26 is CloudHsmInvalidRequestException with AWS's range message", run: func(t *testing.T, e *env, c *cloudhsmv2.Client) {
			_, err := c.DescribeClusters(ctx, &cloudhsmv2.DescribeClustersInput{MaxResults: aws.Int32(26)})
			wantAPIErrorMessage(t, err, "CloudHsmInvalidRequestException", 400,
				"1 validation error detected: Value '26' at 'maxResults' failed to satisfy constraint: Member must have value less than or equal to 25")
		}},
		{name: "MaxResults defaults to 25; 1 and 25 are accepted", run: func(t *testing.T, e *env, c *cloudhsmv2.Client) {
			for range 26 {
				mustCreateCluster(t, c, nil)
			}
			for _, tc := range []struct {
				max  *int32
				want int
			}{{nil, 25}, {aws.Int32(1), 1}, {aws.Int32(25), 25}} {
				out, err := c.DescribeClusters(ctx, &cloudhsmv2.DescribeClustersInput{MaxResults: tc.max})
				if err != nil {
					t.Fatal(err)
				}
				if len(out.Clusters) != tc.want || out.NextToken == nil {
					t.Errorf("MaxResults %v: %d clusters, NextToken %v; want %d and a token", tc.max, len(out.Clusters), out.NextToken, tc.want)
				}
			}
		}},
		{name: "the SDK paginator visits each of 30 clusters once, oldest first", run: func(t *testing.T, e *env, c *cloudhsmv2.Client) {
			type key struct {
				at time.Time
				id string
			}
			var created []key
			for i := range 30 {
				cl := mustCreateCluster(t, c, nil)
				created = append(created, key{aws.ToTime(cl.CreateTimestamp), aws.ToString(cl.ClusterId)})
				if i%4 == 3 { // groups of clusters created at the same instant: ties are ordered by ID
					e.advance(time.Second)
				}
			}
			slices.SortFunc(created, func(a, b key) int {
				if c := a.at.Compare(b.at); c != 0 {
					return c
				}
				return strings.Compare(a.id, b.id)
			})
			var want, got []string
			for _, k := range created {
				want = append(want, k.id)
			}
			pages := 0
			p := cloudhsmv2.NewDescribeClustersPaginator(c, &cloudhsmv2.DescribeClustersInput{MaxResults: aws.Int32(7)})
			for p.HasMorePages() {
				page, err := p.NextPage(ctx)
				if err != nil {
					t.Fatal(err)
				}
				pages++
				got = append(got, clusterIDs(page.Clusters)...)
			}
			if pages != 5 || !slices.Equal(got, want) {
				t.Errorf("%d pages, order\n got %v\nwant %v", pages, got, want)
			}
		}},
		{name: "a NextToken stays correct while other requests create and delete clusters", run: func(t *testing.T, e *env, c *cloudhsmv2.Client) {
			var want []string
			for range 5 {
				want = append(want, aws.ToString(mustCreateCluster(t, c, nil).ClusterId))
				e.advance(time.Second)
			}
			first, err := c.DescribeClusters(ctx, &cloudhsmv2.DescribeClustersInput{MaxResults: aws.Int32(2)})
			if err != nil || first.NextToken == nil {
				t.Fatalf("first page: %v, %v", first, err)
			}
			mustDeleteCluster(t, c, want[0])                                          // already seen
			want = append(want, aws.ToString(mustCreateCluster(t, c, nil).ClusterId)) // the newest: listed last
			got := clusterIDs(first.Clusters)
			p := cloudhsmv2.NewDescribeClustersPaginator(c, &cloudhsmv2.DescribeClustersInput{MaxResults: aws.Int32(2), NextToken: first.NextToken})
			for p.HasMorePages() {
				page, err := p.NextPage(ctx)
				if err != nil {
					t.Fatal(err)
				}
				got = append(got, clusterIDs(page.Clusters)...)
			}
			if !slices.Equal(got, want) {
				t.Errorf("visited\n got %v\nwant %v", got, want)
			}
		}},
		{name: "a NextToken from another filter set is CloudHsmInvalidRequestException", run: func(t *testing.T, e *env, c *cloudhsmv2.Client) {
			for range 3 {
				mustCreateCluster(t, c, nil)
			}
			out, err := c.DescribeClusters(ctx, &cloudhsmv2.DescribeClustersInput{MaxResults: aws.Int32(1), Filters: map[string][]string{"states": {"UNINITIALIZED"}}})
			if err != nil || out.NextToken == nil {
				t.Fatalf("first page: %v, %v", out, err)
			}
			_, err = c.DescribeClusters(ctx, &cloudhsmv2.DescribeClustersInput{MaxResults: aws.Int32(1), NextToken: out.NextToken})
			wantAPIErrorContaining(t, err, "CloudHsmInvalidRequestException", 400, "NextToken")
			_, err = e.client(account2, "us-east-1").DescribeClusters(ctx, &cloudhsmv2.DescribeClustersInput{MaxResults: aws.Int32(1),
				Filters: map[string][]string{"states": {"UNINITIALIZED"}}, NextToken: out.NextToken})
			wantAPIErrorContaining(t, err, "CloudHsmInvalidRequestException", 400, "NextToken")
		}},
		{name: "a tampered NextToken is CloudHsmInvalidRequestException", run: func(t *testing.T, e *env, c *cloudhsmv2.Client) {
			for range 3 {
				mustCreateCluster(t, c, nil)
			}
			out, err := c.DescribeClusters(ctx, &cloudhsmv2.DescribeClustersInput{MaxResults: aws.Int32(1)})
			if err != nil || out.NextToken == nil {
				t.Fatalf("first page: %v, %v", out, err)
			}
			tok := *out.NextToken
			tampered := "x" + tok[1:]
			if tok[0] == 'x' {
				tampered = "y" + tok[1:]
			}
			_, err = c.DescribeClusters(ctx, &cloudhsmv2.DescribeClustersInput{MaxResults: aws.Int32(1), NextToken: &tampered})
			wantAPIErrorContaining(t, err, "CloudHsmInvalidRequestException", 400, "NextToken")
		}},
	}
	runClusterRules(t, rules)
}

// TestClusterIsolationRules pins docs/BEHAVIOUR.md §1 and §2: clusters of one account and region are
// invisible to other accounts and regions, and their IDs are simply not found there.
func TestClusterIsolationRules(t *testing.T) {
	ctx := context.Background()
	for _, other := range []struct{ name, account, region string }{
		{"another account does not see the cluster", account2, "us-east-1"},
		{"the same account in another region does not see the cluster", account1, "eu-west-1"},
	} {
		t.Run(other.name, func(t *testing.T) {
			e := newEnv(t)
			id, _ := e.activeCluster(t, e.defaultClient())
			c := e.client(other.account, other.region)
			if got := listClusters(t, c, nil); len(got) != 0 {
				t.Errorf("DescribeClusters lists %v", clusterIDs(got))
			}
			if got := listClusters(t, c, map[string][]string{"clusterIds": {id}}); len(got) != 0 {
				t.Errorf("DescribeClusters clusterIds lists %v", clusterIDs(got))
			}
			_, err := c.CreateHsm(ctx, &cloudhsmv2.CreateHsmInput{ClusterId: &id, AvailabilityZone: aws.String("us-east-1a")})
			wantAPIError(t, err, "CloudHsmResourceNotFoundException", 400)
			_, err = c.DeleteHsm(ctx, &cloudhsmv2.DeleteHsmInput{ClusterId: &id, EniIp: aws.String("10.0.0.4")})
			wantAPIError(t, err, "CloudHsmResourceNotFoundException", 400)
			_, err = c.ModifyCluster(ctx, &cloudhsmv2.ModifyClusterInput{ClusterId: &id, BackupRetentionPolicy: &types.BackupRetentionPolicy{Value: aws.String("30")}})
			wantAPIError(t, err, "CloudHsmResourceNotFoundException", 400)
			_, err = c.InitializeCluster(ctx, &cloudhsmv2.InitializeClusterInput{ClusterId: &id, SignedCert: aws.String("x"), TrustAnchor: aws.String("x")})
			wantAPIError(t, err, "CloudHsmResourceNotFoundException", 400)
			_, err = c.DeleteCluster(ctx, &cloudhsmv2.DeleteClusterInput{ClusterId: &id})
			wantAPIError(t, err, "CloudHsmResourceNotFoundException", 400)
			if got := describeCluster(t, e.defaultClient(), id); got.State != types.ClusterStateActive || len(got.Hsms) != 1 {
				t.Errorf("the owner's cluster changed: %s with %d HSMs", got.State, len(got.Hsms))
			}
		})
	}
}
