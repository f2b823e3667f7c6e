// Package cloudhsmlocaltest gives a test its own cloudhsm-local in one line:
//
//	func TestRestore(t *testing.T) {
//		srv := cloudhsmlocaltest.New(t)
//		client := srv.Client("111122223333", "us-east-1")
//		...
//	}
//
// The server has a memory store and a free loopback port unless Options say otherwise, and is
// closed when the test ends. It must never be shared between tests: each test gets a server of
// its own, so parallel tests see nothing of each other.
package cloudhsmlocaltest

import (
	"testing"

	"github.com/cloudhsm-local/cloudhsm-local/cloudhsmlocal"
)

// New starts a server for tb with opts (at most one Options; none means the defaults) and
// closes it in tb.Cleanup, reporting a failure to close as a test error. If the server cannot
// start, New fails the test with the reason (tb.Fatalf).
func New(tb testing.TB, opts ...cloudhsmlocal.Options) *cloudhsmlocal.Server {
	tb.Helper()
	var o cloudhsmlocal.Options
	switch len(opts) {
	case 0:
	case 1:
		o = opts[0]
	default:
		tb.Fatalf("cloudhsmlocaltest.New takes at most one Options, got %d", len(opts))
	}
	srv, err := cloudhsmlocal.Start(tb.Context(), o)
	if err != nil {
		tb.Fatalf("cloudhsmlocaltest: start cloudhsm-local: %v", err)
	}
	tb.Cleanup(func() {
		if err := srv.Close(); err != nil {
			tb.Errorf("cloudhsmlocaltest: close cloudhsm-local at %s: %v", srv.URL(), err)
		}
	})
	return srv
}
