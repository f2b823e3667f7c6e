package e2e

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/cloudhsmv2"

	"github.com/cloudhsm-local/cloudhsm-local/internal/admin"
	"github.com/cloudhsm-local/cloudhsm-local/internal/faults"
)

// countingTransport counts the HTTP requests a client sends (its attempts, retries included).
// The first closeFirst of them fail, unsent, as if the connection had been closed under them
// (what aws/aws-sdk-go-v2#2737 looks like).
type countingTransport struct {
	n          atomic.Int64
	closeFirst int64
}

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if c.n.Add(1) <= c.closeFirst {
		return nil, &net.OpError{Op: "read", Net: "tcp", Err: net.ErrClosed}
	}
	return http.DefaultTransport.RoundTrip(r)
}

// retryingClient is a Go SDK client with the SDK's default retryer (3 attempts, exponential
// backoff, retrying 5xx and throttling errors), counting its attempts.
func (e *env) retryingClient() (*cloudhsmv2.Client, *countingTransport) {
	ct := &countingTransport{}
	return cloudhsmv2.New(cloudhsmv2.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(e.url),
		Credentials:  credentials.NewStaticCredentialsProvider(account1, "secret", ""),
		HTTPClient:   &http.Client{Transport: ct},
	}), ct
}

// addFault posts a rule and returns what the server made of it.
func (e *env) addFault(t *testing.T, rule string) faults.Status {
	t.Helper()
	status, body := e.adminRaw(http.MethodPost, "faults", rule)
	if status != http.StatusOK {
		t.Fatalf("POST faults %s: HTTP %d %s", rule, status, body)
	}
	var out admin.FaultAdded
	if err := json.Unmarshal([]byte(body), &out); err != nil {
		t.Fatal(err)
	}
	return out.Rule
}

func (e *env) listFaults(t *testing.T) []faults.Status {
	t.Helper()
	var out admin.FaultList
	e.adminCall(http.MethodGet, "faults", nil, &out)
	return out.Rules
}

// TestFaultInjection pins docs/BEHAVIOUR.md §9's fault injection, one rule per row, through the admin
// API and the Go SDK.
func TestFaultInjection(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name string
		run  func(t *testing.T, e *env)
	}{
		{"the SDK's default retryer retries an injected CloudHsmInternalFailureException and succeeds", func(t *testing.T, e *env) {
			c := e.defaultClient()
			_, backupID := e.activeCluster(t, c)
			mustDelete(t, c, backupID)
			e.addFault(t, `{"operation":"RestoreBackup","error":"CloudHsmInternalFailureException","count":2}`)

			retrying, attempts := e.retryingClient()
			out, err := retrying.RestoreBackup(ctx, &cloudhsmv2.RestoreBackupInput{BackupId: &backupID})
			if err != nil {
				t.Fatalf("RestoreBackup with two injected 500s: %v", err)
			}
			if got := attempts.n.Load(); got != 3 {
				t.Fatalf("%d attempts, want 3 (two injected failures, then success)", got)
			}
			if out.Backup.BackupState != "READY" {
				t.Fatalf("restored backup is %s", out.Backup.BackupState)
			}
			rules := e.listFaults(t)
			if len(rules) != 1 || *rules[0].Remaining != 0 || rules[0].Applied != 2 {
				t.Fatalf("rules after use: %+v", rules)
			}
		}},
		{"the SDK's default retryer retries an injected ThrottlingException and succeeds", func(t *testing.T, e *env) {
			e.addFault(t, `{"operation":"DescribeClusters","error":"ThrottlingException","count":2}`)
			retrying, attempts := e.retryingClient()
			if _, err := retrying.DescribeClusters(ctx, &cloudhsmv2.DescribeClustersInput{}); err != nil {
				t.Fatalf("DescribeClusters with two injected throttles: %v", err)
			}
			if got := attempts.n.Load(); got != 3 {
				t.Fatalf("%d attempts, want 3", got)
			}
		}},
		{"an injected error is on the wire like any other: 500 for internal failures, 400 for throttling", func(t *testing.T, e *env) {
			e.addFault(t, `{"operation":"ListTags","error":"CloudHsmInternalFailureException","count":1}`)
			e.addFault(t, `{"operation":"ListTags","error":"ThrottlingException","count":1}`)
			status, typ, body := e.rawCall("ListTags", `{"ResourceId":"cluster-abcdefghijk"}`, nil)
			if status != 500 || typ != "CloudHsmInternalFailureException" ||
				body != `{"__type":"CloudHsmInternalFailureException","message":"Injected by cloudhsm-local fault rule 1 (CloudHsmInternalFailureException on ListTags)"}` {
				t.Fatalf("first: %d %s %s", status, typ, body)
			}
			status, typ, body = e.rawCall("ListTags", `{"ResourceId":"cluster-abcdefghijk"}`, nil)
			if status != 400 || typ != "ThrottlingException" || !strings.Contains(body, `"__type":"ThrottlingException"`) {
				t.Fatalf("second: %d %s %s", status, typ, body)
			}
			status, typ, _ = e.rawCall("ListTags", `{"ResourceId":"cluster-abcdefghijk"}`, nil)
			if status != 400 || typ != "CloudHsmResourceNotFoundException" {
				t.Fatalf("third (rules spent): %d %s", status, typ)
			}
		}},
		{"an injected error changes nothing: the operation does not run", func(t *testing.T, e *env) {
			e.addFault(t, `{"operation":"CreateCluster","error":"CloudHsmInternalFailureException","count":1}`)
			c := e.defaultClient() // no retries
			_, err := c.CreateCluster(ctx, &cloudhsmv2.CreateClusterInput{HsmType: aws.String("hsm2m.medium"), SubnetIds: subnets})
			wantAPIError(t, err, "CloudHsmInternalFailureException", 500)
			out, err := c.DescribeClusters(ctx, &cloudhsmv2.DescribeClustersInput{})
			if err != nil || len(out.Clusters) != 0 {
				t.Fatalf("after an injected CreateCluster failure: %d clusters, %v", len(out.Clusters), err)
			}
		}},
		{"faults apply before validation: even an invalid request gets the injected error", func(t *testing.T, e *env) {
			e.addFault(t, `{"operation":"RestoreBackup","error":"CloudHsmServiceException","count":1}`)
			status, typ, _ := e.rawCall("RestoreBackup", `{"BackupId":"nope"}`, nil)
			if status != 400 || typ != "CloudHsmServiceException" {
				t.Fatalf("%d %s", status, typ)
			}
		}},
		{"a latency rule delays the matching operation only", func(t *testing.T, e *env) {
			e.addFault(t, `{"operation":"DescribeBackups","latency":"300ms"}`)
			c := e.defaultClient()
			t0 := time.Now()
			if _, err := c.DescribeBackups(ctx, &cloudhsmv2.DescribeBackupsInput{}); err != nil {
				t.Fatal(err)
			}
			if d := time.Since(t0); d < 300*time.Millisecond {
				t.Fatalf("DescribeBackups answered after %s, want at least 300ms", d)
			}
			t0 = time.Now()
			if _, err := c.DescribeClusters(ctx, &cloudhsmv2.DescribeClustersInput{}); err != nil {
				t.Fatal(err)
			}
			if d := time.Since(t0); d >= 300*time.Millisecond {
				t.Fatalf("DescribeClusters was delayed too (%s)", d)
			}
		}},
		{"latency and an error together: the error comes after the latency", func(t *testing.T, e *env) {
			e.addFault(t, `{"operation":"DeleteBackup","latency":"200ms","error":"CloudHsmResourceLimitExceededException","count":1}`)
			t0 := time.Now()
			_, err := e.defaultClient().DeleteBackup(ctx, &cloudhsmv2.DeleteBackupInput{BackupId: aws.String("backup-abcdefghijk")})
			wantAPIError(t, err, "CloudHsmResourceLimitExceededException", 400)
			if d := time.Since(t0); d < 200*time.Millisecond {
				t.Fatalf("answered after %s", d)
			}
		}},
		{"probability 0 never applies, probability 1 always does", func(t *testing.T, e *env) {
			e.addFault(t, `{"operation":"DescribeClusters","error":"CloudHsmAccessDeniedException","probability":0}`)
			c := e.defaultClient()
			for i := range 50 {
				if _, err := c.DescribeClusters(ctx, &cloudhsmv2.DescribeClustersInput{}); err != nil {
					t.Fatalf("call %d with probability 0: %v", i, err)
				}
			}
			e.addFault(t, `{"operation":"DescribeClusters","error":"CloudHsmAccessDeniedException","probability":1}`)
			for range 50 {
				_, err := c.DescribeClusters(ctx, &cloudhsmv2.DescribeClustersInput{})
				wantAPIError(t, err, "CloudHsmAccessDeniedException", 400)
			}
			if rules := e.listFaults(t); rules[0].Applied != 0 || rules[1].Applied != 50 {
				t.Fatalf("applied counts %d and %d, want 0 and 50", rules[0].Applied, rules[1].Applied)
			}
		}},
		{`"*" applies to every operation, and never to the admin API`, func(t *testing.T, e *env) {
			e.addFault(t, `{"operation":"*","error":"CloudHsmTagException"}`)
			for _, op := range []string{"DescribeClusters", "CreateCluster", "ListTags", "RestoreBackup", "PutResourcePolicy"} {
				if status, typ, _ := e.rawCall(op, `{}`, nil); status != 400 || typ != "CloudHsmTagException" {
					t.Fatalf("%s: %d %s", op, status, typ)
				}
			}
			if status, typ, _ := e.rawCall("Nope", `{}`, nil); typ != "UnknownOperationException" {
				t.Fatalf("an unknown operation got %d %s: rules apply to operations only", status, typ)
			}
			var h admin.Health
			e.adminCall(http.MethodGet, "health", nil, &h)
			if h.Status != "ok" || h.Faults != 1 {
				t.Fatalf("health %+v", h)
			}
		}},
		{"DELETE clears every rule; health counts active rules", func(t *testing.T, e *env) {
			e.addFault(t, `{"operation":"ListTags","latency":"1ms","count":1}`)
			e.addFault(t, `{"operation":"*","error":"CloudHsmServiceException"}`)
			e.addFault(t, `{"operation":"CreateHsm","error":"ThrottlingException","count":1}`)
			e.rawCall("ListTags", `{}`, nil) // spends rule 1; rule 2 answers it
			var h admin.Health
			e.adminCall(http.MethodGet, "health", nil, &h)
			if h.Faults != 2 {
				t.Fatalf("health faults %d, want 2 (rule 1 is spent)", h.Faults)
			}
			status, body := e.adminRaw(http.MethodDelete, "faults", "")
			if status != 200 || body != "{\"cleared\":3}\n" {
				t.Fatalf("DELETE: %d %s", status, body)
			}
			if rules := e.listFaults(t); len(rules) != 0 {
				t.Fatalf("rules after DELETE: %+v", rules)
			}
			if _, err := e.defaultClient().DescribeClusters(ctx, &cloudhsmv2.DescribeClustersInput{}); err != nil {
				t.Fatalf("after DELETE: %v", err)
			}
			e.adminCall(http.MethodGet, "health", nil, &h)
			if h.Faults != 0 {
				t.Fatalf("health faults %d after DELETE", h.Faults)
			}
		}},
		{"GET lists rules in order with their remaining counts", func(t *testing.T, e *env) {
			e.addFault(t, `{"operation":"RestoreBackup","error":"CloudHsmInternalFailureException","count":1}`)
			e.addFault(t, `{"operation":"*","latency":"250ms","probability":0.1}`)
			status, body := e.adminRaw(http.MethodGet, "faults", "")
			want := `{"rules":[{"id":1,"operation":"RestoreBackup","error":"CloudHsmInternalFailureException","count":1,"remaining":1,"applied":0},` +
				`{"id":2,"operation":"*","latency":"250ms","probability":0.1,"applied":0}]}` + "\n"
			if status != 200 || body != want {
				t.Fatalf("GET faults: %d\n%s\nwant\n%s", status, body, want)
			}
		}},
		{"rules that would add up past 30s of latency for one request are refused with 400", func(t *testing.T, e *env) {
			e.addFault(t, `{"operation":"RestoreBackup","latency":"30s"}`)
			for _, tt := range []struct{ body, want string }{
				{`{"operation":"RestoreBackup","latency":"30s"}`, "with this rule a request to RestoreBackup could wait 1m0s, and the rules of a set may add at most 30s to one request"},
				{`{"operation":"*","latency":"1ms"}`, "with this rule a request to RestoreBackup could wait 30.001s, and the rules of a set may add at most 30s to one request"},
			} {
				if status, out := e.adminRaw(http.MethodPost, "faults", tt.body); status != 400 || !strings.Contains(out, tt.want) {
					t.Errorf("POST %s: %d %s, want 400 containing %q", tt.body, status, out, tt.want)
				}
			}
			e.addFault(t, `{"operation":"DeleteBackup","latency":"30s"}`) // another operation: its own 30 s
			if rules := e.listFaults(t); len(rules) != 2 {
				t.Fatalf("rules %+v, want the two accepted", rules)
			}
		}},
		{"invalid rules are refused with 400 and say why", func(t *testing.T, e *env) {
			for _, tt := range []struct{ body, want string }{
				{`{"error":"ThrottlingException"}`, `\"operation\" is required`},
				{`{"operation":"Restore","error":"ThrottlingException"}`, `operation \"Restore\" is not a CloudHSM v2 operation`},
				{`{"operation":"*","error":"InternalError"}`, `error \"InternalError\" is not one the rule can inject: use one of CloudHsmAccessDeniedException, CloudHsmInternalFailureException`},
				{`{"operation":"*","latency":"soon"}`, `latency \"soon\" is not a Go duration`},
				{`{"operation":"*","latency":"1h"}`, `latency 1h0m0s is out of range`},
				{`{"operation":"*"}`, `a rule needs an \"error\", a non-zero \"latency\", or both`},
				{`{"operation":"*","error":"ThrottlingException","probability":2}`, `probability 2 is out of range`},
				{`{"operation":"*","error":"ThrottlingException","count":0}`, `count 0 is out of range`},
				{`{"operation":"*","error":"ThrottlingException","count":1,"probability":1}`, `give \"probability\" or \"count\", not both`},
				{`{"operation":"*","error":"ThrottlingException","count":1.5}`, `request body must be a JSON object`},
				{`{"operation":"*","error":"ThrottlingException","times":1}`, `unknown field \"times\"`},
				{`[]`, `request body must be a JSON object`},
			} {
				status, body := e.adminRaw(http.MethodPost, "faults", tt.body)
				if status != 400 || !strings.Contains(body, tt.want) {
					t.Errorf("POST %s: %d %s, want 400 containing %s", tt.body, status, body, tt.want)
				}
			}
			if rules := e.listFaults(t); len(rules) != 0 {
				t.Fatalf("refused rules were added: %+v", rules)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.run(t, newEnv(t))
		})
	}
}
