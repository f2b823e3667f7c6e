package loadgen

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"
)

// Account and Region are the identity every request carries in its SigV4 credential scope
// unless the client is re-scoped with As, so that all requests of a run see the same account's
// resources.
const (
	Account = "111122223333"
	Region  = "us-east-1"
)

// TenantAccount is the account of tenant i (0 to 99) in multi-tenant workloads: 1111222233NN,
// a 12-digit ID apart from Account for every i.
func TenantAccount(i int) string { return fmt.Sprintf("1111222233%02d", i%100) }

// Client sends awsJson1_1 requests and admin calls to one endpoint over a keep-alive pool
// sized for the run's concurrency.
type Client struct {
	// Endpoint is the base URL, e.g. http://127.0.0.1:4580.
	Endpoint string
	// HTTP is the tuned client every request goes through.
	HTTP *http.Client
	auth string
}

// authorization is the Authorization header of an unverified SigV4 request scoped to account
// in Region: enough for a server that reads the scope without checking the signature.
func authorization(account string) string {
	return "AWS4-HMAC-SHA256 Credential=" + account + "/20260101/" + Region + "/cloudhsm/aws4_request, " +
		"SignedHeaders=content-type;host;x-amz-date;x-amz-target, Signature=" + strings.Repeat("0", 64)
}

// NewClient returns a client for endpoint whose pool keeps an idle connection for each of
// concurrency clients (and then some), so a run never pays for reconnecting.
func NewClient(endpoint string, concurrency int) *Client {
	idle := 2*concurrency + 16
	tr := &http.Transport{
		Proxy:                 nil, // loopback only: never through a proxy from the environment
		DialContext:           (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:          idle,
		MaxIdleConnsPerHost:   idle,
		IdleConnTimeout:       2 * time.Minute,
		DisableCompression:    true,
		ResponseHeaderTimeout: 2 * time.Minute,
	}
	return &Client{
		Endpoint: strings.TrimSuffix(endpoint, "/"),
		HTTP:     &http.Client{Transport: tr, Timeout: 5 * time.Minute},
		auth:     authorization(Account),
	}
}

// As returns a client of the same endpoint and connection pool whose requests are scoped to
// account instead.
func (c *Client) As(account string) *Client {
	cp := *c
	cp.auth = authorization(account)
	return &cp
}

// Header returns the headers of an awsJson1_1 request for op: what Post sends, and what another
// client (wrk) must send to be answered the same way.
func (c *Client) Header(op string) http.Header {
	return http.Header{
		"Content-Type":  {"application/x-amz-json-1.1"},
		"X-Amz-Target":  {"BaldrApiService." + op},
		"X-Amz-Date":    {"20260101T000000Z"},
		"Authorization": {c.auth},
	}
}

// Close drops the idle connections.
func (c *Client) Close() { c.HTTP.CloseIdleConnections() }

// StatusError is a response that was not 200.
type StatusError struct {
	Op     string
	Status int
	Body   string
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("%s: HTTP %d: %s", e.Op, e.Status, clip(e.Body, 300))
}

// Post sends one operation with a raw JSON body and returns the response body, read into
// scratch's storage when it is big enough. Any status but 200 is a *StatusError.
func (c *Client) Post(ctx context.Context, op string, body []byte, scratch []byte) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.Endpoint+"/", bytes.NewReader(body))
	if err != nil {
		return scratch, err
	}
	req.Header = c.Header(op)
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return scratch, fmt.Errorf("%s: %w", op, err)
	}
	defer resp.Body.Close()
	out, err := readAll(resp.Body, scratch[:0])
	if err != nil {
		return out, fmt.Errorf("%s: read response: %w", op, err)
	}
	if resp.StatusCode != http.StatusOK {
		return out, &StatusError{Op: op, Status: resp.StatusCode, Body: string(out)}
	}
	return out, nil
}

// Call sends one operation with in encoded as JSON and decodes the response into out (if not
// nil).
func (c *Client) Call(ctx context.Context, op string, in, out any) error {
	body, err := json.Marshal(in)
	if err != nil {
		return err
	}
	raw, err := c.Post(ctx, op, body, nil)
	if err != nil {
		return err
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(raw, out); err != nil {
		return fmt.Errorf("%s: decode %s: %w", op, clip(string(raw), 200), err)
	}
	return nil
}

// Admin calls the emulator's admin API (path relative to /_cloudhsm-local/) and decodes the
// answer into out (if not nil).
func (c *Client) Admin(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		raw, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(raw)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.Endpoint+"/_cloudhsm-local/"+path, body)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return fmt.Errorf("admin %s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("admin %s %s: %w", method, path, err)
	}
	if resp.StatusCode/100 != 2 {
		return &StatusError{Op: "admin " + method + " " + path, Status: resp.StatusCode, Body: string(raw)}
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			return fmt.Errorf("admin %s %s: decode: %w", method, path, err)
		}
	}
	return nil
}

// readAll appends r to buf, growing it as needed.
func readAll(r io.Reader, buf []byte) ([]byte, error) {
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return buf, err
		}
	}
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
