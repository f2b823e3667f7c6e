package protocol

import (
	"bufio"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/cloudhsm-local/cloudhsm-local/internal/identity"
)

// outcomes is an Observer that keeps what it is told.
type outcomes struct {
	mu   sync.Mutex
	seen []Outcome
}

func (o *outcomes) Request(out Outcome) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.seen = append(o.seen, out)
}

func (o *outcomes) take() []Outcome {
	o.mu.Lock()
	defer o.mu.Unlock()
	seen := o.seen
	o.seen = nil
	return seen
}

// Every request ends in exactly one debug line and one Outcome, with the operation (only one
// of the service's), the caller, the status, the error name and the duration.
func TestEachRequestIsLoggedAndObservedOnce(t *testing.T) {
	var logs lockedBuffer
	obs := &outcomes{}
	logger := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	srv := httptest.NewServer(NewHandler(&fakeService{}, identity.Resolver{}, logger, counterIDs(), WithObserver(obs)))
	defer srv.Close()

	tests := []struct {
		name, path, target, auth, body string
		want                           Outcome // RequestID and Duration are checked apart
		wantMessage                    string
	}{
		{name: "success", path: "/", target: "BaldrApiService.DescribeBackups", auth: sigv4("111122223333", "eu-west-1"),
			want: Outcome{Operation: "DescribeBackups", Account: "111122223333", Region: "eu-west-1", Status: 200}},
		{name: "an error of the operation", path: "/", target: "BaldrApiService.RestoreBackup", body: `{"BackupId":"` + idNotFound + `"}`,
			want:        Outcome{Operation: "RestoreBackup", Account: "000000000000", Region: "us-east-1", Status: 400, Error: "CloudHsmResourceNotFoundException"},
			wantMessage: "Backup '" + idNotFound + "' does not exist"},
		{name: "an unknown operation is no operation", path: "/", target: "BaldrApiService.MineBitcoin",
			want: Outcome{Account: "000000000000", Region: "us-east-1", Status: 400, Error: "UnknownOperationException"}},
		{name: "another path: no caller yet", path: "/elsewhere", target: "BaldrApiService.DescribeBackups",
			want: Outcome{Status: 404, Error: "UnknownOperationException"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req, err := http.NewRequest(http.MethodPost, srv.URL+tc.path, strings.NewReader(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("X-Amz-Target", tc.target)
			if tc.auth != "" {
				req.Header.Set("Authorization", tc.auth)
			}
			resp, err := srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			reqID := resp.Header.Get("x-amzn-RequestId")

			seen := obs.take()
			if len(seen) != 1 {
				t.Fatalf("the Observer was told %d times, want once: %+v", len(seen), seen)
			}
			got := seen[0]
			if got.RequestID != reqID || got.Duration <= 0 {
				t.Errorf("Outcome has request ID %q and duration %s; want %q and more than 0", got.RequestID, got.Duration, reqID)
			}
			got.RequestID, got.Duration = "", 0
			if got != tc.want {
				t.Errorf("Outcome = %+v, want %+v", got, tc.want)
			}

			var lines []map[string]any
			sc := bufio.NewScanner(strings.NewReader(logs.String()))
			for sc.Scan() {
				var line map[string]any
				if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
					t.Fatalf("log line %q: %v", sc.Text(), err)
				}
				if line["request_id"] == reqID {
					lines = append(lines, line)
				}
			}
			if len(lines) != 1 {
				t.Fatalf("%d log lines for request %s, want 1:\n%s", len(lines), reqID, logs.String())
			}
			line := lines[0]
			wantLine := map[string]any{"level": "DEBUG", "msg": "request", "operation": tc.want.Operation,
				"account": tc.want.Account, "region": tc.want.Region, "status": float64(tc.want.Status)}
			if tc.want.Error != "" {
				wantLine["error"], wantLine["message"] = string(tc.want.Error), tc.wantMessage
			}
			for k, v := range wantLine {
				if k == "message" && tc.wantMessage == "" {
					continue
				}
				if line[k] != v {
					t.Errorf("log line %s = %v, want %v (line %v)", k, line[k], v, line)
				}
			}
			if _, ok := line["duration"]; !ok {
				t.Errorf("log line has no duration: %v", line)
			}
		})
	}
}
