// Package identity decides who is calling: the account and region of one API request, read from
// the SigV4 credential scope of its Authorization header (or of a presigned URL's X-Amz-Credential
// query parameter).
//
// Two modes (docs/BEHAVIOUR.md §1), behind the one entry point Resolver.Resolve:
//   - permissive (the default): signatures are NOT verified; an access key id of exactly 12 ASCII
//     digits is the account id, any other key is the default account, and the region comes from
//     the credential scope;
//   - strict (Resolver.Strict set): the SigV4 signature is verified against a credentials file
//     (Verifier, LoadCredentials), and the credential gives the account and its identity policy.
//
// Resolve receives the whole request; the protocol layer hands it one whose Body holds the full
// payload, as a signature check needs.
//
// This package must never know the API's operations, resources, storage or wire encoding: it
// answers "who", and nothing else. It must never put a secret, a session token or a signature
// into an error message.
package identity

import (
	"context"
	"fmt"
	"net/http"
	"strings"

	"github.com/cloudhsm-local/cloudhsm-local/internal/api"
	"github.com/cloudhsm-local/cloudhsm-local/internal/policy"
)

// Defaults used when a Resolver leaves a field empty.
const (
	DefaultAccount = "000000000000"
	DefaultRegion  = "us-east-1"
)

// Caller is the identity of one request.
type Caller struct {
	// Account is the caller's 12-digit account id.
	Account string
	// Region is the region the request is addressed to, e.g. "us-east-1".
	Region string
	// AccessKeyID is the access key from the credential scope; empty for an unsigned request.
	AccessKeyID string
	// Policy is the identity policy of a strict-mode credential; nil when there is none (every
	// permissive caller, and strict credentials without a policy), which allows everything the
	// account may do.
	Policy *policy.Policy
}

// Resolver finds the Caller of a request. Its zero value is ready to use, with DefaultAccount and
// DefaultRegion as fallbacks.
type Resolver struct {
	// DefaultRegion is the region of a request that names none; DefaultRegion when empty.
	DefaultRegion string
	// DefaultAccount is the account of a request whose access key is not a 12-digit account id;
	// DefaultAccount when empty.
	DefaultAccount string
	// Strict, when set, switches to strict mode: every request must be signed with one of its
	// credentials. nil is permissive mode.
	Strict *Verifier
}

// Validate reports whether the configured defaults are usable: the account must be 12 ASCII
// digits and the region must match the model's Region pattern. Call it once at startup.
func (r Resolver) Validate() error {
	if a := r.defaultAccount(); !api.IsAccountID(a) {
		return fmt.Errorf("identity: default account %q is not a 12-digit account id", a)
	}
	if reg := r.defaultRegion(); !api.IsRegion(reg) {
		return fmt.Errorf("identity: default region %q is not a valid region", reg)
	}
	return nil
}

// Resolve returns the Caller of req. In strict mode see Verifier: the signature must verify, and
// the errors are MissingAuthenticationTokenException, UnrecognizedClientException,
// InvalidSignatureException, ExpiredTokenException or CloudHsmInvalidRequestException (a bad
// region), all *api.Error. In permissive mode:
//   - credentials are taken from the Authorization header when it is present and non-blank, else
//     from the X-Amz-Credential query parameter; an Authorization header whose scheme is not
//     AWS4-* or that has no Credential parameter counts as no credentials;
//   - the credential is "<access key>/<date>/<region>/<service>/aws4_request"; an access key of
//     exactly 12 ASCII digits is the account, any other the default account;
//   - the region is the scope's third part when the scope has all five parts, else the default;
//     a region that does not match the model's Region pattern is a
//     CloudHsmInvalidRequestException (*api.Error);
//   - no credentials at all: the default account and region.
//
// Signatures, dates and the service name are not checked. Resolve never panics, whatever req
// holds. Misconfigured defaults (see Validate) are reported as an internal failure.
func (r Resolver) Resolve(req *http.Request) (Caller, error) {
	if err := r.Validate(); err != nil {
		return Caller{}, api.InternalFailure(err)
	}
	if r.Strict != nil {
		return r.Strict.verify(req)
	}
	c := Caller{Account: r.defaultAccount(), Region: r.defaultRegion()}
	cred, ok := credentialOf(req)
	if !ok {
		return c, nil
	}
	s := parseCredential(cred)
	c.AccessKeyID = s.accessKeyID
	if api.IsAccountID(s.accessKeyID) {
		c.Account = s.accessKeyID
	}
	if s.scoped {
		if !api.IsRegion(s.region) {
			return Caller{}, api.Errorf(api.CodeInvalidRequest,
				"Credential should be scoped to a valid region, not '%s'.", api.Clip(s.region))
		}
		c.Region = s.region
	}
	return c, nil
}

func (r Resolver) defaultAccount() string {
	if r.DefaultAccount == "" {
		return DefaultAccount
	}
	return r.DefaultAccount
}

func (r Resolver) defaultRegion() string {
	if r.DefaultRegion == "" {
		return DefaultRegion
	}
	return r.DefaultRegion
}

// credentialOf returns the Credential value of req's SigV4 signature, from the Authorization
// header or, when that is absent, from a presigned URL's query.
func credentialOf(req *http.Request) (string, bool) {
	if req == nil {
		return "", false
	}
	if h := strings.TrimSpace(req.Header.Get("Authorization")); h != "" {
		return parseAuthorization(h)
	}
	if req.URL == nil {
		return "", false
	}
	if v := strings.TrimSpace(req.URL.Query().Get("X-Amz-Credential")); v != "" {
		return v, true
	}
	return "", false
}

// parseAuthorization returns the Credential parameter of an Authorization header such as
// "AWS4-HMAC-SHA256 Credential=AKID/20260101/us-west-2/cloudhsm/aws4_request, SignedHeaders=host,
// Signature=abc". Spacing around commas and '=' is tolerated; other schemes and a header without
// Credential yield false.
func parseAuthorization(h string) (string, bool) {
	h = strings.TrimSpace(h)
	i := strings.IndexAny(h, " \t")
	if i < 0 || !strings.HasPrefix(h[:i], "AWS4-") {
		return "", false
	}
	params := h[i+1:]
	for p := range strings.SplitSeq(params, ",") {
		k, v, ok := strings.Cut(p, "=")
		if ok && strings.TrimSpace(k) == "Credential" {
			return strings.TrimSpace(v), true
		}
	}
	return "", false
}

// scope is a parsed SigV4 credential.
type scope struct {
	accessKeyID string
	region      string
	scoped      bool // the credential had all five parts, so region is meaningful
}

// parseCredential splits "<access key>/<date>/<region>/<service>/aws4_request".
func parseCredential(cred string) scope {
	akid, rest, _ := strings.Cut(cred, "/")
	s := scope{accessKeyID: akid}
	parts := strings.Split(rest, "/")
	if rest != "" && len(parts) == 4 {
		s.region, s.scoped = parts[1], true
	}
	return s
}

// ctxKey is the context key of the Caller; unexported so only this package sets it.
type ctxKey struct{}

// WithCaller returns a copy of ctx that carries c.
func WithCaller(ctx context.Context, c Caller) context.Context {
	return context.WithValue(ctx, ctxKey{}, c)
}

// FromContext returns the Caller stored by WithCaller, and whether there was one.
func FromContext(ctx context.Context) (Caller, bool) {
	c, ok := ctx.Value(ctxKey{}).(Caller)
	return c, ok
}
