package admin

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// Client calls a running server's admin API; the cloudhsm-local subcommands use it.
type Client struct {
	// Endpoint is the server's base URL, e.g. http://127.0.0.1:4580.
	Endpoint string
	// HTTP is the client to use; nil means http.DefaultClient.
	HTTP *http.Client
	// Token is the admin token sent as "Authorization: Bearer <token>"; empty sends none.
	Token string
}

// Call sends one admin request (body may be nil) and returns the JSON response body. A
// non-2xx answer becomes a *StatusError carrying the server's message.
func (c Client) Call(ctx context.Context, method, path string, body any) (json.RawMessage, error) {
	var in io.Reader
	if body != nil {
		raw, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		in = bytes.NewReader(raw)
	}
	resp, err := c.Send(ctx, method, path, in)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return nil, fmt.Errorf("read response of %s %s: %w", method, path, err)
	}
	return out, nil
}

// Send sends one admin request with body (nil for none) as it is, and returns the answer for
// the caller to read and close: a whole state (GET and PUT state) streams both ways. A non-2xx
// answer becomes a *StatusError carrying the server's message, its body read and closed.
func (c Client) Send(ctx context.Context, method, path string, body io.Reader) (*http.Response, error) {
	url := strings.TrimSuffix(c.Endpoint, "/") + Prefix + strings.TrimPrefix(path, "/")
	req, err := http.NewRequestWithContext(ctx, method, url, body)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("cannot reach cloudhsm-local at %s (is it running? set --endpoint): %w", c.Endpoint, err)
	}
	if resp.StatusCode/100 == 2 {
		return resp, nil
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return nil, fmt.Errorf("read response of %s %s: %w", method, url, err)
	}
	se := &StatusError{Method: method, Path: path, StatusCode: resp.StatusCode}
	var e Error
	if json.Unmarshal(out, &e) == nil && e.Error != "" {
		se.Message = e.Error
	} else {
		se.Body = string(bytes.TrimSpace(out))
	}
	return nil, se
}

// StatusError is the error of a call the server answered with a status other than 2xx, so that
// callers can tell a refusal (404, 409, ...) from a server they could not reach.
type StatusError struct {
	Method, Path string
	// StatusCode is the HTTP status of the answer.
	StatusCode int
	// Message is the server's explanation (the body's Error), empty when the body was not one.
	Message string
	// Body is the body as text when it held no Error.
	Body string
}

func (e *StatusError) Error() string {
	if e.Message != "" {
		return fmt.Sprintf("%s %s: %s (HTTP %d)", e.Method, e.Path, e.Message, e.StatusCode)
	}
	return fmt.Sprintf("%s %s: HTTP %d: %s", e.Method, e.Path, e.StatusCode, e.Body)
}
