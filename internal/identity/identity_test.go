package identity

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"testing"

	"github.com/cloudhsm-local/cloudhsm-local/internal/api"
)

func sigv4(credential string) string {
	return "AWS4-HMAC-SHA256 Credential=" + credential +
		", SignedHeaders=content-type;host;x-amz-date;x-amz-target, Signature=0123456789abcdef"
}

func TestResolve(t *testing.T) {
	tests := []struct {
		name     string
		resolver Resolver
		auth     string            // Authorization header; "" = none
		query    map[string]string // URL query parameters
		want     Caller
		wantErr  string // message of the expected CloudHsmInvalidRequestException
	}{
		{
			name: "no credentials: default account and region",
			want: Caller{Account: "000000000000", Region: "us-east-1"},
		},
		{
			name:     "no credentials: configured defaults",
			resolver: Resolver{DefaultRegion: "eu-central-1", DefaultAccount: "111122223333"},
			want:     Caller{Account: "111122223333", Region: "eu-central-1"},
		},
		{
			name: "12-digit access key is the account, region from the scope",
			auth: sigv4("123456789012/20260101/us-west-2/cloudhsm/aws4_request"),
			want: Caller{Account: "123456789012", Region: "us-west-2", AccessKeyID: "123456789012"},
		},
		{
			name: "ordinary access key maps to the default account",
			auth: sigv4("AKIAIOSFODNN7EXAMPLE/20260101/eu-west-1/cloudhsm/aws4_request"),
			want: Caller{Account: "000000000000", Region: "eu-west-1", AccessKeyID: "AKIAIOSFODNN7EXAMPLE"},
		},
		{
			name:     "ordinary access key maps to the configured default account",
			resolver: Resolver{DefaultAccount: "111122223333"},
			auth:     sigv4("AKIAIOSFODNN7EXAMPLE/20260101/eu-west-1/cloudhsm/aws4_request"),
			want:     Caller{Account: "111122223333", Region: "eu-west-1", AccessKeyID: "AKIAIOSFODNN7EXAMPLE"},
		},
		{
			name: "11 digits is not an account",
			auth: sigv4("12345678901/20260101/us-east-2/cloudhsm/aws4_request"),
			want: Caller{Account: "000000000000", Region: "us-east-2", AccessKeyID: "12345678901"},
		},
		{
			name: "13 digits is not an account",
			auth: sigv4("1234567890123/20260101/us-east-2/cloudhsm/aws4_request"),
			want: Caller{Account: "000000000000", Region: "us-east-2", AccessKeyID: "1234567890123"},
		},
		{
			name: "non-ASCII digits are not an account",
			auth: sigv4("١٢٣٤٥٦٧٨٩٠١٢/20260101/us-east-2/cloudhsm/aws4_request"),
			want: Caller{Account: "000000000000", Region: "us-east-2", AccessKeyID: "١٢٣٤٥٦٧٨٩٠١٢"},
		},
		{
			name: "GovCloud and two-direction regions are valid",
			auth: sigv4("123456789012/20260101/us-gov-west-1/cloudhsm/aws4_request"),
			want: Caller{Account: "123456789012", Region: "us-gov-west-1", AccessKeyID: "123456789012"},
		},
		{
			name:    "malformed region in the scope is rejected",
			auth:    sigv4("123456789012/20260101/moon-base-1/cloudhsm/aws4_request"),
			wantErr: "Credential should be scoped to a valid region, not 'moon-base-1'.",
		},
		{
			name:    "empty region in the scope is rejected",
			auth:    sigv4("123456789012/20260101//cloudhsm/aws4_request"),
			wantErr: "Credential should be scoped to a valid region, not ''.",
		},
		{
			name: "scope without all five parts: default region",
			auth: sigv4("123456789012/20260101/us-west-2"),
			want: Caller{Account: "123456789012", Region: "us-east-1", AccessKeyID: "123456789012"},
		},
		{
			name: "SigV4a scope (no region part): default region",
			auth: "AWS4-ECDSA-P256-SHA256 Credential=123456789012/20260101/cloudhsm/aws4_request, SignedHeaders=host, Signature=00",
			want: Caller{Account: "123456789012", Region: "us-east-1", AccessKeyID: "123456789012"},
		},
		{
			name: "parameters without spaces after commas",
			auth: "AWS4-HMAC-SHA256 SignedHeaders=host,Credential=123456789012/20260101/ap-south-1/cloudhsm/aws4_request,Signature=00",
			want: Caller{Account: "123456789012", Region: "ap-south-1", AccessKeyID: "123456789012"},
		},
		{
			name: "tab after the scheme and spaces around '='",
			auth: "AWS4-HMAC-SHA256\tCredential = 123456789012/20260101/ap-south-1/cloudhsm/aws4_request",
			want: Caller{Account: "123456789012", Region: "ap-south-1", AccessKeyID: "123456789012"},
		},
		{
			name: "other scheme counts as no credentials",
			auth: "Basic dXNlcjpwYXNz",
			want: Caller{Account: "000000000000", Region: "us-east-1"},
		},
		{
			name: "AWS4 header without Credential counts as no credentials",
			auth: "AWS4-HMAC-SHA256 SignedHeaders=host, Signature=00",
			want: Caller{Account: "000000000000", Region: "us-east-1"},
		},
		{
			name: "scheme alone counts as no credentials",
			auth: "AWS4-HMAC-SHA256",
			want: Caller{Account: "000000000000", Region: "us-east-1"},
		},
		{
			name:  "presigned query parameters",
			query: map[string]string{"X-Amz-Algorithm": "AWS4-HMAC-SHA256", "X-Amz-Credential": "210987654321/20260101/sa-east-1/cloudhsm/aws4_request"},
			want:  Caller{Account: "210987654321", Region: "sa-east-1", AccessKeyID: "210987654321"},
		},
		{
			name:    "presigned query with a malformed region is rejected",
			query:   map[string]string{"X-Amz-Credential": "210987654321/20260101/US-EAST-1/cloudhsm/aws4_request"},
			wantErr: "Credential should be scoped to a valid region, not 'US-EAST-1'.",
		},
		{
			name:  "Authorization header wins over the query",
			auth:  sigv4("123456789012/20260101/us-west-2/cloudhsm/aws4_request"),
			query: map[string]string{"X-Amz-Credential": "210987654321/20260101/sa-east-1/cloudhsm/aws4_request"},
			want:  Caller{Account: "123456789012", Region: "us-west-2", AccessKeyID: "123456789012"},
		},
		{
			name:    "long malformed region is clipped in the message",
			auth:    sigv4("123456789012/20260101/" + string(make([]byte, 2000)) + "/cloudhsm/aws4_request"),
			wantErr: "Credential should be scoped to a valid region, not '" + string(make([]byte, 1024)) + "...'.",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := httptest.NewRequest(http.MethodPost, "/", nil)
			if tt.auth != "" {
				req.Header.Set("Authorization", tt.auth)
			}
			q := url.Values{}
			for k, v := range tt.query {
				q.Set(k, v)
			}
			req.URL.RawQuery = q.Encode()

			got, err := tt.resolver.Resolve(req)
			if tt.wantErr != "" {
				var e *api.Error
				if !errors.As(err, &e) || e.Code != api.CodeInvalidRequest || e.Message != tt.wantErr {
					t.Fatalf("Resolve() error = %v, want %s: %s", err, api.CodeInvalidRequest, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Resolve() error = %v", err)
			}
			if got != tt.want {
				t.Errorf("Resolve() = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestResolveMisconfiguredDefaults(t *testing.T) {
	for _, r := range []Resolver{{DefaultAccount: "42"}, {DefaultRegion: "mars"}} {
		if err := r.Validate(); err == nil {
			t.Errorf("%+v.Validate() = nil, want an error", r)
		}
		_, err := r.Resolve(httptest.NewRequest(http.MethodPost, "/", nil))
		if e := api.AsError(err); err == nil || e.Code != api.CodeInternalFailure {
			t.Errorf("%+v.Resolve() error = %v, want an internal failure", r, err)
		}
	}
	if err := (Resolver{}).Validate(); err != nil {
		t.Errorf("zero Resolver.Validate() = %v", err)
	}
}

func TestResolveNilRequest(t *testing.T) {
	got, err := Resolver{}.Resolve(nil)
	if err != nil || got != (Caller{Account: DefaultAccount, Region: DefaultRegion}) {
		t.Errorf("Resolve(nil) = %+v, %v; want defaults", got, err)
	}
}

func TestContext(t *testing.T) {
	if _, ok := FromContext(context.Background()); ok {
		t.Error("FromContext(empty) reported a caller")
	}
	want := Caller{Account: "123456789012", Region: "eu-west-1", AccessKeyID: "123456789012"}
	got, ok := FromContext(WithCaller(context.Background(), want))
	if !ok || got != want {
		t.Errorf("FromContext(WithCaller(c)) = %+v, %v; want %+v, true", got, ok, want)
	}
}

var accountRE = regexp.MustCompile(`^[0-9]{12}$`)

// FuzzParseAuthorization fuzzes both Authorization parsers: permissive Resolve never panics and
// yields a 12-digit account and a valid region or a CloudHsmInvalidRequestException; the strict
// half is checkStrict.
func FuzzParseAuthorization(f *testing.F) {
	for _, seed := range []struct{ auth, credential string }{
		{"", ""},
		{sigv4("123456789012/20260101/us-west-2/cloudhsm/aws4_request"), ""},
		{sigv4("AKIAIOSFODNN7EXAMPLE/20260101/eu-west-1/cloudhsm/aws4_request"), ""},
		{sigv4("123456789012/20260101/moon/cloudhsm/aws4_request"), ""},
		{sigv4("123456789012"), ""},
		{sigv4("/"), ""},
		{sigv4("////"), ""},
		{sigv4("/////"), ""},
		{"AWS4-HMAC-SHA256", ""},
		{"AWS4-HMAC-SHA256 ", ""},
		{"AWS4-HMAC-SHA256 Credential", ""},
		{"AWS4-HMAC-SHA256 Credential=", ""},
		{"AWS4-HMAC-SHA256 ,,,=,=,Credential==/=/=/=/=", ""},
		{"Basic dXNlcjpwYXNz", ""},
		{"\x00\xff AWS4-", ""},
		{"", "123456789012/20260101/us-west-2/cloudhsm/aws4_request"},
		{"", "%%%/\x00"},
	} {
		f.Add(seed.auth, seed.credential)
	}
	for _, seed := range strictSeeds {
		f.Add(seed, "")
	}
	f.Fuzz(func(t *testing.T, auth, credential string) {
		checkStrict(t, auth)

		req := httptest.NewRequest(http.MethodPost, "/", nil)
		req.Header["Authorization"] = []string{auth} // unchecked, as a raw header could be
		req.URL.RawQuery = url.Values{"X-Amz-Credential": {credential}}.Encode()

		c, err := Resolver{}.Resolve(req)
		if err != nil {
			var e *api.Error
			if !errors.As(err, &e) || e.Code != api.CodeInvalidRequest {
				t.Fatalf("Resolve() error = %v, want a %s", err, api.CodeInvalidRequest)
			}
			return
		}
		if !accountRE.MatchString(c.Account) {
			t.Errorf("account %q is not 12 digits", c.Account)
		}
		if !api.IsRegion(c.Region) {
			t.Errorf("region %q does not match the Region pattern", c.Region)
		}
	})
}
