package netfail

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"syscall"
	"testing"

	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// The errors below are built the way the SDK, net/http and the admin client build them.

// operation wraps err as the SDK returns it from an operation.
func operation(err error) error {
	return &smithy.OperationError{ServiceID: "CloudHSM V2", OperationName: "DescribeBackups", Err: err}
}

// response wraps err as the SDK does for a response with an HTTP status.
func response(status int, err error) error {
	return operation(&awshttp.ResponseError{ResponseError: &smithyhttp.ResponseError{
		Response: &smithyhttp.Response{Response: &http.Response{StatusCode: status}}, Err: err,
	}})
}

// sending wraps a transport error as the SDK does when a request got no response: a response
// error with status 0.
func sending(err error) error {
	return response(0, &smithyhttp.RequestSendError{Err: &url.Error{Op: "Post", URL: "http://127.0.0.1:4580/", Err: err}})
}

func syscallErr(op string, errno syscall.Errno) error {
	return &net.OpError{Op: op, Net: "tcp", Err: os.NewSyscallError(op, errno)}
}

func TestClassification(t *testing.T) {
	var syntax *json.SyntaxError
	if err := json.Unmarshal([]byte(`{"Backups":[`+"\x00"), &struct{}{}); !errors.As(err, &syntax) {
		t.Fatalf("want a JSON syntax error, got %v", err)
	}
	tests := []struct {
		name             string
		err              error
		noAnswer, closed bool
	}{
		{"no error", nil, false, false},
		{"CloudHsmInternalFailureException (500) is an answer",
			response(500, &smithy.GenericAPIError{Code: "CloudHsmInternalFailureException", Message: "injected"}), false, false},
		{"ThrottlingException (400) is an answer",
			response(400, &smithy.GenericAPIError{Code: "ThrottlingException", Message: "slow down", Fault: smithy.FaultClient}), false, false},
		{"an API error is an answer even if its connection closed after it",
			response(500, fmt.Errorf("%w after %w", &smithy.GenericAPIError{Code: "CloudHsmInternalFailureException"}, net.ErrClosed)), false, false},
		{"a 502 without an API error is an answer", response(502, errors.New("bad gateway")), false, false},
		{"the admin client's error for an HTTP 500 is not a dropped connection",
			errors.New("POST clock: store failure (HTTP 500)"), false, false},
		{"a garbled 200 is not a dropped connection",
			response(200, &smithy.DeserializationError{Err: fmt.Errorf("failed to decode response body, %w", syntax)}), false, false},
		{"a deadline is not a dropped connection", sending(context.DeadlineExceeded), false, false},
		{"a connection closed under the request (aws-sdk-go-v2#2737)",
			sending(&net.OpError{Op: "read", Net: "tcp", Err: net.ErrClosed}), true, true},
		{"a connection closed under a 200's body (aws-sdk-go-v2#2737 as reported)",
			response(200, &smithy.DeserializationError{Err: fmt.Errorf("failed to decode response body, %w", &net.OpError{Op: "read", Net: "tcp", Err: net.ErrClosed})}), true, true},
		{"a connection reset", sending(syscallErr("read", syscall.ECONNRESET)), true, true},
		{"a connection refused", sending(syscallErr("dial", syscall.ECONNREFUSED)), true, false},
		{"a broken pipe", sending(syscallErr("write", syscall.EPIPE)), true, false},
		{"EOF before the response", sending(io.EOF), true, false},
		{"a 200 cut short", response(200, &smithy.DeserializationError{Err: io.ErrUnexpectedEOF}), true, false},
		{"net/http's server closed idle connection", sending(errors.New("http: server closed idle connection")), true, false},
		{"the admin client cannot reach the server",
			fmt.Errorf("cannot reach cloudhsm-local at http://127.0.0.1:4580: %w", &url.Error{Op: "Post", Err: syscallErr("dial", syscall.ECONNREFUSED)}), true, false},
	}
	retryer := Retryer(3)
	if got := retryer.MaxAttempts(); got != 3 {
		t.Fatalf("Retryer(3).MaxAttempts() = %d", got)
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := NoAnswer(tc.err); got != tc.noAnswer {
				t.Errorf("NoAnswer(%v) = %t, want %t", tc.err, got, tc.noAnswer)
			}
			if got := Closed(tc.err); got != tc.closed {
				t.Errorf("Closed(%v) = %t, want %t", tc.err, got, tc.closed)
			}
			if tc.err != nil {
				if got := retryer.IsErrorRetryable(tc.err); got != tc.closed {
					t.Errorf("Retryer retries %v: %t, want %t", tc.err, got, tc.closed)
				}
			}
		})
	}
}
