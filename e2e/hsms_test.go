package e2e

import (
	"context"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudhsmv2"
	"github.com/aws/aws-sdk-go-v2/service/cloudhsmv2/types"

	"github.com/cloudhsm-local/cloudhsm-local/internal/lifecycle"
	"github.com/cloudhsm-local/cloudhsm-local/internal/service"
)

// newBackups returns the backups of a cluster that are not in before, by ID.
func newBackups(before, after []types.Backup) []types.Backup {
	var out []types.Backup
	for _, b := range after {
		if !slices.ContainsFunc(before, func(o types.Backup) bool { return aws.ToString(o.BackupId) == aws.ToString(b.BackupId) }) {
			out = append(out, b)
		}
	}
	return out
}

// backupTimes lists the CreateTimestamps of backups, for messages.
func backupTimes(bs []types.Backup) []time.Time {
	out := make([]time.Time, len(bs))
	for i, b := range bs {
		out[i] = aws.ToTime(b.CreateTimestamp)
	}
	return out
}

// eniAddr parses an HSM's EniIp and checks it is an address AWS could give an ENI of a
// 10.x.y.0/24 subnet: IPv4 in 10.0.0.0/8, past the four addresses AWS reserves.
func eniAddr(t *testing.T, h types.Hsm) netip.Addr {
	t.Helper()
	ip, err := netip.ParseAddr(aws.ToString(h.EniIp))
	if err != nil || !ip.Is4() || !netip.MustParsePrefix("10.0.0.0/8").Contains(ip) || ip.As4()[3] < 4 || ip.As4()[3] == 255 {
		t.Fatalf("EniIp %q is not a usable address of a 10.x.y.0/24 subnet", aws.ToString(h.EniIp))
	}
	return ip
}

// TestCreateHsmRules pins docs/BEHAVIOUR.md §5 CreateHsm, its quota, and the backups HSM changes take.
func TestCreateHsmRules(t *testing.T) {
	ctx := context.Background()
	createHsm := func(c *cloudhsmv2.Client, clusterID, az string, ip *string) error {
		_, err := c.CreateHsm(ctx, &cloudhsmv2.CreateHsmInput{ClusterId: &clusterID, AvailabilityZone: &az, IpAddress: ip})
		return err
	}
	rules := []clusterRule{
		{name: "an HSM gets HsmId, EniId, EniIp in its subnet, SubnetId and HsmType of the cluster; CREATE_IN_PROGRESS then ACTIVE", run: func(t *testing.T, e *env, c *cloudhsmv2.Client) {
			cl := mustCreateCluster(t, c, nil)
			id := aws.ToString(cl.ClusterId)
			const az = "us-east-1b"
			h := mustCreateHsm(t, c, id, az)
			if !hsmIDRe.MatchString(aws.ToString(h.HsmId)) || !eniIDRe.MatchString(aws.ToString(h.EniId)) {
				t.Errorf("HsmId %q, EniId %q do not match %s, %s", aws.ToString(h.HsmId), aws.ToString(h.EniId), hsmIDRe, eniIDRe)
			}
			eniAddr(t, *h)
			if aws.ToString(h.ClusterId) != id || aws.ToString(h.AvailabilityZone) != az || aws.ToString(h.SubnetId) != cl.SubnetMapping[az] {
				t.Errorf("ClusterId %q, AvailabilityZone %q, SubnetId %q; want %s, %s, %s",
					aws.ToString(h.ClusterId), aws.ToString(h.AvailabilityZone), aws.ToString(h.SubnetId), id, az, cl.SubnetMapping[az])
			}
			if aws.ToString(h.HsmType) != aws.ToString(cl.HsmType) {
				t.Errorf("HsmType %q, want the cluster's %q", aws.ToString(h.HsmType), aws.ToString(cl.HsmType))
			}
			if h.State != types.HsmStateCreateInProgress {
				t.Errorf("State %s in the response, want CREATE_IN_PROGRESS", h.State)
			}
			got := describeCluster(t, c, id)
			if len(got.Hsms) != 1 {
				t.Fatalf("%d HSMs listed", len(got.Hsms))
			}
			d := got.Hsms[0]
			if d.State != types.HsmStateActive {
				t.Errorf("State %s on the next read, want ACTIVE", d.State)
			}
			if aws.ToString(d.HsmId) != aws.ToString(h.HsmId) || aws.ToString(d.EniId) != aws.ToString(h.EniId) || aws.ToString(d.EniIp) != aws.ToString(h.EniIp) {
				t.Errorf("described HSM %+v differs from the created one %+v", d, *h)
			}
		}},
		{name: "HSMs of one subnet get distinct addresses in the same /24", run: func(t *testing.T, e *env, c *cloudhsmv2.Client) {
			id, _ := e.activeCluster(t, c)
			cl := describeCluster(t, c, id)
			az := aws.ToString(cl.Hsms[0].AvailabilityZone)
			mustCreateHsm(t, c, id, az)
			got := describeCluster(t, c, id)
			a, b := eniAddr(t, got.Hsms[0]), eniAddr(t, got.Hsms[1])
			pa, _ := a.Prefix(24)
			if a == b || !pa.Contains(b) {
				t.Errorf("EniIps %s and %s: want distinct addresses of one /24", a, b)
			}
		}},
		{name: "automatic addresses are distinct in a subnet that two clusters share", run: func(t *testing.T, e *env, c *cloudhsmv2.Client) {
			a := aws.ToString(mustCreateCluster(t, c, nil).ClusterId)
			b := aws.ToString(mustCreateCluster(t, c, nil).ClusterId)
			ha, hb := mustCreateHsm(t, c, a, "us-east-1a"), mustCreateHsm(t, c, b, "us-east-1a")
			if aws.ToString(ha.SubnetId) != aws.ToString(hb.SubnetId) || aws.ToString(ha.EniIp) == aws.ToString(hb.EniIp) {
				t.Errorf("HSMs in %s and %s: EniIps %s and %s", aws.ToString(ha.SubnetId), aws.ToString(hb.SubnetId), aws.ToString(ha.EniIp), aws.ToString(hb.EniIp))
			}
		}},
		{name: "a free IpAddress of the subnet that is given is used", run: func(t *testing.T, e *env, c *cloudhsmv2.Client) {
			id, _ := e.activeCluster(t, c)
			first := describeCluster(t, c, id).Hsms[0]
			b := eniAddr(t, first).As4()
			b[3] = 200
			want := netip.AddrFrom4(b).String()
			out, err := c.CreateHsm(ctx, &cloudhsmv2.CreateHsmInput{ClusterId: &id, AvailabilityZone: first.AvailabilityZone, IpAddress: &want})
			if err != nil {
				t.Fatal(err)
			}
			if aws.ToString(out.Hsm.EniIp) != want {
				t.Errorf("EniIp %q, want %q", aws.ToString(out.Hsm.EniIp), want)
			}
		}},
		{name: "an AvailabilityZone that is not one of the cluster's is CloudHsmInvalidRequestException", run: func(t *testing.T, e *env, c *cloudhsmv2.Client) {
			cl := mustCreateCluster(t, c, nil)
			err := createHsm(c, aws.ToString(cl.ClusterId), "us-east-1f", nil)
			wantAPIErrorContaining(t, err, "CloudHsmInvalidRequestException", 400, "us-east-1f")
		}},
		{name: "a second HSM while the cluster is UNINITIALIZED is CloudHsmInvalidRequestException", run: func(t *testing.T, e *env, c *cloudhsmv2.Client) {
			cl := mustCreateCluster(t, c, nil)
			id := aws.ToString(cl.ClusterId)
			mustCreateHsm(t, c, id, "us-east-1a")
			err := createHsm(c, id, "us-east-1b", nil)
			wantAPIErrorContaining(t, err, "CloudHsmInvalidRequestException", 400, "UNINITIALIZED")
			if n := len(describeCluster(t, c, id).Hsms); n != 1 {
				t.Errorf("%d HSMs, want 1", n)
			}
		}},
		{name: "a second HSM while the cluster is still being created is CloudHsmInvalidRequestException",
			opts: []func(*options){withDelays(10*time.Minute, nil)},
			run: func(t *testing.T, e *env, c *cloudhsmv2.Client) {
				cl := mustCreateCluster(t, c, nil)
				id := aws.ToString(cl.ClusterId)
				mustCreateHsm(t, c, id, "us-east-1a")
				err := createHsm(c, id, "us-east-1b", nil)
				wantAPIError(t, err, "CloudHsmInvalidRequestException", 400)
			}},
		{name: "an IpAddress already used in the cluster is CloudHsmInvalidRequestException", run: func(t *testing.T, e *env, c *cloudhsmv2.Client) {
			id, _ := e.activeCluster(t, c)
			first := describeCluster(t, c, id).Hsms[0]
			for _, az := range []string{"us-east-1a", "us-east-1b"} {
				err := createHsm(c, id, az, first.EniIp)
				wantAPIErrorContaining(t, err, "CloudHsmInvalidRequestException", 400, aws.ToString(first.EniIp))
			}
		}},
		{name: "an HSM in a DELETED cluster is CloudHsmInvalidRequestException", run: func(t *testing.T, e *env, c *cloudhsmv2.Client) {
			id := aws.ToString(mustCreateCluster(t, c, nil).ClusterId)
			mustDeleteCluster(t, c, id)
			err := createHsm(c, id, "us-east-1a", nil)
			wantAPIErrorContaining(t, err, "CloudHsmInvalidRequestException", 400, "DELETED")
		}},
		{name: "an HSM in a DELETE_IN_PROGRESS cluster is CloudHsmInvalidRequestException",
			opts: []func(*options){withDelays(0, map[lifecycle.Transition]time.Duration{lifecycle.ClusterDelete: time.Hour})},
			run: func(t *testing.T, e *env, c *cloudhsmv2.Client) {
				id := aws.ToString(mustCreateCluster(t, c, nil).ClusterId)
				mustDeleteCluster(t, c, id)
				err := createHsm(c, id, "us-east-1a", nil)
				wantAPIErrorContaining(t, err, "CloudHsmInvalidRequestException", 400, "DELETE_IN_PROGRESS")
			}},
		{name: "an HSM in an unknown cluster is CloudHsmResourceNotFoundException", run: func(t *testing.T, e *env, c *cloudhsmv2.Client) {
			err := createHsm(c, "cluster-aaaaaaaaaaa", "us-east-1a", nil)
			wantAPIError(t, err, "CloudHsmResourceNotFoundException", 400)
		}},
		{name: "quota: HSMs over MaxHSMsPerCluster are CloudHsmServiceException",
			opts: []func(*options){withServiceConfig(func(c *service.Config) { c.MaxHSMsPerCluster = 1 })},
			run: func(t *testing.T, e *env, c *cloudhsmv2.Client) {
				id, _ := e.activeCluster(t, c)
				err := createHsm(c, id, "us-east-1b", nil)
				wantAPIError(t, err, "CloudHsmServiceException", 400)
			}},
		{name: "an HSM that becomes ACTIVE in an ACTIVE cluster takes a backup", run: func(t *testing.T, e *env, c *cloudhsmv2.Client) {
			id, _ := e.activeCluster(t, c)
			before := backupsOf(t, c, id)
			e.advance(time.Minute)
			now := e.virtualNow(t)
			mustCreateHsm(t, c, id, "us-east-1b")
			added := newBackups(before, backupsOf(t, c, id))
			if len(added) != 1 || aws.ToString(added[0].ClusterId) != id || !aws.ToTime(added[0].CreateTimestamp).Equal(now) {
				t.Errorf("new backups at %v, want one of %s at %v", backupTimes(added), id, now)
			}
		}},
		{name: "an HSM deleted from an ACTIVE cluster takes a backup", run: func(t *testing.T, e *env, c *cloudhsmv2.Client) {
			id, _ := e.activeCluster(t, c)
			before := backupsOf(t, c, id)
			e.advance(time.Minute)
			h := describeCluster(t, c, id).Hsms[0]
			if _, err := c.DeleteHsm(ctx, &cloudhsmv2.DeleteHsmInput{ClusterId: &id, HsmId: h.HsmId}); err != nil {
				t.Fatal(err)
			}
			if added := newBackups(before, backupsOf(t, c, id)); len(added) != 1 || aws.ToString(added[0].ClusterId) != id {
				t.Errorf("new backups at %v, want one of %s", backupTimes(added), id)
			}
		}},
		{name: "HSM changes in a cluster that is not ACTIVE take no backup", run: func(t *testing.T, e *env, c *cloudhsmv2.Client) {
			cl, _ := clusterWithCSR(t, c, nil)
			id := aws.ToString(cl.ClusterId)
			if _, err := c.DeleteHsm(ctx, &cloudhsmv2.DeleteHsmInput{ClusterId: &id, HsmId: cl.Hsms[0].HsmId}); err != nil {
				t.Fatal(err)
			}
			if n := len(backupsOf(t, c, id)); n != 0 {
				t.Errorf("%d backups of an UNINITIALIZED cluster", n)
			}
		}},
	}
	runClusterRules(t, rules)
}

// TestDeleteHsmRules pins docs/BEHAVIOUR.md §5 DeleteHsm: exactly one of HsmId, EniId, EniIp.
func TestDeleteHsmRules(t *testing.T) {
	ctx := context.Background()
	// withHSM returns a cluster with one ACTIVE HSM.
	withHSM := func(t *testing.T, c *cloudhsmv2.Client) (string, types.Hsm) {
		t.Helper()
		cl, _ := clusterWithCSR(t, c, nil)
		return aws.ToString(cl.ClusterId), cl.Hsms[0]
	}
	byOne := []struct {
		name string
		in   func(h types.Hsm) cloudhsmv2.DeleteHsmInput
	}{
		{"by HsmId", func(h types.Hsm) cloudhsmv2.DeleteHsmInput { return cloudhsmv2.DeleteHsmInput{HsmId: h.HsmId} }},
		{"by EniId", func(h types.Hsm) cloudhsmv2.DeleteHsmInput { return cloudhsmv2.DeleteHsmInput{EniId: h.EniId} }},
		{"by EniIp", func(h types.Hsm) cloudhsmv2.DeleteHsmInput { return cloudhsmv2.DeleteHsmInput{EniIp: h.EniIp} }},
	}
	var rules []clusterRule
	for _, by := range byOne {
		rules = append(rules, clusterRule{name: "deleting " + by.name + " returns HsmId; the HSM is gone on the next read", run: func(t *testing.T, e *env, c *cloudhsmv2.Client) {
			id, h := withHSM(t, c)
			in := by.in(h)
			in.ClusterId = &id
			out, err := c.DeleteHsm(ctx, &in)
			if err != nil {
				t.Fatal(err)
			}
			if aws.ToString(out.HsmId) != aws.ToString(h.HsmId) {
				t.Errorf("HsmId %q, want %q", aws.ToString(out.HsmId), aws.ToString(h.HsmId))
			}
			if got := describeCluster(t, c, id); len(got.Hsms) != 0 {
				t.Errorf("still listed: %+v", got.Hsms)
			}
		}})
	}
	rules = append(rules,
		clusterRule{name: "no identifier is CloudHsmInvalidRequestException", run: func(t *testing.T, e *env, c *cloudhsmv2.Client) {
			id, _ := withHSM(t, c)
			_, err := c.DeleteHsm(ctx, &cloudhsmv2.DeleteHsmInput{ClusterId: &id})
			wantAPIError(t, err, "CloudHsmInvalidRequestException", 400)
		}},
		clusterRule{name: "two identifiers are CloudHsmInvalidRequestException", run: func(t *testing.T, e *env, c *cloudhsmv2.Client) {
			id, h := withHSM(t, c)
			_, err := c.DeleteHsm(ctx, &cloudhsmv2.DeleteHsmInput{ClusterId: &id, HsmId: h.HsmId, EniIp: h.EniIp})
			wantAPIError(t, err, "CloudHsmInvalidRequestException", 400)
			if n := len(describeCluster(t, c, id).Hsms); n != 1 {
				t.Errorf("a refused DeleteHsm left %d HSMs", n)
			}
		}},
		clusterRule{name: "an unknown HSM is CloudHsmResourceNotFoundException", run: func(t *testing.T, e *env, c *cloudhsmv2.Client) {
			id, _ := withHSM(t, c)
			for _, in := range []cloudhsmv2.DeleteHsmInput{
				{ClusterId: &id, HsmId: aws.String("hsm-aaaaaaaaaaa")},
				{ClusterId: &id, EniId: aws.String("eni-00000000000000000")},
				{ClusterId: &id, EniIp: aws.String("192.0.2.1")},
			} {
				_, err := c.DeleteHsm(ctx, &in)
				wantAPIError(t, err, "CloudHsmResourceNotFoundException", 400)
			}
		}},
		clusterRule{name: "an HSM of another cluster is CloudHsmResourceNotFoundException", run: func(t *testing.T, e *env, c *cloudhsmv2.Client) {
			_, h := withHSM(t, c)
			other := aws.ToString(mustCreateCluster(t, c, nil).ClusterId)
			_, err := c.DeleteHsm(ctx, &cloudhsmv2.DeleteHsmInput{ClusterId: &other, HsmId: h.HsmId})
			wantAPIError(t, err, "CloudHsmResourceNotFoundException", 400)
		}},
		clusterRule{name: "an unknown cluster is CloudHsmResourceNotFoundException", run: func(t *testing.T, e *env, c *cloudhsmv2.Client) {
			_, err := c.DeleteHsm(ctx, &cloudhsmv2.DeleteHsmInput{ClusterId: aws.String("cluster-aaaaaaaaaaa"), HsmId: aws.String("hsm-aaaaaaaaaaa")})
			wantAPIError(t, err, "CloudHsmResourceNotFoundException", 400)
		}},
		clusterRule{name: "an HSM already DELETE_IN_PROGRESS is CloudHsmInvalidRequestException",
			opts: []func(*options){withDelays(0, map[lifecycle.Transition]time.Duration{lifecycle.HSMDelete: time.Hour})},
			run: func(t *testing.T, e *env, c *cloudhsmv2.Client) {
				id, h := withHSM(t, c)
				if _, err := c.DeleteHsm(ctx, &cloudhsmv2.DeleteHsmInput{ClusterId: &id, HsmId: h.HsmId}); err != nil {
					t.Fatal(err)
				}
				_, err := c.DeleteHsm(ctx, &cloudhsmv2.DeleteHsmInput{ClusterId: &id, EniId: h.EniId})
				wantAPIErrorContaining(t, err, "CloudHsmInvalidRequestException", 400, "being deleted")
			}},
	)
	runClusterRules(t, rules)
}
