// Package netfail tells the end-to-end tests a request that got no answer — its connection was
// refused, reset, closed or cut short — from a request that got one, and is the one retry
// policy those tests may use: retry a request whose connection was closed under it (the Go
// SDK's "use of closed network connection", aws/aws-sdk-go-v2#2737), and nothing else.
//
// An answer from the server — a 500, a throttle, any error it chose to send — is never a
// dropped connection and is never retried: a test must not pass by absorbing the failure it
// exists to catch. The package has no state and reads nothing but the error it is given.
package netfail

import (
	"errors"
	"io"
	"net"
	"syscall"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/smithy-go"
)

// NoAnswer reports whether err says the request got no answer: the connection was refused,
// reset or closed, or ended (EOF, a broken pipe, net/http's "server closed idle connection")
// before a whole response arrived. An API error, or a response with a status other than 2xx,
// is an answer, never this.
func NoAnswer(err error) bool {
	if err == nil || answered(err) {
		return false
	}
	for _, cause := range []error{syscall.ECONNREFUSED, syscall.ECONNRESET, syscall.EPIPE, net.ErrClosed, io.EOF, io.ErrUnexpectedEOF} {
		if errors.Is(err, cause) {
			return true
		}
	}
	return serverClosedIdle(err)
}

// Closed reports whether the connection of a request was closed or reset under it, with no
// answer: what aws/aws-sdk-go-v2#2737 looks like ("use of closed network connection", and
// "connection reset", which the SDK treats as the same). It is what Retryer retries.
func Closed(err error) bool {
	return err != nil && !answered(err) && (errors.Is(err, net.ErrClosed) || errors.Is(err, syscall.ECONNRESET))
}

// Retryer returns the SDK's standard retryer making up to maxAttempts attempts that retries
// only Closed errors; set it as cloudhsmv2.Options.Retryer (and leave RetryMaxAttempts alone,
// which would wrap it). Any other error, an answer from the server above all, is returned as
// it is, from whichever attempt got it.
func Retryer(maxAttempts int) aws.Retryer {
	return retry.NewStandard(func(o *retry.StandardOptions) {
		o.MaxAttempts = maxAttempts
		o.Retryables = []retry.IsErrorRetryable{retry.IsErrorRetryableFunc(func(err error) aws.Ternary {
			return aws.BoolTernary(Closed(err))
		})}
	})
}

// answered reports whether err carries an answer from the server: an API error, or an HTTP
// status other than 2xx. The SDK reports a request that got no response with status 0, and a
// 200 whose body was cut short by a closed connection is no answer either.
func answered(err error) bool {
	var api smithy.APIError
	if errors.As(err, &api) {
		return true
	}
	var status interface{ HTTPStatusCode() int }
	return errors.As(err, &status) && status.HTTPStatusCode() != 0 && status.HTTPStatusCode()/100 != 2
}

// serverClosedIdle reports net/http's "server closed idle connection": the server closed a
// kept-alive connection just as a request went out on it (golang/go#19943). net/http does
// not export that error, so it alone is known by its text.
func serverClosedIdle(err error) bool {
	for ; err != nil; err = errors.Unwrap(err) {
		if err.Error() == "http: server closed idle connection" {
			return true
		}
	}
	return false
}
