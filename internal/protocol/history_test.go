package protocol

import (
	"context"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/cloudhsm-local/cloudhsm-local/internal/api"
	"github.com/cloudhsm-local/cloudhsm-local/internal/clock"
	"github.com/cloudhsm-local/cloudhsm-local/internal/faults"
	"github.com/cloudhsm-local/cloudhsm-local/internal/history"
	"github.com/cloudhsm-local/cloudhsm-local/internal/identity"
)

// virtualNow is the virtual time the timed service runs its operations at.
var virtualNow = time.Date(2031, 5, 6, 7, 8, 9, 10e6, time.UTC)

// timedService notes the virtual time as the real service does, takes 3 ms of the manual clock
// per operation, and answers RestoreBackup (an unknown backup is not found) and TagResource.
type timedService struct {
	api.Service
	clk *clock.Manual
}

func (s timedService) RestoreBackup(ctx context.Context, in *api.RestoreBackupRequest) (*api.RestoreBackupResponse, error) {
	api.NoteOperationTime(ctx, virtualNow)
	s.clk.Advance(3 * time.Millisecond)
	if *in.BackupId == idNotFound {
		return nil, api.Errorf(api.CodeResourceNotFound, "Backup %s not found.", *in.BackupId)
	}
	return &api.RestoreBackupResponse{Backup: &api.Backup{
		BackupId: in.BackupId, ClusterId: aws.String("cluster-abcdefghijk"), TagList: []api.Tag{},
	}}, nil
}

func (s timedService) TagResource(ctx context.Context, in *api.TagResourceRequest) (*api.TagResourceResponse, error) {
	api.NoteOperationTime(ctx, virtualNow)
	return nil, nil
}

// TestHandlerRecordsEveryRequest: one row per outcome a request of the API can have, and what the
// history keeps of it.
func TestHandlerRecordsEveryRequest(t *testing.T) {
	start := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	const key = "AKIAIOSFODNN7EXAMPLE"
	signed := "AWS4-HMAC-SHA256 Credential=" + key + "/20260301/eu-west-1/cloudhsm/aws4_request, SignedHeaders=host;x-amz-date;x-amz-target, Signature=" + strings.Repeat("ab", 32)
	tests := []struct {
		name    string
		path    string // default /
		target  string
		body    string
		header  map[string]string
		faults  []faults.Rule
		want    history.Request // Time, RequestID and Duration are checked apart
		ms      time.Duration   // the Duration
		ignored bool            // not recorded at all
	}{
		{name: "a request that succeeds: caller, virtual time, the IDs of the input and the answer",
			target: "RestoreBackup", body: `{"BackupId":"backup-abcdefghijk"}`, header: map[string]string{"Authorization": signed},
			want: history.Request{VirtualTime: virtualNow, Operation: "RestoreBackup", Account: "000000000000", Region: "eu-west-1",
				AccessKeyID: key, Status: 200, ResourceIDs: []string{"backup-abcdefghijk", "cluster-abcdefghijk"}}, ms: 3},
		{name: "an error of the operation: its name and status, the IDs of the input",
			target: "RestoreBackup", body: `{"BackupId":"` + idNotFound + `"}`, header: map[string]string{"Authorization": sigv4("111122223333", "us-east-1")},
			want: history.Request{VirtualTime: virtualNow, Operation: "RestoreBackup", Account: "111122223333", Region: "us-east-1",
				AccessKeyID: "111122223333", Status: 400, Error: "CloudHsmResourceNotFoundException", ResourceIDs: []string{idNotFound}}, ms: 3},
		{name: "an operation with no output",
			target: "TagResource", body: `{"ResourceId":"cluster-abcdefghijk","TagList":[{"Key":"k","Value":"v"}]}`,
			want: history.Request{VirtualTime: virtualNow, Operation: "TagResource", Account: "000000000000", Region: "us-east-1",
				Status: 200, ResourceIDs: []string{"cluster-abcdefghijk"}}},
		{name: "invalid input: no virtual time, the operation never ran",
			target: "RestoreBackup", body: `{"BackupId":"backup-1"}`,
			want: history.Request{Operation: "RestoreBackup", Account: "000000000000", Region: "us-east-1", Status: 400,
				Error: "CloudHsmInvalidRequestException", ResourceIDs: []string{"backup-1"}}},
		{name: "a body that is not JSON", target: "RestoreBackup", body: `{`,
			want: history.Request{Operation: "RestoreBackup", Account: "000000000000", Region: "us-east-1", Status: 400, Error: "SerializationException"}},
		{name: "an unknown operation keeps its name, clipped", target: strings.Repeat("X", 3000), body: `{}`,
			want: history.Request{Operation: strings.Repeat("X", 1024) + "...", Account: "000000000000", Region: "us-east-1", Status: 400, Error: "UnknownOperationException"}},
		{name: "no target", body: `{}`,
			want: history.Request{Account: "000000000000", Region: "us-east-1", Status: 400, Error: "UnknownOperationException"}},
		{name: "an injected fault: before decoding, so no IDs",
			target: "RestoreBackup", body: `{"BackupId":"backup-abcdefghijk"}`,
			faults: []faults.Rule{{Operation: "RestoreBackup", Error: "ThrottlingException"}},
			want:   history.Request{Operation: "RestoreBackup", Account: "000000000000", Region: "us-east-1", Status: 400, Error: "ThrottlingException"}},
		{name: "an injected internal failure is a 500",
			target: "RestoreBackup", body: `{"BackupId":"backup-abcdefghijk"}`,
			faults: []faults.Rule{{Operation: "*", Error: "CloudHsmInternalFailureException"}},
			want:   history.Request{Operation: "RestoreBackup", Account: "000000000000", Region: "us-east-1", Status: 500, Error: "CloudHsmInternalFailureException"}},
		{name: "another path is not the API: not recorded", path: "/favicon.ico", target: "RestoreBackup", ignored: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := clock.NewManual(start)
			ring, err := history.New(10)
			if err != nil {
				t.Fatal(err)
			}
			set := faults.New(strings.NewReader(strings.Repeat("x", 64)))
			for _, rule := range tt.faults {
				if _, err := set.Add(rule); err != nil {
					t.Fatal(err)
				}
			}
			h := NewHandler(timedService{clk: clk}, identity.Resolver{}, nil, func() string { return "req-1" },
				WithRecorder(ring, clk), WithFaults(set))
			path := tt.path
			if path == "" {
				path = "/"
			}
			req := httptest.NewRequest(http.MethodPost, path, strings.NewReader(tt.body))
			if tt.target != "" {
				req.Header.Set("X-Amz-Target", TargetPrefix+tt.target)
			}
			for k, v := range tt.header {
				req.Header.Set(k, v)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)

			got := ring.Query(history.Filter{})
			if tt.ignored {
				if len(got) != 0 {
					t.Fatalf("recorded %+v", got)
				}
				return
			}
			if len(got) != 1 {
				t.Fatalf("recorded %d requests, want 1", len(got))
			}
			r := got[0]
			if r.Status != rec.Code || r.Error != rec.Header().Get("X-Amzn-ErrorType") {
				t.Fatalf("recorded %d %q, answered %d %q", r.Status, r.Error, rec.Code, rec.Header().Get("X-Amzn-ErrorType"))
			}
			if !r.Time.Equal(start) || r.RequestID != "req-1" || r.Duration != tt.ms*time.Millisecond {
				t.Fatalf("Time %s, RequestID %q, Duration %s; want %s, req-1, %s", r.Time, r.RequestID, r.Duration, start, tt.ms*time.Millisecond)
			}
			r.Time, r.RequestID, r.Duration = time.Time{}, "", 0
			if !reflect.DeepEqual(r, tt.want) {
				t.Fatalf("recorded\n %+v\nwant\n %+v", r, tt.want)
			}
			if strings.Contains(strings.ToLower(strings.Join([]string{r.Operation, r.Account, r.Region, r.AccessKeyID, r.Error}, " ")), "abab") {
				t.Fatal("the signature was recorded")
			}
		})
	}
}

// TestHandlerWithoutRecorderRecordsNothing: no recorder, no exchange (the option is off).
func TestHandlerWithoutRecorderRecordsNothing(t *testing.T) {
	h := NewHandler(timedService{clk: clock.NewManual(time.Time{})}, identity.Resolver{}, nil, nil).(*handler)
	if x := h.startExchange(httptest.NewRequest(http.MethodPost, "/", nil)); x != nil {
		t.Fatalf("an exchange without a recorder: %+v", x)
	}
}

// BenchmarkHandlerDescribeBackupsRecorded is BenchmarkHandlerDescribeBackups with the request
// history on (the default 1,000 requests, on the real clock): the difference is what recording
// costs a request.
func BenchmarkHandlerDescribeBackupsRecorded(b *testing.B) {
	ring, err := history.New(history.DefaultCapacity)
	if err != nil {
		b.Fatal(err)
	}
	benchHandlerDescribeBackups(b, WithRecorder(ring, clock.Real{}))
}
