package console_test

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"

	"github.com/cloudhsm-local/cloudhsm-local/cloudhsmlocal/cloudhsmlocaltest"
	"github.com/cloudhsm-local/cloudhsm-local/internal/console"
)

// BenchmarkPages10000Backups is the server-side render time of the console's pages for an
// account and region that hold 10,000 backups (BENCHMARKS.md, "The console"): the request goes
// through the server's whole handler, as a browser's would, without the network.
func BenchmarkPages10000Backups(b *testing.B) {
	srv := cloudhsmlocaltest.New(b)
	ctx := b.Context()
	clusterID, _, err := srv.ActiveCluster(ctx, account, region)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := srv.TakeBackups(ctx, clusterID, 9_999); err != nil {
		b.Fatal(err)
	}
	scope := url.Values{"account": {account}, "region": {region}}
	filtered := url.Values{"account": {account}, "region": {region}, "cluster": {clusterID}, "state": {"READY"}, "order": {"oldest"}}
	for _, bc := range []struct{ name, path string }{
		{"backups first page", "backups?" + scope.Encode()},
		{"backups filtered by cluster and state oldest first", "backups?" + filtered.Encode()},
		{"cluster page with its newest 50 backups", "clusters/" + clusterID + "?" + scope.Encode()},
		{"overview census", ""},
	} {
		b.Run(bc.name, func(b *testing.B) {
			h := srv.Handler()
			req := httptest.NewRequestWithContext(ctx, http.MethodGet, console.Prefix+bc.path, nil)
			for b.Loop() {
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)
				if rec.Code != http.StatusOK {
					b.Fatalf("GET %s: %d %s", bc.path, rec.Code, rec.Body)
				}
			}
		})
	}
}
