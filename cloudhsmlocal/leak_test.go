package cloudhsmlocal_test

import (
	"path/filepath"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/cloudhsm-local/cloudhsm-local/cloudhsmlocal"
)

// TestCloseLeavesNoGoroutine: after a server has served the API and the admin API, through
// the clients of AWSConfig, Close leaves no goroutine of it running (goleak waits a little for
// goroutines on their way out, then lists any that stay).
func TestCloseLeavesNoGoroutine(t *testing.T) {
	tests := []struct {
		name string
		opts func(t *testing.T) cloudhsmlocal.Options
	}{
		{"memory", func(*testing.T) cloudhsmlocal.Options { return cloudhsmlocal.Options{} }},
		{"sqlite", func(t *testing.T) cloudhsmlocal.Options {
			return cloudhsmlocal.Options{Store: "sqlite:" + filepath.Join(t.TempDir(), "state.db")}
		}},
		{"strict", strictOptions},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
			srv, err := cloudhsmlocal.Start(t.Context(), tt.opts(t))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := srv.AddFault(t.Context(), cloudhsmlocal.FaultRule{Operation: cloudhsmlocal.AnyOperation, Latency: time.Millisecond}); err != nil {
				t.Fatal(err)
			}
			if _, _, err := srv.ActiveCluster(t.Context(), account1, region); err != nil {
				t.Fatal(err)
			}
			if err := srv.Advance(t.Context(), 48*time.Hour); err != nil {
				t.Fatal(err)
			}
			if err := srv.Close(); err != nil {
				t.Fatal(err)
			}
		})
	}
}
