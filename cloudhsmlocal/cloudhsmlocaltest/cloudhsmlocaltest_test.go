package cloudhsmlocaltest_test

import (
	"errors"
	"fmt"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudhsmv2"
	"github.com/aws/smithy-go"

	"github.com/cloudhsm-local/cloudhsm-local/cloudhsmlocal"
	"github.com/cloudhsm-local/cloudhsm-local/cloudhsmlocal/cloudhsmlocaltest"
)

// TestNewClosesWhenTheTestEnds: the server works during the test and is closed after it.
func TestNewClosesWhenTheTestEnds(t *testing.T) {
	var srv *cloudhsmlocal.Server
	t.Run("test", func(t *testing.T) {
		srv = cloudhsmlocaltest.New(t)
		if _, err := srv.Client("111122223333", "us-east-1").DescribeClusters(t.Context(), &cloudhsmv2.DescribeClustersInput{}); err != nil {
			t.Fatal(err)
		}
	})
	if err := srv.Advance(t.Context(), time.Hour); !errors.Is(err, cloudhsmlocal.ErrClosed) {
		t.Errorf("after the test, Advance = %v, want ErrClosed", err)
	}
	if resp, err := http.Get(srv.URL() + "/_cloudhsm-local/health"); err == nil {
		resp.Body.Close()
		t.Errorf("after the test, %s still answers (HTTP %d)", srv.URL(), resp.StatusCode)
	}
}

// TestNewTakesOptions: the Options given are the server's.
func TestNewTakesOptions(t *testing.T) {
	srv := cloudhsmlocaltest.New(t, cloudhsmlocal.Options{MaxClusters: 1})
	c := srv.Client("111122223333", "us-east-1")
	in := &cloudhsmv2.CreateClusterInput{HsmType: aws.String("hsm2m.medium"), SubnetIds: []string{"subnet-0a1b2c3d4e5f60001"}}
	if _, err := c.CreateCluster(t.Context(), in); err != nil {
		t.Fatal(err)
	}
	_, err := c.CreateCluster(t.Context(), in, func(o *cloudhsmv2.Options) { o.RetryMaxAttempts = 1 })
	var ae smithy.APIError
	if !errors.As(err, &ae) || ae.ErrorCode() != "CloudHsmServiceException" {
		t.Fatalf("a second cluster with MaxClusters 1: %v, want CloudHsmServiceException", err)
	}
}

// fatalRecorder is a testing.TB whose Fatalf records the message and ends the goroutine, as
// the real one does, without failing the test that runs it.
type fatalRecorder struct {
	testing.TB
	fatal string
}

func (r *fatalRecorder) Fatalf(format string, args ...any) {
	r.fatal = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

// TestNewFailsTheTest: when the server cannot start, New fails the test with the reason.
func TestNewFailsTheTest(t *testing.T) {
	tests := []struct {
		name string
		opts []cloudhsmlocal.Options
		want string
	}{
		{"bad options", []cloudhsmlocal.Options{{Region: "moon-1"}}, `cloudhsmlocaltest: start cloudhsm-local: invalid cloudhsmlocal.Options: Region "moon-1"`},
		{"two Options", []cloudhsmlocal.Options{{}, {}}, "cloudhsmlocaltest.New takes at most one Options, got 2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := &fatalRecorder{TB: t}
			done := make(chan *cloudhsmlocal.Server)
			go func() {
				defer close(done)
				done <- cloudhsmlocaltest.New(rec, tt.opts...)
			}()
			if srv := <-done; srv != nil {
				t.Fatalf("New returned a server at %s", srv.URL())
			}
			if !strings.HasPrefix(rec.fatal, tt.want) {
				t.Fatalf("New failed the test with %q, want %q", rec.fatal, tt.want)
			}
		})
	}
}
