package e2e

import (
	"context"
	"net/http"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/cloudhsmv2"
)

// The reads of the tests retry a connection closed under them and nothing else: an answer from
// the server — a 500, a throttle — reaches the test on the attempt that got it, so a test that
// reads through retryReads cannot pass by absorbing a server failure.
func TestReadRetriesAbsorbOnlyClosedConnections(t *testing.T) {
	tests := []struct {
		name       string
		fault      string // an injected rule, if any
		closeFirst int64  // attempts whose connection closes under them
		code       string // the API error the read must return ("": success)
		status     int
		attempts   int64
	}{
		{"an injected CloudHsmInternalFailureException fails the read at once",
			`{"operation":"DescribeBackups","error":"CloudHsmInternalFailureException","count":1}`, 0, "CloudHsmInternalFailureException", 500, 1},
		{"an injected ThrottlingException fails the read at once",
			`{"operation":"DescribeBackups","error":"ThrottlingException","count":1}`, 0, "ThrottlingException", 400, 1},
		{"a 500 on the attempt after a closed connection fails the read",
			`{"operation":"DescribeBackups","error":"CloudHsmInternalFailureException","count":1}`, 1, "CloudHsmInternalFailureException", 500, 2},
		{"a connection closed under the read is retried", "", 1, "", 200, 2},
		{"connections closed under every attempt fail the read after three", "", 3, "", 0, 3},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			if tc.fault != "" {
				e.addFault(t, tc.fault)
			}
			ct := &countingTransport{closeFirst: tc.closeFirst}
			c := cloudhsmv2.New(cloudhsmv2.Options{
				Region: "us-east-1", BaseEndpoint: aws.String(e.url), RetryMaxAttempts: 1,
				Credentials: credentials.NewStaticCredentialsProvider(account1, "secret", ""),
				HTTPClient:  &http.Client{Transport: ct},
			})
			_, err := c.DescribeBackups(context.Background(), &cloudhsmv2.DescribeBackupsInput{}, retryReads)
			switch {
			case tc.code != "":
				wantAPIError(t, err, tc.code, tc.status)
			case tc.status == http.StatusOK && err != nil:
				t.Fatalf("DescribeBackups: %v", err)
			case tc.status != http.StatusOK && err == nil:
				t.Fatal("DescribeBackups succeeded with no attempt reaching the server")
			}
			if got := ct.n.Load(); got != tc.attempts {
				t.Fatalf("%d attempts, want %d", got, tc.attempts)
			}
			if tc.fault != "" {
				if rules := e.listFaults(t); len(rules) != 1 || rules[0].Applied != 1 {
					t.Fatalf("the rule should have fired once: %+v", rules)
				}
			}
		})
	}
}
