package e2e

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudhsmv2"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// scrape GETs /metrics with an optional bearer token and returns the status and, on 200, the
// parsed metric families.
func scrape(t *testing.T, url, token string) (int, map[string]*dto.MetricFamily) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url+"/metrics", nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, resp.Body)
		return resp.StatusCode, nil
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("GET /metrics is not the Prometheus text format: %v", err)
	}
	return resp.StatusCode, fams
}

// sample returns the value of the sample of family name whose labels are exactly labels
// ("name=value" pairs), and whether there is one; a histogram's value is its sample count.
func sample(fams map[string]*dto.MetricFamily, name string, labels ...string) (float64, bool) {
	fam := fams[name]
	if fam == nil {
		return 0, false
	}
	for _, m := range fam.GetMetric() {
		var got []string
		for _, l := range m.GetLabel() {
			got = append(got, l.GetName()+"="+l.GetValue())
		}
		slices.Sort(got)
		want := slices.Sorted(slices.Values(labels))
		if !slices.Equal(got, want) {
			continue
		}
		switch {
		case m.GetCounter() != nil:
			return m.GetCounter().GetValue(), true
		case m.GetGauge() != nil:
			return m.GetGauge().GetValue(), true
		case m.GetHistogram() != nil:
			return float64(m.GetHistogram().GetSampleCount()), true
		}
	}
	return 0, false
}

// TestMetrics drives a server with the Go SDK and the admin API, then scrapes GET /metrics:
// one row per metric the README documents, with the value the traffic must have left.
func TestMetrics(t *testing.T) {
	e := newEnv(t)
	c := e.defaultClient()
	ctx := context.Background()
	_, _ = e.activeCluster(t, c) // CreateCluster, CreateHsm, DescribeClusters, InitializeCluster, activation, DescribeBackups
	_, err := c.RestoreBackup(ctx, &cloudhsmv2.RestoreBackupInput{BackupId: aws.String("backup-aaaaaaaaaaa")})
	wantAPIError(t, err, "CloudHsmResourceNotFoundException", 400)
	e.rawCall("MineBitcoin", "{}", nil)
	e.advance(48 * time.Hour) // two daily backups

	status, fams := scrape(t, e.url, "")
	if status != http.StatusOK {
		t.Fatalf("GET /metrics: HTTP %d", status)
	}
	for _, tc := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"cloudhsm_local_requests_total", []string{"operation=CreateCluster", "status=200", "error="}, 1},
		{"cloudhsm_local_requests_total", []string{"operation=InitializeCluster", "status=200", "error="}, 1},
		{"cloudhsm_local_requests_total", []string{"operation=RestoreBackup", "status=400", "error=CloudHsmResourceNotFoundException"}, 1},
		{"cloudhsm_local_requests_total", []string{"operation=", "status=400", "error=UnknownOperationException"}, 1},
		{"cloudhsm_local_request_duration_seconds", []string{"operation=CreateHsm"}, 1},
		{"cloudhsm_local_resources", []string{"kind=cluster", "state=ACTIVE"}, 1},
		{"cloudhsm_local_resources", []string{"kind=hsm", "state=ACTIVE"}, 1},
		{"cloudhsm_local_resources", []string{"kind=backup", "state=READY"}, 3}, // activation + two days
		{"cloudhsm_local_resources", []string{"kind=backup", "state=DELETED"}, 0},
		{"cloudhsm_local_clock_offset_seconds", nil, (48 * time.Hour).Seconds()},
	} {
		t.Run(fmt.Sprintf("%s%v", tc.name, tc.labels), func(t *testing.T) {
			got, ok := sample(fams, tc.name, tc.labels...)
			if !ok || got != tc.want {
				t.Errorf("%s%v = %v (present: %t), want %v", tc.name, tc.labels, got, ok, tc.want)
			}
		})
	}
	// Each Update transaction is one batch of at least one update; nothing failed.
	if n, ok := sample(fams, "cloudhsm_local_store_batch_updates"); !ok || n < 5 {
		t.Errorf("cloudhsm_local_store_batch_updates has %v transactions (present: %t), want at least the 5 writes made", n, ok)
	}
	if fam := fams["cloudhsm_local_store_errors_total"]; fam != nil && len(fam.GetMetric()) > 0 {
		t.Errorf("store errors counted on a healthy store: %v", fam)
	}
	if _, ok := sample(fams, "go_goroutines"); !ok {
		t.Error("the Go runtime's metrics are missing")
	}
}

// TestMetricsAreEachServersOwn: two servers in one process (as the cloudhsmlocal library starts
// them) count only their own requests.
func TestMetricsAreEachServersOwn(t *testing.T) {
	a, b := newEnv(t), newEnv(t)
	for range 3 {
		if _, err := a.defaultClient().DescribeBackups(context.Background(), &cloudhsmv2.DescribeBackupsInput{}); err != nil {
			t.Fatal(err)
		}
	}
	_, fa := scrape(t, a.url, "")
	_, fb := scrape(t, b.url, "")
	if got, _ := sample(fa, "cloudhsm_local_requests_total", "operation=DescribeBackups", "status=200", "error="); got != 3 {
		t.Errorf("server A counted %v DescribeBackups, want 3", got)
	}
	if got, ok := sample(fb, "cloudhsm_local_requests_total", "operation=DescribeBackups", "status=200", "error="); ok {
		t.Errorf("server B counted %v DescribeBackups made on server A", got)
	}
}

// TestMetricsNeedTheAdminTokenInStrictMode: /metrics is guarded like the admin API.
func TestMetricsNeedTheAdminTokenInStrictMode(t *testing.T) {
	e, _ := newStrictEnv(t, strictCredentialsFile(t, strictCreds))
	for _, tc := range []struct {
		name, token string
		want        int
	}{
		{"no token", "", http.StatusUnauthorized},
		{"another token", "guessed-admin-token", http.StatusUnauthorized},
		{"the admin token", strictAdminToken, http.StatusOK},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got, fams := scrape(t, e.url, tc.token); got != tc.want {
				t.Fatalf("GET /metrics with %s: HTTP %d, want %d", tc.name, got, tc.want)
			} else if got == http.StatusOK && !strings.Contains(fmt.Sprint(fams["cloudhsm_local_resources"]), "backup") {
				t.Fatalf("GET /metrics with the token has no resource counts")
			}
		})
	}
}
