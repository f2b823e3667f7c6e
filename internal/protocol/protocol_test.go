package protocol

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/cloudhsmv2"
	"github.com/aws/aws-sdk-go-v2/service/cloudhsmv2/types"

	"github.com/cloudhsm-local/cloudhsm-local/internal/api"
	"github.com/cloudhsm-local/cloudhsm-local/internal/api/apitest"
	"github.com/cloudhsm-local/cloudhsm-local/internal/identity"
)

// Backup ids that make the fake RestoreBackup misbehave on purpose.
const (
	idNotFound   = "backup-missingbackup"
	idPlainError = "backup-plainerrorxx"
	idPanic      = "backup-panicpanicxx"
)

var createdAt = time.Unix(1534461854, 640e6).UTC() // 1534461854.64 on the wire

// fakeService answers DescribeBackups, RestoreBackup, TagResource and UntagResource; any other
// operation reaches the nil embedded interface and panics (which the handler must survive).
type fakeService struct {
	api.Service

	mu     sync.Mutex
	caller identity.Caller // of the last call
	called bool
}

func (f *fakeService) record(ctx context.Context) {
	c, ok := identity.FromContext(ctx)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.caller, f.called = c, ok
}

func (f *fakeService) lastCaller() (identity.Caller, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.caller, f.called
}

func (f *fakeService) reset() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.caller, f.called = identity.Caller{}, false
}

func (f *fakeService) DescribeBackups(ctx context.Context, in *api.DescribeBackupsRequest) (*api.DescribeBackupsResponse, error) {
	f.record(ctx)
	return &api.DescribeBackupsResponse{Backups: []api.Backup{{
		BackupId:        aws.String("backup-abcdefghijk"),
		BackupState:     aws.String(api.BackupStateReady),
		ClusterId:       aws.String("cluster-abcdefghijk"),
		CreateTimestamp: api.NewTimestamp(createdAt),
		NeverExpires:    aws.Bool(false),
		TagList:         []api.Tag{},
	}}}, nil
}

func (f *fakeService) RestoreBackup(ctx context.Context, in *api.RestoreBackupRequest) (*api.RestoreBackupResponse, error) {
	f.record(ctx)
	switch *in.BackupId {
	case idNotFound:
		return nil, api.Errorf(api.CodeResourceNotFound, "Backup '%s' does not exist", *in.BackupId)
	case idPlainError:
		return nil, errors.New("disk on fire")
	case idPanic:
		panic("restore exploded")
	}
	return &api.RestoreBackupResponse{Backup: &api.Backup{BackupId: in.BackupId, BackupState: aws.String(api.BackupStateReady), TagList: []api.Tag{}}}, nil
}

func (f *fakeService) TagResource(ctx context.Context, in *api.TagResourceRequest) (*api.TagResourceResponse, error) {
	f.record(ctx)
	return nil, nil // no output at all must still be {}
}

func (f *fakeService) UntagResource(ctx context.Context, in *api.UntagResourceRequest) (*api.UntagResourceResponse, error) {
	f.record(ctx)
	return &api.UntagResourceResponse{}, nil
}

func sigv4(account, region string) string {
	return "AWS4-HMAC-SHA256 Credential=" + account + "/20260101/" + region + "/cloudhsm/aws4_request, SignedHeaders=host;x-amz-date;x-amz-target, Signature=00"
}

const (
	internalMessage = "The request failed because of an internal error. It is safe to retry."
	backupsJSON     = `{"Backups":[{"BackupId":"backup-abcdefghijk","BackupState":"READY","ClusterId":"cluster-abcdefghijk","CreateTimestamp":1534461854.64,"NeverExpires":false,"TagList":[]}]}`
)

func TestHandler(t *testing.T) {
	fake := &fakeService{}
	srv := httptest.NewServer(NewHandler(fake, identity.Resolver{}, nil, nil)) // default request ids: uuid
	defer srv.Close()

	defaults := identity.Caller{Account: "000000000000", Region: "us-east-1"}
	tests := []struct {
		name        string
		method      string // default POST
		path        string // default /
		target      string // X-Amz-Target; "-" = not sent
		contentType string // default application/x-amz-json-1.1; "-" = not sent
		auth        string
		body        string

		wantStatus int
		wantType   string // error name; "" for success
		wantMsg    string // exact error message, or prefix when it ends in "…"
		wantBody   string // exact success body
		wantCaller *identity.Caller
	}{
		// Dispatch on X-Amz-Target.
		{name: "known operation succeeds", target: "BaldrApiService.DescribeBackups", body: `{}`,
			wantStatus: 200, wantBody: backupsJSON, wantCaller: &defaults},
		{name: "unknown operation", target: "BaldrApiService.Nope", body: `{}`,
			wantStatus: 400, wantType: "UnknownOperationException", wantMsg: "Unknown operation 'BaldrApiService.Nope'"},
		{name: "operation names are case-sensitive", target: "BaldrApiService.describeBackups",
			wantStatus: 400, wantType: "UnknownOperationException", wantMsg: "Unknown operation 'BaldrApiService.describeBackups'"},
		{name: "missing target", target: "-", body: `{}`,
			wantStatus: 400, wantType: "UnknownOperationException", wantMsg: "Missing X-Amz-Target header: expected BaldrApiService.<Operation>"},
		{name: "target is the prefix without a dot", target: "BaldrApiService",
			wantStatus: 400, wantType: "UnknownOperationException", wantMsg: "Unknown operation 'BaldrApiService': X-Amz-Target must be BaldrApiService.<Operation>"},
		{name: "target has no operation", target: "BaldrApiService.",
			wantStatus: 400, wantType: "UnknownOperationException", wantMsg: "Unknown operation 'BaldrApiService.': X-Amz-Target must be BaldrApiService.<Operation>"},
		{name: "target of another service", target: "Foo.DescribeBackups",
			wantStatus: 400, wantType: "UnknownOperationException", wantMsg: "Unknown operation 'Foo.DescribeBackups': X-Amz-Target must be BaldrApiService.<Operation>"},

		// Method and path.
		{name: "GET on / is not an operation", method: http.MethodGet, target: "BaldrApiService.DescribeBackups",
			wantStatus: 400, wantType: "UnknownOperationException", wantMsg: "Method GET is not supported: call an operation with POST / and an X-Amz-Target header"},
		{name: "other path is 404", path: "/clusters", target: "BaldrApiService.DescribeBackups", body: `{}`,
			wantStatus: 404, wantType: "UnknownOperationException", wantMsg: "No API at path '/clusters': the CloudHSM v2 API is POST / with an X-Amz-Target header"},

		// Content-Type is not checked.
		{name: "Content-Type application/json", target: "BaldrApiService.DescribeBackups", contentType: "application/json", body: `{}`,
			wantStatus: 200, wantBody: backupsJSON},
		{name: "Content-Type awsJson 1.0", target: "BaldrApiService.DescribeBackups", contentType: "application/x-amz-json-1.0", body: `{}`,
			wantStatus: 200, wantBody: backupsJSON},
		{name: "no Content-Type", target: "BaldrApiService.DescribeBackups", contentType: "-", body: `{}`,
			wantStatus: 200, wantBody: backupsJSON},

		// Body.
		{name: "empty body is {}", target: "BaldrApiService.DescribeBackups",
			wantStatus: 200, wantBody: backupsJSON},
		{name: "whitespace body is {}", target: "BaldrApiService.DescribeBackups", body: " \n\t",
			wantStatus: 200, wantBody: backupsJSON},
		{name: "unknown members are ignored", target: "BaldrApiService.DescribeBackups", body: `{"Bogus":[1,{"a":null}],"MaxResults":5}`,
			wantStatus: 200, wantBody: backupsJSON},
		{name: "null members are absent", target: "BaldrApiService.DescribeBackups", body: `{"MaxResults":null,"Filters":null}`,
			wantStatus: 200, wantBody: backupsJSON},
		{name: "null body", target: "BaldrApiService.DescribeBackups", body: `null`,
			wantStatus: 400, wantType: "SerializationException", wantMsg: "Request body must be a JSON object, not null"},
		{name: "array body", target: "BaldrApiService.DescribeBackups", body: `[{}]`,
			wantStatus: 400, wantType: "SerializationException", wantMsg: "Request body must be a JSON object, not an array"},
		{name: "string body", target: "BaldrApiService.DescribeBackups", body: ` "x"`,
			wantStatus: 400, wantType: "SerializationException", wantMsg: "Request body must be a JSON object, not a string"},
		{name: "invalid JSON", target: "BaldrApiService.DescribeBackups", body: `{"MaxResults" 5}`,
			wantStatus: 400, wantType: "SerializationException", wantMsg: "Request body is not valid JSON: invalid character '5' after object key (at byte 15)"},
		{name: "truncated JSON", target: "BaldrApiService.DescribeBackups", body: `{"MaxResults":`,
			wantStatus: 400, wantType: "SerializationException", wantMsg: "Request body is not valid JSON: unexpected end of input"},
		{name: "trailing data", target: "BaldrApiService.DescribeBackups", body: `{} {}`,
			wantStatus: 400, wantType: "SerializationException", wantMsg: "Request body has data after the JSON object (at byte 2)"},
		{name: "string for a number member", target: "BaldrApiService.DescribeBackups", body: `{"MaxResults":"10"}`,
			wantStatus: 400, wantType: "SerializationException", wantMsg: "Value for 'MaxResults' must be a number, not a string"},
		{name: "fraction for an integer member", target: "BaldrApiService.DescribeBackups", body: `{"MaxResults":1.5}`,
			wantStatus: 400, wantType: "SerializationException", wantMsg: "Value for 'MaxResults' must be an integer between -2147483648 and 2147483647, not 1.5"},
		{name: "string for a boolean member", target: "BaldrApiService.DescribeBackups", body: `{"Shared":"true"}`,
			wantStatus: 400, wantType: "SerializationException", wantMsg: "Value for 'Shared' must be a boolean, not a string"},
		{name: "string for a list inside a map", target: "BaldrApiService.DescribeBackups", body: `{"Filters":{"states":"READY"}}`,
			wantStatus: 400, wantType: "SerializationException", wantMsg: "Value for 'Filters' must be an array, not a string"},
		{name: "number for a string in a list of structures", target: "BaldrApiService.TagResource", body: `{"ResourceId":"cluster-abcdefghijk","TagList":[{"Key":1}]}`,
			wantStatus: 400, wantType: "SerializationException", wantMsg: "Value for 'TagList.Key' must be a string, not a number"},
		{name: "body over 1 MiB", target: "BaldrApiService.DescribeBackups", body: `{"x":"` + strings.Repeat("a", MaxBodyBytes) + `"}`,
			wantStatus: 400, wantType: "SerializationException", wantMsg: "Request body is larger than the limit of 1048576 bytes (1 MiB)"},
		{name: "body of exactly 1 MiB", target: "BaldrApiService.DescribeBackups", body: "{" + strings.Repeat(" ", MaxBodyBytes-2) + "}",
			wantStatus: 200, wantBody: backupsJSON},

		// Validation, before the service is called.
		{name: "constraint violation", target: "BaldrApiService.RestoreBackup", body: `{"BackupId":"x"}`,
			wantStatus: 400, wantType: "CloudHsmInvalidRequestException",
			wantMsg: "1 validation error detected: Value 'x' at 'backupId' failed to satisfy constraint: Member must satisfy regular expression pattern: ^backup-[2-7a-zA-Z]{11,16}$"},
		{name: "missing required member", target: "BaldrApiService.RestoreBackup", body: `{}`,
			wantStatus: 400, wantType: "CloudHsmInvalidRequestException",
			wantMsg: "1 validation error detected: Value null at 'backupId' failed to satisfy constraint: Member must not be null"},

		// Service outcomes.
		{name: "service success", target: "BaldrApiService.RestoreBackup", body: `{"BackupId":"backup-abcdefghijk"}`,
			wantStatus: 200, wantBody: `{"Backup":{"BackupId":"backup-abcdefghijk","BackupState":"READY","TagList":[]}}`},
		{name: "service *api.Error keeps its name and message", target: "BaldrApiService.RestoreBackup", body: `{"BackupId":"` + idNotFound + `"}`,
			wantStatus: 400, wantType: "CloudHsmResourceNotFoundException", wantMsg: "Backup '" + idNotFound + "' does not exist"},
		{name: "plain service error is a generic 500", target: "BaldrApiService.RestoreBackup", body: `{"BackupId":"` + idPlainError + `"}`,
			wantStatus: 500, wantType: "CloudHsmInternalFailureException", wantMsg: internalMessage},
		{name: "service panic is a generic 500", target: "BaldrApiService.RestoreBackup", body: `{"BackupId":"` + idPanic + `"}`,
			wantStatus: 500, wantType: "CloudHsmInternalFailureException", wantMsg: internalMessage},
		{name: "unimplemented operation (nil dereference) is a generic 500", target: "BaldrApiService.DescribeClusters", body: `{}`,
			wantStatus: 500, wantType: "CloudHsmInternalFailureException", wantMsg: internalMessage},
		{name: "nil output is {}", target: "BaldrApiService.TagResource", body: `{"ResourceId":"cluster-abcdefghijk","TagList":[{"Key":"k","Value":"v"}]}`,
			wantStatus: 200, wantBody: `{}`},
		{name: "empty output is {}", target: "BaldrApiService.UntagResource", body: `{"ResourceId":"cluster-abcdefghijk","TagKeyList":["k"]}`,
			wantStatus: 200, wantBody: `{}`},

		// Identity.
		{name: "caller from the credential scope reaches the service", target: "BaldrApiService.DescribeBackups",
			auth: sigv4("123456789012", "eu-west-1"), wantStatus: 200, wantBody: backupsJSON,
			wantCaller: &identity.Caller{Account: "123456789012", Region: "eu-west-1", AccessKeyID: "123456789012"}},
		{name: "malformed region in the scope", target: "BaldrApiService.DescribeBackups", auth: sigv4("123456789012", "nowhere"),
			wantStatus: 400, wantType: "CloudHsmInvalidRequestException", wantMsg: "Credential should be scoped to a valid region, not 'nowhere'."},
		{name: "identity is resolved before the target is looked at", target: "BaldrApiService.Nope", auth: sigv4("123456789012", "nowhere"),
			wantStatus: 400, wantType: "CloudHsmInvalidRequestException", wantMsg: "Credential should be scoped to a valid region, not 'nowhere'."},
	}

	seenIDs := map[string]string{}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake.reset()
			method, path := tt.method, tt.path
			if method == "" {
				method = http.MethodPost
			}
			if path == "" {
				path = "/"
			}
			req, err := http.NewRequest(method, srv.URL+path, strings.NewReader(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			if tt.target != "-" {
				req.Header.Set("X-Amz-Target", tt.target)
			}
			switch tt.contentType {
			case "":
				req.Header.Set("Content-Type", "application/x-amz-json-1.1")
			case "-":
			default:
				req.Header.Set("Content-Type", tt.contentType)
			}
			if tt.auth != "" {
				req.Header.Set("Authorization", tt.auth)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil {
				t.Fatal(err)
			}

			if resp.StatusCode != tt.wantStatus {
				t.Errorf("status = %d, want %d (body %s)", resp.StatusCode, tt.wantStatus, body)
			}
			if ct := resp.Header.Get("Content-Type"); ct != ContentType {
				t.Errorf("Content-Type = %q, want %q", ct, ContentType)
			}
			id := resp.Header.Get("x-amzn-RequestId")
			if id == "" {
				t.Error("no x-amzn-RequestId header")
			} else if prev, dup := seenIDs[id]; dup {
				t.Errorf("x-amzn-RequestId %q was already used by %q", id, prev)
			}
			seenIDs[id] = tt.name

			if tt.wantType == "" {
				if got := resp.Header.Get("X-Amzn-ErrorType"); got != "" {
					t.Errorf("X-Amzn-ErrorType = %q on a success", got)
				}
				if string(body) != tt.wantBody {
					t.Errorf("body = %s\nwant   %s", body, tt.wantBody)
				}
			} else {
				checkErrorBody(t, resp.Header, body, tt.wantType, tt.wantMsg)
			}

			if tt.wantCaller != nil {
				got, ok := fake.lastCaller()
				if !ok || got != *tt.wantCaller {
					t.Errorf("service saw caller %+v (in context: %v), want %+v", got, ok, *tt.wantCaller)
				}
			}
		})
	}
}

// checkErrorBody asserts the awsJson error document: exactly __type and message, __type equal
// to the X-Amzn-ErrorType header.
func checkErrorBody(t *testing.T, h http.Header, body []byte, wantType, wantMsg string) {
	t.Helper()
	var doc map[string]any
	if err := json.Unmarshal(body, &doc); err != nil {
		t.Fatalf("error body %q is not a JSON object: %v", body, err)
	}
	if len(doc) != 2 {
		t.Errorf("error body has members %v, want exactly __type and message", doc)
	}
	if doc["__type"] != wantType {
		t.Errorf("__type = %v, want %s", doc["__type"], wantType)
	}
	if got := h.Get("X-Amzn-ErrorType"); got != doc["__type"] {
		t.Errorf("X-Amzn-ErrorType = %q, body __type = %v; they must agree", got, doc["__type"])
	}
	msg, _ := doc["message"].(string)
	if prefix, ok := strings.CutSuffix(wantMsg, "…"); ok {
		if !strings.HasPrefix(msg, prefix) {
			t.Errorf("message = %q, want prefix %q", msg, prefix)
		}
	} else if msg != wantMsg {
		t.Errorf("message = %q\nwant      %q", msg, wantMsg)
	}
}

// lockedBuffer is a log sink safe to read while the server writes to it.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func counterIDs() func() string {
	var n atomic.Int64
	return func() string { return fmt.Sprintf("req-%d", n.Add(1)) }
}

func TestInternalFailuresAreLogged(t *testing.T) {
	tests := []struct {
		name    string
		id      string
		wantLog []string
	}{
		{name: "plain error logs its cause", id: idPlainError,
			wantLog: []string{`"level":"ERROR"`, `"request_id":"req-1"`, `"operation":"RestoreBackup"`, `"cause":"disk on fire"`}},
		{name: "panic logs its value and stack", id: idPanic,
			wantLog: []string{`"level":"ERROR"`, `"request_id":"req-1"`, `"cause":"panic: restore exploded"`, `"stack":"goroutine `, `(*fakeService).RestoreBackup`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var logs lockedBuffer
			h := NewHandler(&fakeService{}, identity.Resolver{}, slog.New(slog.NewJSONHandler(&logs, nil)), counterIDs())
			rec := httptest.NewRecorder()
			req := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(`{"BackupId":"`+tt.id+`"}`))
			req.Header.Set("X-Amz-Target", "BaldrApiService.RestoreBackup")
			h.ServeHTTP(rec, req)

			if rec.Code != 500 || rec.Header().Get("x-amzn-RequestId") != "req-1" {
				t.Fatalf("status %d, request id %q; want 500, req-1", rec.Code, rec.Header().Get("x-amzn-RequestId"))
			}
			if strings.Contains(rec.Body.String(), "disk on fire") || strings.Contains(rec.Body.String(), "exploded") {
				t.Errorf("client sees the cause: %s", rec.Body)
			}
			got := logs.String()
			for _, want := range tt.wantLog {
				if !strings.Contains(got, want) {
					t.Errorf("log lacks %s:\n%s", want, got)
				}
			}
		})
	}
}

func TestUnencodableResultIsA500(t *testing.T) {
	h := NewHandler(&fakeService{}, identity.Resolver{}, nil, counterIDs()).(*handler)
	rec := httptest.NewRecorder()
	h.writeResult(rec, httptest.NewRequest(http.MethodPost, "/", nil), "req-x", "DescribeBackups", map[string]any{"c": make(chan int)})
	if rec.Code != 500 {
		t.Fatalf("status = %d, want 500", rec.Code)
	}
	checkErrorBody(t, rec.Header(), rec.Body.Bytes(), "CloudHsmInternalFailureException", internalMessage)
}

// TestSDKClient drives the handler with the real Go SDK client.
func TestSDKClient(t *testing.T) {
	fake := &fakeService{}
	srv := httptest.NewServer(NewHandler(fake, identity.Resolver{}, nil, nil))
	defer srv.Close()

	client := cloudhsmv2.NewFromConfig(aws.Config{
		Region:       "eu-west-1",
		Credentials:  credentials.NewStaticCredentialsProvider("123456789012", "secret", ""),
		BaseEndpoint: aws.String(srv.URL),
	})
	ctx := context.Background()

	out, err := client.DescribeBackups(ctx, &cloudhsmv2.DescribeBackupsInput{MaxResults: aws.Int32(10)})
	if err != nil {
		t.Fatalf("DescribeBackups: %v", err)
	}
	caller, ok := fake.lastCaller()
	if want := (identity.Caller{Account: "123456789012", Region: "eu-west-1", AccessKeyID: "123456789012"}); !ok || caller != want {
		t.Errorf("service saw caller %+v, want %+v", caller, want)
	}
	if len(out.Backups) != 1 || out.Backups[0].CreateTimestamp == nil || !out.Backups[0].CreateTimestamp.Equal(createdAt) {
		t.Errorf("Backups = %+v, want one created at %v", out.Backups, createdAt)
	} else if out.Backups[0].BackupState != types.BackupStateReady || aws.ToString(out.Backups[0].BackupId) != "backup-abcdefghijk" {
		t.Errorf("backup = %+v", out.Backups[0])
	}
	if id, _ := awsmiddleware.GetRequestIDMetadata(out.ResultMetadata); id == "" {
		t.Error("SDK found no request id")
	}

	_, err = client.RestoreBackup(ctx, &cloudhsmv2.RestoreBackupInput{BackupId: aws.String(idNotFound)})
	var notFound *types.CloudHsmResourceNotFoundException
	if !errors.As(err, &notFound) {
		t.Fatalf("RestoreBackup error = %v (%T), want *types.CloudHsmResourceNotFoundException", err, err)
	}
	if want := "Backup '" + idNotFound + "' does not exist"; notFound.ErrorMessage() != want {
		t.Errorf("message = %q, want %q", notFound.ErrorMessage(), want)
	}

	_, err = client.RestoreBackup(ctx, &cloudhsmv2.RestoreBackupInput{BackupId: aws.String("x")})
	var invalid *types.CloudHsmInvalidRequestException
	if !errors.As(err, &invalid) {
		t.Fatalf("RestoreBackup(x) error = %v (%T), want *types.CloudHsmInvalidRequestException", err, err)
	}

	if _, err := client.TagResource(ctx, &cloudhsmv2.TagResourceInput{
		ResourceId: aws.String("cluster-abcdefghijk"),
		TagList:    []types.Tag{{Key: aws.String("k"), Value: aws.String("v")}},
	}); err != nil {
		t.Errorf("TagResource: %v", err)
	}
}

func FuzzHandler(f *testing.F) {
	for _, seed := range []struct{ target, auth, body string }{
		{"BaldrApiService.DescribeBackups", "", ""},
		{"BaldrApiService.DescribeBackups", "", `{"MaxResults":5,"Filters":{"states":["READY"]},"SortAscending":true}`},
		{"BaldrApiService.DescribeBackups", "", `{"MaxResults":"5"}`},
		{"BaldrApiService.RestoreBackup", "", `{"BackupId":"x"}`},
		{"BaldrApiService.RestoreBackup", "", `{"BackupId":"backup-abcdefghijk"}`},
		{"BaldrApiService.CreateCluster", "", `{"HsmType":"hsm2m.medium","SubnetIds":["subnet-0123456789abcdef0"],"BackupRetentionPolicy":{"Type":"DAYS","Value":"90"},"TagList":[{"Key":"a","Value":"b"}]}`},
		{"BaldrApiService.TagResource", "", `{"ResourceId":"cluster-abcdefghijk","TagList":[{"Key":1}]}`},
		{"BaldrApiService.ModifyCluster", "", `{"ClusterId":"cluster-abcdefghijk","BackupRetentionPolicy":{"Value":90}}`},
		{"BaldrApiService.ListTags", sigv4("123456789012", "eu-west-1"), `{"ResourceId":"backup-abcdefghijk","MaxResults":1e400}`},
		{"BaldrApiService.Nope", "", `{}`},
		{"Foo.DescribeBackups", "", `{}`},
		{"BaldrApiService", sigv4("123456789012", "nowhere"), `null`},
		{"", "", `[]`},
		{"BaldrApiService.DescribeClusters", "", `{} {}`},
		{"BaldrApiService.DescribeClusters", "", "{\"Filters\":{\"\xff\":[\"\\ud800\"]}}"},
		{"BaldrApiService.DescribeBackups", "", `{"Filters":{` + strings.Repeat(`"<\u0001>":[],`, 3000) + `"a":[]}}`},
		{"BaldrApiService.TagResource", "", `{"ResourceId":"` + strings.Repeat("&", 20000) + `","TagList":[` + strings.Repeat(`{"Key":"aws:<>","Value":"`+strings.Repeat("\u0002", 300)+`"},`, 60) + `{}]}`},
	} {
		f.Add(seed.target, seed.auth, []byte(seed.body))
	}
	h := NewHandler(apitest.Empty{}, identity.Resolver{}, nil, nil)
	f.Fuzz(func(t *testing.T, target, auth string, body []byte) {
		req := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(body))
		req.Header["X-Amz-Target"] = []string{target}
		if auth != "" {
			req.Header["Authorization"] = []string{auth}
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req) // a panic escaping here fails the fuzz run

		switch rec.Code {
		case http.StatusOK, http.StatusBadRequest:
		default:
			t.Fatalf("status %d for target %q body %q: %s", rec.Code, target, body, rec.Body)
		}
		if rec.Header().Get("x-amzn-RequestId") == "" {
			t.Error("no x-amzn-RequestId")
		}
		if ct := rec.Header().Get("Content-Type"); ct != ContentType {
			t.Errorf("Content-Type = %q", ct)
		}
		var doc map[string]any
		if err := json.Unmarshal(rec.Body.Bytes(), &doc); err != nil {
			t.Fatalf("response %q is not a JSON object: %v", rec.Body, err)
		}
		if rec.Code != http.StatusOK && rec.Body.Len() > api.MaxErrorBodyBytes {
			t.Fatalf("an error answer of %d bytes (the bound is %d) to a body of %d bytes", rec.Body.Len(), api.MaxErrorBodyBytes, len(body))
		}
		if rec.Code != http.StatusOK {
			if len(doc) != 2 || doc["__type"] != rec.Header().Get("X-Amzn-ErrorType") || doc["__type"] == "" {
				t.Errorf("error response %s with X-Amzn-ErrorType %q", rec.Body, rec.Header().Get("X-Amzn-ErrorType"))
			}
			if _, ok := doc["message"].(string); !ok {
				t.Errorf("error response %s has no string message", rec.Body)
			}
		}
	})
}
