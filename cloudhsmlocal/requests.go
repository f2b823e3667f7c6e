package cloudhsmlocal

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/cloudhsm-local/cloudhsm-local/internal/admin"
)

// Request is one CloudHSM v2 API call the server answered, as its request history keeps it
// (Options.History). It never holds a secret, a signature or a request body.
type Request struct {
	// Time is the wall time the request arrived. VirtualTime is the virtual time its operation
	// ran at; zero when the request was refused before the operation ran (authentication, an
	// unknown operation, an injected fault, an invalid body or member).
	Time, VirtualTime time.Time
	// RequestID is the answer's x-amzn-RequestId.
	RequestID string
	// Operation is the operation asked for, such as "RestoreBackup"; empty when the request
	// named none.
	Operation string
	// Account, Region and AccessKeyID are the caller's; empty when the request was not
	// authenticated.
	Account, Region, AccessKeyID string
	// Status is the answer's HTTP status; Error its error name, such as
	// "CloudHsmInvalidRequestException", empty on success.
	Status int
	Error  string
	// Duration is how long the answer took (to the microsecond).
	Duration time.Duration
	// ResourceIDs are the clusters, backups and HSMs the request and its answer name, each once
	// in order of appearance, at most 100.
	ResourceIDs []string
}

// RequestFilter selects requests for Server.Requests. Empty fields do not filter; the fields
// that are set must all match.
type RequestFilter struct {
	// Operation is an operation name such as "RestoreBackup".
	Operation string
	// Account is a 12-digit account id, Region a region such as "us-east-1".
	Account, Region string
	// Error is an error name such as "CloudHsmResourceNotFoundException", or AnyError for
	// every request that failed.
	Error string
	// Limit is the most requests to return; 0 returns every match.
	Limit int
}

// AnyError is the RequestFilter.Error that selects every request that failed.
const AnyError = "*"

// Requests returns the most recent API calls the server answered that pass f, newest first.
// The server keeps the last Options.History of them (1,000 by default) and Reset clears them. A
// filter the server refuses is ErrInvalidArgument; a server whose history is off, ErrNotFound.
func (s *Server) Requests(ctx context.Context, f RequestFilter) ([]Request, error) {
	q := url.Values{}
	for name, v := range map[string]string{"operation": f.Operation, "account": f.Account, "region": f.Region, "error": f.Error} {
		if v != "" {
			q.Set(name, v)
		}
	}
	if f.Limit != 0 {
		q.Set("limit", strconv.Itoa(f.Limit))
	}
	path := "requests"
	if len(q) > 0 {
		path += "?" + q.Encode()
	}
	var out admin.RequestList
	if err := s.call(ctx, "list the requests", http.MethodGet, path, nil, &out); err != nil {
		return nil, err
	}
	list := make([]Request, len(out.Requests))
	for i, r := range out.Requests {
		req, err := request(r)
		if err != nil {
			return nil, err
		}
		list[i] = req
	}
	return list, nil
}

// request converts the admin API's view of a request.
func request(r admin.Request) (Request, error) {
	out := Request{
		RequestID: r.RequestID, Operation: r.Operation, Account: r.Account, Region: r.Region, AccessKeyID: r.AccessKeyID,
		Status: r.Status, Error: r.Error, Duration: time.Duration(r.DurationMs * float64(time.Millisecond)).Round(time.Microsecond),
		ResourceIDs: r.ResourceIDs,
	}
	var err error
	if out.Time, err = time.Parse(time.RFC3339Nano, r.Time); err != nil {
		return Request{}, fmt.Errorf("cloudhsmlocal: request %s: Time %q: %w", r.RequestID, r.Time, err)
	}
	if r.VirtualTime != "" {
		if out.VirtualTime, err = time.Parse(time.RFC3339Nano, r.VirtualTime); err != nil {
			return Request{}, fmt.Errorf("cloudhsmlocal: request %s: VirtualTime %q: %w", r.RequestID, r.VirtualTime, err)
		}
	}
	return out, nil
}
