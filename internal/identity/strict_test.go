package identity

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/cloudhsm-local/cloudhsm-local/internal/api"
	"github.com/cloudhsm-local/cloudhsm-local/internal/clock"
)

// now is the wall time of the strict-mode unit tests.
var now = time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)

const (
	ownerKey, ownerSecret     = "AKIDOWNER00000000001", "owner/secret+with=odd chars"
	sessionKey, sessionSecret = "ASIASESSION000000001", "session-secret"
	sessionToken              = "session-token-value"
	expiredKey, expiredSecret = "ASIAEXPIRED000000001", "expired-secret"
	expiredToken              = "expired-token-value"
)

var testCredentials = `[
  {"access_key_id": "` + ownerKey + `", "secret_access_key": "` + ownerSecret + `", "account_id": "111122223333"},
  {"access_key_id": "` + sessionKey + `", "secret_access_key": "` + sessionSecret + `", "account_id": "444455556666",
   "session_token": "` + sessionToken + `", "session_expires": "2026-03-01T10:00:00Z",
   "policy": {"Statement": {"Effect": "Allow", "Action": "cloudhsm:Describe*", "Resource": "*"}}},
  {"access_key_id": "` + expiredKey + `", "secret_access_key": "` + expiredSecret + `", "account_id": "444455556666",
   "session_token": "` + expiredToken + `", "session_expires": "2026-03-01T09:00:00Z"}
]`

func mustCredentials(t testing.TB, text string) *Credentials {
	t.Helper()
	c, err := ParseCredentials([]byte(text))
	if err != nil {
		t.Fatalf("ParseCredentials: %v", err)
	}
	return c
}

// signedRequest builds a CloudHSM request the way an SDK does and signs it with the AWS SDK's
// own v4 signer, as of at, for region and service.
type signedRequest struct {
	key, secret, token string
	at                 time.Time
	region, service    string
	body               string
}

func (s signedRequest) build(t *testing.T) *http.Request {
	t.Helper()
	req, err := s.sign()
	if err != nil {
		t.Fatal(err)
	}
	return req
}

func (s signedRequest) sign() (*http.Request, error) {
	if s.region == "" {
		s.region = "us-west-2"
	}
	if s.service == "" {
		s.service = SigningName
	}
	if s.at.IsZero() {
		s.at = now
	}
	if s.body == "" {
		s.body = `{"MaxResults":5}`
	}
	req := httptest.NewRequest(http.MethodPost, "http://cloudhsm.test:4580/", strings.NewReader(s.body))
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	req.Header.Set("X-Amz-Target", "BaldrApiService.DescribeClusters")
	req.Header.Set("Content-Length", fmt.Sprint(len(s.body)))
	sum := sha256.Sum256([]byte(s.body))
	err := v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: s.key, SecretAccessKey: s.secret, SessionToken: s.token},
		req, hex.EncodeToString(sum[:]), s.service, s.region, s.at)
	return req, err
}

// signedOver signs a request over Content-Length, Host and X-Amz-Date only, as a hand-written
// client might, then
// adds X-Amz-Target (and Content-Type, unless empty) after signing.
func signedOver(t *testing.T, target, contentType string) *http.Request {
	t.Helper()
	body := `{"BackupId":"backup-abcdefghijk"}`
	req := httptest.NewRequest(http.MethodPost, "http://cloudhsm.test:4580/", strings.NewReader(body))
	sum := sha256.Sum256([]byte(body))
	err := v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: ownerKey, SecretAccessKey: ownerSecret},
		req, hex.EncodeToString(sum[:]), SigningName, "us-west-2", now)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(req.Header.Get("Authorization"), "SignedHeaders=content-length;host;x-amz-date,") {
		t.Fatalf("signed over more than content-length, host and x-amz-date: %s", req.Header.Get("Authorization"))
	}
	req.Header.Set("X-Amz-Target", target)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	return req
}

// withBody replaces the request's body (after signing).
func withBody(req *http.Request, body string) *http.Request {
	req.Body = io.NopCloser(strings.NewReader(body))
	return req
}

func strictResolver(c *Credentials) Resolver {
	return Resolver{Strict: NewVerifier(clock.NewManual(now), c)}
}

func TestStrictResolve(t *testing.T) {
	creds := mustCredentials(t, testCredentials)
	owner := signedRequest{key: ownerKey, secret: ownerSecret}
	session := signedRequest{key: sessionKey, secret: sessionSecret, token: sessionToken}
	tests := []struct {
		name    string
		req     func(t *testing.T) *http.Request
		want    Caller // Policy is checked for presence only
		policy  bool
		code    api.ErrorCode
		message string // a substring of the error message
	}{
		{
			name: "valid signature: the credential's account, the scope's region",
			req:  owner.build,
			want: Caller{Account: "111122223333", Region: "us-west-2", AccessKeyID: ownerKey},
		},
		{
			name:   "valid session credential with its token and policy",
			req:    session.build,
			want:   Caller{Account: "444455556666", Region: "us-west-2", AccessKeyID: sessionKey},
			policy: true,
		},
		{
			name: "signed 14 minutes ago: inside the window",
			req:  signedRequest{key: ownerKey, secret: ownerSecret, at: now.Add(-14 * time.Minute)}.build,
			want: Caller{Account: "111122223333", Region: "us-west-2", AccessKeyID: ownerKey},
		},
		{
			name: "signed 14 minutes ahead: inside the window",
			req:  signedRequest{key: ownerKey, secret: ownerSecret, at: now.Add(14 * time.Minute)}.build,
			want: Caller{Account: "111122223333", Region: "us-west-2", AccessKeyID: ownerKey},
		},
		{
			name: "an unsigned header may change",
			req: func(t *testing.T) *http.Request {
				r := owner.build(t)
				r.Header.Set("User-Agent", "changed in transit")
				return r
			},
			want: Caller{Account: "111122223333", Region: "us-west-2", AccessKeyID: ownerKey},
		},
		{
			name: "X-Amz-Target outside a signature over host and x-amz-date: a RestoreBackup signature replayed as DeleteBackup",
			req: func(t *testing.T) *http.Request {
				return signedOver(t, "BaldrApiService.DeleteBackup", "application/x-amz-json-1.1")
			},
			code:    api.CodeInvalidSignature,
			message: "Header content-type is not signed: SignedHeaders must include host, x-amz-date, content-type and every x-amz-* header the request carries.",
		},
		{
			name:    "X-Amz-Target unsigned, no Content-Type",
			req:     func(t *testing.T) *http.Request { return signedOver(t, "BaldrApiService.DeleteBackup", "") },
			code:    api.CodeInvalidSignature,
			message: "Header x-amz-target is not signed",
		},
		{
			name: "an unsigned X-Amz-* header of any name",
			req: func(t *testing.T) *http.Request {
				r := owner.build(t)
				r.Header.Set("X-Amz-Anything", "added in transit")
				return r
			},
			code:    api.CodeInvalidSignature,
			message: "Header x-amz-anything is not signed",
		},
		{
			name:    "no Authorization header",
			req:     func(*testing.T) *http.Request { return httptest.NewRequest(http.MethodPost, "/", nil) },
			code:    api.CodeMissingAuthenticationToken,
			message: "Missing Authentication Token",
		},
		{
			name: "a presigned query is not accepted",
			req: func(*testing.T) *http.Request {
				return httptest.NewRequest(http.MethodPost, "/?X-Amz-Credential="+ownerKey+"%2F20260301%2Fus-east-1%2Fcloudhsm%2Faws4_request", nil)
			},
			code: api.CodeMissingAuthenticationToken,
		},
		{
			name: "another scheme",
			req: func(t *testing.T) *http.Request {
				r := owner.build(t)
				r.Header.Set("Authorization", "Basic dXNlcjpwYXNz")
				return r
			},
			code:    api.CodeMissingAuthenticationToken,
			message: "the only supported algorithm is AWS4-HMAC-SHA256",
		},
		{
			name: "Authorization without Signature",
			req: func(t *testing.T) *http.Request {
				r := owner.build(t)
				h := r.Header.Get("Authorization")
				r.Header.Set("Authorization", h[:strings.Index(h, ", Signature=")])
				return r
			},
			code:    api.CodeMissingAuthenticationToken,
			message: "the Signature parameter is missing",
		},
		{
			name: "no X-Amz-Date",
			req: func(t *testing.T) *http.Request {
				r := owner.build(t)
				r.Header.Del("X-Amz-Date")
				return r
			},
			code:    api.CodeMissingAuthenticationToken,
			message: "X-Amz-Date",
		},
		{
			name:    "unknown access key",
			req:     signedRequest{key: "AKIDUNKNOWN000000001", secret: ownerSecret}.build,
			code:    api.CodeUnrecognizedClient,
			message: "The security token included in the request is invalid.",
		},
		{
			name:    "wrong secret",
			req:     signedRequest{key: ownerKey, secret: "not-the-secret"}.build,
			code:    api.CodeInvalidSignature,
			message: "The request signature we calculated does not match",
		},
		{
			name:    "tampered body (same length)",
			req:     func(t *testing.T) *http.Request { return withBody(owner.build(t), `{"MaxResults":6}`) },
			code:    api.CodeInvalidSignature,
			message: "does not match",
		},
		{
			name: "tampered signed header",
			req: func(t *testing.T) *http.Request {
				r := owner.build(t)
				r.Header.Set("X-Amz-Target", "BaldrApiService.DeleteBackup")
				return r
			},
			code: api.CodeInvalidSignature,
		},
		{
			name: "tampered Host",
			req: func(t *testing.T) *http.Request {
				r := owner.build(t)
				r.Host = "elsewhere.test:4580"
				return r
			},
			code: api.CodeInvalidSignature,
		},
		{
			name: "a signed header removed",
			req: func(t *testing.T) *http.Request {
				r := owner.build(t)
				r.Header.Del("Content-Type")
				return r
			},
			code: api.CodeInvalidSignature,
		},
		{
			name:    "replayed 20 minutes later",
			req:     signedRequest{key: ownerKey, secret: ownerSecret, at: now.Add(-20 * time.Minute)}.build,
			code:    api.CodeInvalidSignature,
			message: "Signature expired: 20260301T084000Z is now earlier than 20260301T084500Z (20260301T090000Z - 15 min.)",
		},
		{
			name:    "signed 20 minutes in the future",
			req:     signedRequest{key: ownerKey, secret: ownerSecret, at: now.Add(20 * time.Minute)}.build,
			code:    api.CodeInvalidSignature,
			message: "Signature expired: 20260301T092000Z is still later than 20260301T091500Z",
		},
		{
			name:    "session credential without its token",
			req:     signedRequest{key: sessionKey, secret: sessionSecret}.build,
			code:    api.CodeUnrecognizedClient,
			message: "The security token included in the request is invalid.",
		},
		{
			name: "session credential with another token",
			req:  signedRequest{key: sessionKey, secret: sessionSecret, token: "forged"}.build,
			code: api.CodeUnrecognizedClient,
		},
		{
			name: "a token on a credential that has none",
			req:  signedRequest{key: ownerKey, secret: ownerSecret, token: sessionToken}.build,
			code: api.CodeUnrecognizedClient,
		},
		{
			name:    "expired session",
			req:     signedRequest{key: expiredKey, secret: expiredSecret, token: expiredToken}.build,
			code:    api.CodeExpiredToken,
			message: "The security token included in the request is expired",
		},
		{
			name:    "another service's scope",
			req:     signedRequest{key: ownerKey, secret: ownerSecret, service: "cloudhsmv2"}.build,
			code:    api.CodeInvalidSignature,
			message: "Credential should be scoped to correct service: 'cloudhsm'.",
		},
		{
			name:    "malformed region",
			req:     signedRequest{key: ownerKey, secret: ownerSecret, region: "moon-base-1"}.build,
			code:    api.CodeInvalidRequest,
			message: "Credential should be scoped to a valid region, not 'moon-base-1'.",
		},
		{
			name: "scope date other than X-Amz-Date's",
			req: func(t *testing.T) *http.Request {
				r := owner.build(t)
				r.Header.Set("Authorization", strings.Replace(r.Header.Get("Authorization"), "/20260301/", "/20260228/", 1))
				return r
			},
			code:    api.CodeInvalidSignature,
			message: "Date in Credential scope does not match",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := strictResolver(creds).Resolve(tt.req(t))
			if tt.code != "" {
				e := api.AsError(err)
				if err == nil || e.Code != tt.code || !strings.Contains(e.Message, tt.message) {
					t.Fatalf("Resolve() = %+v, %v; want %s containing %q", got, err, tt.code, tt.message)
				}
				if e.Code.Status() != http.StatusBadRequest {
					t.Errorf("%s has status %d, want 400", e.Code, e.Code.Status())
				}
				assertNoSecret(t, e.Message)
				return
			}
			if err != nil {
				t.Fatalf("Resolve() error = %v", err)
			}
			if (got.Policy != nil) != tt.policy {
				t.Errorf("Policy = %v, want present = %t", got.Policy, tt.policy)
			}
			got.Policy = nil
			if got != tt.want {
				t.Errorf("Resolve() = %+v, want %+v", got, tt.want)
			}
		})
	}
}

// assertNoSecret fails if s contains any secret or session token of testCredentials.
func assertNoSecret(t *testing.T, s string) {
	t.Helper()
	for _, secret := range []string{ownerSecret, sessionSecret, sessionToken, expiredSecret, expiredToken} {
		if strings.Contains(s, secret) {
			t.Errorf("%q contains a secret", s)
		}
	}
}

// TestStrictResolveReadsTheBodyItWasGiven: the protocol layer hands Resolve a request whose body
// it may consume.
func TestStrictResolveReadsTheBodyItWasGiven(t *testing.T) {
	req := signedRequest{key: ownerKey, secret: ownerSecret, body: `{}`}.build(t)
	req.Body = io.NopCloser(bytes.NewReader([]byte(`{}`)))
	if _, err := strictResolver(mustCredentials(t, testCredentials)).Resolve(req); err != nil {
		t.Fatal(err)
	}
}

// TestSetCredentialsRotatesSecrets: after a reload that changes a key's secret, the old secret
// no longer verifies, even the same day (the SDK signer caches derived keys by key id and day).
func TestSetCredentialsRotatesSecrets(t *testing.T) {
	set := func(secret string) *Credentials {
		return mustCredentials(t, `[{"access_key_id":"`+ownerKey+`","secret_access_key":"`+secret+`","account_id":"111122223333"}]`)
	}
	r := strictResolver(set("first"))
	if _, err := r.Resolve(signedRequest{key: ownerKey, secret: "first"}.build(t)); err != nil {
		t.Fatalf("first secret before the reload: %v", err)
	}
	r.Strict.SetCredentials(set("second"))
	if _, err := r.Resolve(signedRequest{key: ownerKey, secret: "first"}.build(t)); api.AsError(err).Code != api.CodeInvalidSignature {
		t.Fatalf("first secret after the reload: %v, want InvalidSignatureException", err)
	}
	if _, err := r.Resolve(signedRequest{key: ownerKey, secret: "second"}.build(t)); err != nil {
		t.Fatalf("second secret after the reload: %v", err)
	}
	r.Strict.SetCredentials(nil)
	if _, err := r.Resolve(signedRequest{key: ownerKey, secret: "second"}.build(t)); api.AsError(err).Code != api.CodeUnrecognizedClient {
		t.Fatalf("after emptying the set: %v, want UnrecognizedClientException", err)
	}
}

// TestSetCredentialsUnderLoad: swapping sets while requests are verified drops none of them
// (run with -race).
func TestSetCredentialsUnderLoad(t *testing.T) {
	a := mustCredentials(t, testCredentials)
	b := mustCredentials(t, `[{"access_key_id":"`+ownerKey+`","secret_access_key":"`+ownerSecret+`","account_id":"111122223333"},
		{"access_key_id":"AKIDNEW0000000000001","secret_access_key":"new","account_id":"111122223333"}]`)
	r := strictResolver(a)
	stop := make(chan struct{})
	var swapper sync.WaitGroup
	swapper.Go(func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			if i%2 == 0 {
				r.Strict.SetCredentials(a)
			} else {
				r.Strict.SetCredentials(b)
			}
		}
	})
	var verifiers sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		req := signedRequest{key: ownerKey, secret: ownerSecret}
		verifiers.Go(func() {
			for range 100 {
				signed, err := req.sign()
				if err == nil {
					_, err = r.Resolve(signed)
				}
				if err != nil {
					errs <- err
					return
				}
			}
		})
	}
	verifiers.Wait()
	close(stop)
	swapper.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("a request failed during reloads: %v", err)
	}
}
