package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/cloudhsmv2"
	"github.com/aws/aws-sdk-go-v2/service/cloudhsmv2/types"
	"github.com/aws/smithy-go/middleware"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/cloudhsm-local/cloudhsm-local/internal/admin"
	"github.com/cloudhsm-local/cloudhsm-local/internal/clock"
	"github.com/cloudhsm-local/cloudhsm-local/internal/history"
	"github.com/cloudhsm-local/cloudhsm-local/internal/identity"
	"github.com/cloudhsm-local/cloudhsm-local/internal/lifecycle"
	"github.com/cloudhsm-local/cloudhsm-local/internal/server"
	"github.com/cloudhsm-local/cloudhsm-local/internal/service"
)

// Strict mode (docs/BEHAVIOUR.md §1, §7, §9): a server with --auth sigv4, driven by the Go SDK with
// real signatures. The signature window is judged by the real clock; resources still live on
// the manual virtual clock of every e2e server.

// strictAdminToken is the admin token of strict test servers.
const strictAdminToken = "e2e-admin-token-5d1c0a"

// strictCred is one credential of the strict test servers' credentials file.
type strictCred struct {
	key, secret, token string
	account            string
	expires            string // session_expires
	policy             string // identity policy JSON; "" for none
}

var (
	credOwner = strictCred{key: "AKIDE2EOWNER00000001", secret: "owner-secret/e2e+K7MDENG", account: account1}
	// credSession is a temporary credential of the owner's account, with its session token.
	credSession = strictCred{key: "ASIAE2ESESSION000001", secret: "session-secret-e2e", token: "session-token-e2e-FwoGZXIvYXdzE",
		account: account1, expires: "2099-01-01T00:00:00Z"}
	credExpired = strictCred{key: "ASIAE2EEXPIRED000001", secret: "expired-secret-e2e", token: "expired-token-e2e-IQoJb3JpZ2lu",
		account: account1, expires: "2020-01-01T00:00:00Z"}
	credGrantee  = strictCred{key: "AKIDE2EGRANTEE000001", secret: "grantee-secret-e2e", account: account2}
	credStranger = strictCred{key: "AKIDE2ESTRANGER00001", secret: "stranger-secret-e2e", account: account3}
	// credReadOnly may only describe.
	credReadOnly = strictCred{key: "AKIDE2EREADONLY00001", secret: "readonly-secret-e2e", account: account1,
		policy: `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"cloudhsm:Describe*","Resource":"*"}]}`}
	// credBackupOps may do anything to the account's backups in us-east-1 and describe
	// everything, but never delete a backup.
	credBackupOps = strictCred{key: "AKIDE2EBACKUPOPS0001", secret: "backupops-secret-e2e", account: account1,
		policy: `{"Version":"2012-10-17","Statement":[
			{"Effect":"Allow","Action":"cloudhsm:*","Resource":"arn:aws:cloudhsm:us-east-1:111122223333:backup/*"},
			{"Effect":"Allow","Action":["cloudhsm:DescribeClusters","cloudhsm:DescribeBackups"],"Resource":"*"},
			{"Effect":"Deny","Action":"cloudhsm:DeleteBackup","Resource":"*"}]}`}
	// credGranteeNoCreate is the grantee's account with an identity policy that denies
	// CreateCluster: sharing cannot override it.
	credGranteeNoCreate = strictCred{key: "AKIDE2EGRANTEENC0001", secret: "grantee-nc-secret-e2e", account: account2,
		policy: `{"Statement":[{"Effect":"Allow","Action":"cloudhsm:*","Resource":"*"},{"Effect":"Deny","Action":"cloudhsm:CreateCluster","Resource":"*"}]}`}

	strictCreds = []strictCred{credOwner, credSession, credExpired, credGrantee, credStranger, credReadOnly, credBackupOps, credGranteeNoCreate}
)

// strictCredentialsFile renders creds as a credentials file.
func strictCredentialsFile(t *testing.T, creds []strictCred) []byte {
	t.Helper()
	var entries []identity.CredentialEntry
	for _, c := range creds {
		e := identity.CredentialEntry{AccessKeyID: c.key, SecretAccessKey: c.secret, SessionToken: c.token, SessionExpires: c.expires, AccountID: c.account}
		if c.policy != "" {
			e.Policy = json.RawMessage(c.policy)
		}
		entries = append(entries, e)
	}
	raw, err := json.MarshalIndent(entries, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// strictSecrets are every secret and token a strict server knows; none may ever leave it.
func strictSecrets() []string {
	out := []string{strictAdminToken}
	for _, c := range strictCreds {
		out = append(out, c.secret)
		if c.token != "" {
			out = append(out, c.token)
		}
	}
	return out
}

// lockedBuffer is a log destination safe for concurrent handlers.
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

// newStrictEnv starts a server in strict mode with the credentials file text, logging at debug
// level into the returned buffer; its admin client sends the admin token.
func newStrictEnv(t *testing.T, credentialsFile []byte) (*env, *lockedBuffer) {
	t.Helper()
	creds, err := identity.ParseCredentials(credentialsFile)
	if err != nil {
		t.Fatalf("credentials: %v", err)
	}
	logs := &lockedBuffer{}
	clk := clock.NewManual(start)
	srv, err := server.New(context.Background(), server.Config{
		Store: "memory", DefaultRegion: "us-east-1", Lifecycle: lifecycle.DefaultConfig(), Service: service.DefaultConfig(),
		Clock:      clk,
		Logger:     slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Verifier:   identity.NewVerifier(clock.Real{}, creds),
		AdminToken: strictAdminToken,
		History:    history.DefaultCapacity,
	})
	if err != nil {
		t.Fatalf("start server: %v", err)
	}
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(func() {
		hs.Close()
		if err := srv.Close(); err != nil {
			t.Errorf("close server: %v", err)
		}
	})
	return &env{t: t, url: hs.URL, clock: clk, admin: admin.Client{Endpoint: hs.URL, Token: strictAdminToken}}, logs
}

// strictClient is a Go SDK client signing with c in region.
func (e *env) strictClient(c strictCred, region string, opts ...func(*cloudhsmv2.Options)) *cloudhsmv2.Client {
	return cloudhsmv2.New(cloudhsmv2.Options{
		Region:           region,
		BaseEndpoint:     aws.String(e.url),
		Credentials:      credentials.NewStaticCredentialsProvider(c.key, c.secret, c.token),
		RetryMaxAttempts: 1,
	}, opts...)
}

// anonymous makes the SDK send no Authorization header at all.
func anonymous(o *cloudhsmv2.Options) { o.Credentials = aws.AnonymousCredentials{} }

// skewedSigner is the SDK's own v4 signer, signing as if its clock were off by skew.
type skewedSigner struct {
	signer *v4.Signer
	skew   time.Duration
}

func (s skewedSigner) SignHTTP(ctx context.Context, creds aws.Credentials, r *http.Request, payloadHash, service, region string, at time.Time, optFns ...func(*v4.SignerOptions)) error {
	return s.signer.SignHTTP(ctx, creds, r, payloadHash, service, region, at.Add(s.skew), optFns...)
}

// signedAt makes the client sign with a clock off by skew.
func signedAt(skew time.Duration) func(*cloudhsmv2.Options) {
	return func(o *cloudhsmv2.Options) { o.HTTPSignerV4 = skewedSigner{signer: v4.NewSigner(), skew: skew} }
}

// afterSigning changes the request once the SDK has signed it, as a man in the middle would.
func afterSigning(change func(*smithyhttp.Request) (*smithyhttp.Request, error)) func(*cloudhsmv2.Options) {
	return func(o *cloudhsmv2.Options) {
		o.APIOptions = append(o.APIOptions, func(stack *middleware.Stack) error {
			return stack.Finalize.Add(middleware.FinalizeMiddlewareFunc("TamperAfterSigning",
				func(ctx context.Context, in middleware.FinalizeInput, next middleware.FinalizeHandler) (middleware.FinalizeOutput, middleware.Metadata, error) {
					req, err := change(in.Request.(*smithyhttp.Request))
					if err != nil {
						return middleware.FinalizeOutput{}, middleware.Metadata{}, err
					}
					in.Request = req
					return next.HandleFinalize(ctx, in)
				}), middleware.After)
		})
	}
}

// tamperBody replaces old by new (of the same length) in the signed body.
func tamperBody(old, new string) func(*cloudhsmv2.Options) {
	return afterSigning(func(r *smithyhttp.Request) (*smithyhttp.Request, error) {
		body, err := io.ReadAll(r.GetStream())
		if err != nil {
			return nil, err
		}
		if !bytes.Contains(body, []byte(old)) {
			return nil, fmt.Errorf("body %s has no %q to tamper with", body, old)
		}
		return r.SetStream(bytes.NewReader(bytes.Replace(body, []byte(old), []byte(new), 1)))
	})
}

// tamperHeader sets a header after signing.
func tamperHeader(name, value string) func(*cloudhsmv2.Options) {
	return afterSigning(func(r *smithyhttp.Request) (*smithyhttp.Request, error) {
		if r.Header.Get(name) == "" {
			return nil, fmt.Errorf("the signed request has no %s header", name)
		}
		r.Header.Set(name, value)
		return r, nil
	})
}

// TestStrictAuthentication: real SigV4 signatures from the Go SDK are accepted, and each way of
// getting them wrong gets the error of docs/BEHAVIOUR.md §1, with HTTP 400.
func TestStrictAuthentication(t *testing.T) {
	e, _ := newStrictEnv(t, strictCredentialsFile(t, strictCreds))
	ctx := context.Background()
	describe := func(c *cloudhsmv2.Client) error {
		_, err := c.DescribeClusters(ctx, &cloudhsmv2.DescribeClustersInput{MaxResults: aws.Int32(5)})
		return err
	}
	wrongSecret := credOwner
	wrongSecret.secret = "not-the-owner-secret"
	unknown := credOwner
	unknown.key = "AKIDE2EUNKNOWN000001"
	noToken, badToken := credSession, credSession
	noToken.token, badToken.token = "", "forged-session-token"

	tests := []struct {
		name     string
		client   *cloudhsmv2.Client
		code     string // "" = success
		fragment string
	}{
		{"valid long-term credential", e.strictClient(credOwner, "us-east-1"), "", ""},
		{"valid session credential with its token", e.strictClient(credSession, "eu-west-1"), "", ""},
		{"signed 14 minutes ago: inside the window", e.strictClient(credOwner, "us-east-1", signedAt(-14*time.Minute)), "", ""},
		{"an unsigned header changed in transit", e.strictClient(credOwner, "us-east-1", tamperHeader("User-Agent", "changed")), "", ""},

		{"no auth", e.strictClient(credOwner, "us-east-1", anonymous), "MissingAuthenticationTokenException", "Missing Authentication Token"},
		{"unknown access key", e.strictClient(unknown, "us-east-1"), "UnrecognizedClientException", "The security token included in the request is invalid."},
		{"wrong secret", e.strictClient(wrongSecret, "us-east-1"), "InvalidSignatureException", "The request signature we calculated does not match"},
		{"tampered body", e.strictClient(credOwner, "us-east-1", tamperBody(`"MaxResults":5`, `"MaxResults":6`)), "InvalidSignatureException", "does not match"},
		{"tampered signed header", e.strictClient(credOwner, "us-east-1", tamperHeader("X-Amz-Target", "BaldrApiService.DescribeBackups")), "InvalidSignatureException", "does not match"},
		{"replay outside the window (signed 20 minutes ago)", e.strictClient(credOwner, "us-east-1", signedAt(-20*time.Minute)), "InvalidSignatureException", "Signature expired"},
		{"signed 20 minutes in the future", e.strictClient(credOwner, "us-east-1", signedAt(20*time.Minute)), "InvalidSignatureException", "Signature expired"},
		{"expired session token", e.strictClient(credExpired, "us-east-1"), "ExpiredTokenException", "The security token included in the request is expired"},
		{"session credential without its token", e.strictClient(noToken, "us-east-1"), "UnrecognizedClientException", "security token"},
		{"session credential with a forged token", e.strictClient(badToken, "us-east-1"), "UnrecognizedClientException", "security token"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := describe(tt.client)
			if tt.code == "" {
				if err != nil {
					t.Fatalf("DescribeClusters: %v", err)
				}
				return
			}
			wantAPIErrorContaining(t, err, tt.code, http.StatusBadRequest, tt.fragment)
		})
	}

	t.Run("raw requests", func(t *testing.T) {
		sig := strings.Repeat("0", 64)
		rows := []struct {
			name   string
			header map[string]string
			path   string
			code   string
		}{
			{"unsigned, with an unknown operation: authentication comes first", nil, "", "MissingAuthenticationTokenException"},
			{"malformed Authorization", map[string]string{"Authorization": "AWS4-HMAC-SHA256 Credential=" + credOwner.key}, "", "MissingAuthenticationTokenException"},
			{"the permissive mode's 12-digit key is nobody here", map[string]string{
				"Authorization": "AWS4-HMAC-SHA256 Credential=" + account1 + "/20260301/us-east-1/cloudhsm/aws4_request, SignedHeaders=host;x-amz-date, Signature=" + sig,
				"X-Amz-Date":    time.Now().UTC().Format("20060102T150405Z")}, "", "UnrecognizedClientException"},
			{"a presigned query alone", nil, "?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=" + credOwner.key + "%2F20260301%2Fus-east-1%2Fcloudhsm%2Faws4_request", "MissingAuthenticationTokenException"},
		}
		for _, r := range rows {
			t.Run(r.name, func(t *testing.T) {
				req, err := http.NewRequest(http.MethodPost, e.url+"/"+r.path, strings.NewReader("{}"))
				if err != nil {
					t.Fatal(err)
				}
				req.Header.Set("X-Amz-Target", "BaldrApiService.NoSuchOperation")
				for k, v := range r.header {
					req.Header.Set(k, v)
				}
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				raw, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				var body struct {
					Type string `json:"__type"`
				}
				_ = json.Unmarshal(raw, &body)
				if resp.StatusCode != http.StatusBadRequest || resp.Header.Get("X-Amzn-ErrorType") != r.code || body.Type != r.code {
					t.Fatalf("HTTP %d %s %s, want 400 %s", resp.StatusCode, resp.Header.Get("X-Amzn-ErrorType"), raw, r.code)
				}
			})
		}
	})
}

// TestStrictPolicyTable: each credential's identity policy allows or denies per action and
// resource, an explicit Deny wins over cloudhsm:*, and a denial never depends on whether the
// resource exists.
func TestStrictPolicyTable(t *testing.T) {
	e, _ := newStrictEnv(t, strictCredentialsFile(t, strictCreds))
	ctx := context.Background()
	owner := e.strictClient(credOwner, "us-east-1")
	clusterID, backupID := e.activeCluster(t, owner)
	const unknownBackup = "backup-zzzzzzzzzzz"

	readOnly := e.strictClient(credReadOnly, "us-east-1")
	backupOps := e.strictClient(credBackupOps, "us-east-1")
	backupOpsEU := e.strictClient(credBackupOps, "eu-west-1")
	const denied = "CloudHsmAccessDeniedException"

	tests := []struct {
		name string
		call func() error
		want string // "" = allowed and succeeds; else the error code
	}{
		{"Describe* allows DescribeClusters", func() error {
			_, err := readOnly.DescribeClusters(ctx, &cloudhsmv2.DescribeClustersInput{})
			return err
		}, ""},
		{"Describe* allows DescribeBackups", func() error {
			_, err := readOnly.DescribeBackups(ctx, &cloudhsmv2.DescribeBackupsInput{})
			return err
		}, ""},
		{"Describe* does not allow CreateCluster", func() error {
			_, err := readOnly.CreateCluster(ctx, &cloudhsmv2.CreateClusterInput{HsmType: aws.String("hsm2m.medium"), SubnetIds: subnets})
			return err
		}, denied},
		{"Describe* does not allow TagResource", func() error {
			_, err := readOnly.TagResource(ctx, &cloudhsmv2.TagResourceInput{ResourceId: &backupID, TagList: strictTags("k", "v")})
			return err
		}, denied},
		{"a denial of an existing backup", func() error {
			_, err := readOnly.DeleteBackup(ctx, &cloudhsmv2.DeleteBackupInput{BackupId: &backupID})
			return err
		}, denied},
		{"the same denial of a backup that does not exist", func() error {
			_, err := readOnly.DeleteBackup(ctx, &cloudhsmv2.DeleteBackupInput{BackupId: aws.String(unknownBackup)})
			return err
		}, denied},
		{"backup/* allows ModifyBackupAttributes on a backup", func() error {
			_, err := backupOps.ModifyBackupAttributes(ctx, &cloudhsmv2.ModifyBackupAttributesInput{BackupId: &backupID, NeverExpires: aws.Bool(true)})
			return err
		}, ""},
		{"backup/* allows TagResource on a backup", func() error {
			_, err := backupOps.TagResource(ctx, &cloudhsmv2.TagResourceInput{ResourceId: &backupID, TagList: strictTags("team", "hsm")})
			return err
		}, ""},
		{"backup/* does not allow TagResource on a cluster", func() error {
			_, err := backupOps.TagResource(ctx, &cloudhsmv2.TagResourceInput{ResourceId: &clusterID, TagList: strictTags("team", "hsm")})
			return err
		}, denied},
		{"backup/* does not allow CreateHsm in a cluster", func() error {
			_, err := backupOps.CreateHsm(ctx, &cloudhsmv2.CreateHsmInput{ClusterId: &clusterID, AvailabilityZone: aws.String("us-east-1a")})
			return err
		}, denied},
		{"explicit Deny of DeleteBackup wins over cloudhsm:*", func() error {
			_, err := backupOps.DeleteBackup(ctx, &cloudhsmv2.DeleteBackupInput{BackupId: &backupID})
			return err
		}, denied},
		{"allowed RestoreBackup then meets the state rule", func() error {
			_, err := backupOps.RestoreBackup(ctx, &cloudhsmv2.RestoreBackupInput{BackupId: &backupID})
			return err
		}, "CloudHsmInvalidRequestException"},
		{"allowed on backup/*, an unknown backup is then not found", func() error {
			_, err := backupOps.ModifyBackupAttributes(ctx, &cloudhsmv2.ModifyBackupAttributesInput{BackupId: aws.String(unknownBackup), NeverExpires: aws.Bool(true)})
			return err
		}, "CloudHsmResourceNotFoundException"},
		{"the region is part of the resource ARN", func() error {
			_, err := backupOpsEU.ModifyBackupAttributes(ctx, &cloudhsmv2.ModifyBackupAttributesInput{BackupId: aws.String(unknownBackup), NeverExpires: aws.Bool(true)})
			return err
		}, denied},
		{"a credential without a policy may do what its account may", func() error {
			_, err := owner.TagResource(ctx, &cloudhsmv2.TagResourceInput{ResourceId: &clusterID, TagList: strictTags("owner", "yes")})
			return err
		}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.call()
			if tt.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			wantAPIError(t, err, tt.want, http.StatusBadRequest)
		})
	}
	if got := describeBackup(t, owner, backupID); got.BackupState != types.BackupStateReady || !aws.ToBool(got.NeverExpires) {
		t.Errorf("after the table the backup is %s, NeverExpires %t; want READY and true", got.BackupState, aws.ToBool(got.NeverExpires))
	}
}

// TestSharingSameInBothModes runs one cross-account sharing story in permissive and in strict
// mode: the resource policy is evaluated by the same evaluator, so the outcomes are the same;
// strict mode adds only the grantee's own identity policy, which sharing cannot override.
func TestSharingSameInBothModes(t *testing.T) {
	type world struct {
		e                        *env
		owner, grantee, outsider *cloudhsmv2.Client
		granteeDeniedCreate      *cloudhsmv2.Client // nil in permissive mode
	}
	modes := []struct {
		name string
		make func(t *testing.T) world
	}{
		{"permissive", func(t *testing.T) world {
			e := newEnv(t)
			return world{e: e, owner: e.client(account1, "us-east-1"), grantee: e.client(account2, "us-east-1"), outsider: e.client(account3, "us-east-1")}
		}},
		{"sigv4", func(t *testing.T) world {
			e, _ := newStrictEnv(t, strictCredentialsFile(t, strictCreds))
			return world{e: e, owner: e.strictClient(credOwner, "us-east-1"), grantee: e.strictClient(credGrantee, "us-east-1"),
				outsider: e.strictClient(credStranger, "us-east-1"), granteeDeniedCreate: e.strictClient(credGranteeNoCreate, "us-east-1")}
		}},
	}
	for _, mode := range modes {
		t.Run(mode.name, func(t *testing.T) {
			ctx := context.Background()
			w := mode.make(t)
			_, backupID := w.e.activeCluster(t, w.owner)
			arn := aws.ToString(describeBackup(t, w.owner, backupID).BackupArn)

			wantShared(t, w.grantee)
			_, err := w.grantee.CreateCluster(ctx, fromBackup(arn))
			wantAPIError(t, err, "CloudHsmAccessDeniedException", http.StatusBadRequest)

			doc := sharePolicy(arn, []string{account2}, actDescribe, actCreate)
			if _, err := w.owner.PutResourcePolicy(ctx, &cloudhsmv2.PutResourcePolicyInput{ResourceArn: &arn, Policy: &doc}); err != nil {
				t.Fatalf("PutResourcePolicy: %v", err)
			}
			wantShared(t, w.grantee, backupID)
			wantShared(t, w.outsider)
			made, err := w.grantee.CreateCluster(ctx, fromBackup(arn))
			if err != nil {
				t.Fatalf("the grantee's CreateCluster from the shared backup: %v", err)
			}
			if aws.ToString(made.Cluster.SourceBackupId) != backupID {
				t.Errorf("SourceBackupId = %s, want %s", aws.ToString(made.Cluster.SourceBackupId), backupID)
			}
			_, err = w.outsider.CreateCluster(ctx, fromBackup(arn))
			wantAPIError(t, err, "CloudHsmAccessDeniedException", http.StatusBadRequest)
			if w.granteeDeniedCreate != nil {
				_, err = w.granteeDeniedCreate.CreateCluster(ctx, fromBackup(arn))
				wantAPIErrorContaining(t, err, "CloudHsmAccessDeniedException", http.StatusBadRequest, "explicit deny in an identity-based policy")
				wantShared(t, w.granteeDeniedCreate, backupID) // its policy allows describing
			}

			describeOnly := sharePolicy(arn, []string{"arn:aws:iam::" + account2 + ":root"}, actDescribe)
			if _, err := w.owner.PutResourcePolicy(ctx, &cloudhsmv2.PutResourcePolicyInput{ResourceArn: &arn, Policy: &describeOnly}); err != nil {
				t.Fatalf("PutResourcePolicy: %v", err)
			}
			wantShared(t, w.grantee, backupID)
			_, err = w.grantee.CreateCluster(ctx, fromBackup(arn))
			wantAPIError(t, err, "CloudHsmAccessDeniedException", http.StatusBadRequest)

			if _, err := w.owner.DeleteResourcePolicy(ctx, &cloudhsmv2.DeleteResourcePolicyInput{ResourceArn: &arn}); err != nil {
				t.Fatalf("DeleteResourcePolicy: %v", err)
			}
			wantShared(t, w.grantee)
			if got := describeCluster(t, w.grantee, aws.ToString(made.Cluster.ClusterId)); got.State != types.ClusterStateActive {
				t.Errorf("the cluster made from the shared backup is %s after the policy's deletion, want ACTIVE", got.State)
			}
		})
	}
}

// TestStrictAdminToken: in strict mode the admin API needs the bearer token; without it, or with
// another, 401 and nothing changes.
func TestStrictAdminToken(t *testing.T) {
	e, _ := newStrictEnv(t, strictCredentialsFile(t, strictCreds))
	owner := e.strictClient(credOwner, "us-east-1")
	mustCreateCluster(t, owner, nil)
	before := e.virtualNow(t)

	for _, auth := range []string{"", "Bearer wrong-admin-token", "Basic " + strictAdminToken, strictAdminToken} {
		for _, call := range []struct{ method, path, body string }{
			{http.MethodGet, "health", ""},
			{http.MethodGet, "clock", ""},
			{http.MethodPost, "clock", `{"advance":"240h"}`},
			{http.MethodPost, "reset", ""},
		} {
			status, body := e.adminWithAuth(call.method, call.path, call.body, auth)
			wantAdminError(t, status, body, http.StatusUnauthorized, "admin token")
			if strings.Contains(body, strictAdminToken) || strings.Contains(body, "wrong-admin-token") {
				t.Errorf("the 401 quotes a token: %s", body)
			}
		}
	}
	if now := e.virtualNow(t); !now.Equal(before) {
		t.Errorf("a refused clock advance moved the clock from %s to %s", before, now)
	}
	if got := listClusters(t, owner, nil); len(got) != 1 {
		t.Errorf("a refused reset changed the store: %d clusters", len(got))
	}

	status, body := e.adminWithAuth(http.MethodGet, "health", "", "Bearer "+strictAdminToken)
	if status != http.StatusOK || !strings.Contains(body, `"status":"ok"`) {
		t.Fatalf("health with the token: %d %s", status, body)
	}
	assertNoSecrets(t, "health", body)
	e.adminCall(http.MethodPost, "reset", nil, nil)
	if got := listClusters(t, owner, nil); len(got) != 0 {
		t.Errorf("reset with the token left %d clusters", len(got))
	}
}

// strictTags is one tag for TagResource.
func strictTags(key, value string) []types.Tag {
	return []types.Tag{{Key: aws.String(key), Value: aws.String(value)}}
}

// adminWithAuth calls the admin API with a raw Authorization header ("" for none).
func (e *env) adminWithAuth(method, path, body, auth string) (int, string) {
	e.t.Helper()
	req, err := http.NewRequest(method, e.url+admin.Prefix+path, strings.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(raw)
}

// assertNoSecrets fails if text contains any secret or token of the strict test servers.
func assertNoSecrets(t *testing.T, where, text string) {
	t.Helper()
	for _, s := range strictSecrets() {
		if strings.Contains(text, s) {
			t.Errorf("%s contains the secret %.6s…", where, s)
		}
	}
}

// TestStrictSecretsNeverLeave captures the server's debug log while requests succeed and fail in
// every way, and checks that no secret, session token or admin token appears in the log, in any
// error a client sees, or in the health output.
func TestStrictSecretsNeverLeave(t *testing.T) {
	e, logs := newStrictEnv(t, strictCredentialsFile(t, strictCreds))
	ctx := context.Background()
	wrongSecret := credOwner
	wrongSecret.secret = "guessed-secret-value"
	clients := []*cloudhsmv2.Client{
		e.strictClient(credOwner, "us-east-1"),
		e.strictClient(credSession, "us-east-1"),
		e.strictClient(credExpired, "us-east-1"),
		e.strictClient(wrongSecret, "us-east-1"),
		e.strictClient(credReadOnly, "us-east-1"),
		e.strictClient(credOwner, "us-east-1", anonymous),
		e.strictClient(credOwner, "us-east-1", signedAt(-20*time.Minute)),
		e.strictClient(credSession, "us-east-1", tamperBody(`"MaxResults":5`, `"MaxResults":7`)),
		e.strictClient(credSession, "us-east-1", tamperHeader("X-Amz-Security-Token", "tampered-token")),
	}
	var seen []string
	failures := 0
	for _, c := range clients {
		_, err := c.DescribeClusters(ctx, &cloudhsmv2.DescribeClustersInput{MaxResults: aws.Int32(5)})
		if err != nil {
			failures++
			seen = append(seen, err.Error())
		}
		_, err = c.CreateCluster(ctx, &cloudhsmv2.CreateClusterInput{HsmType: aws.String("hsm2m.medium"), SubnetIds: subnets})
		if err != nil {
			seen = append(seen, err.Error())
		}
	}
	if failures != 6 {
		t.Errorf("%d of the %d clients failed DescribeClusters, want 6", failures, len(clients))
	}
	e.adminWithAuth(http.MethodPost, "reset", "", "Bearer guessed-admin-token")
	_, health := e.adminWithAuth(http.MethodGet, "health", "", "Bearer "+strictAdminToken)

	log := logs.String()
	for _, want := range []string{"InvalidSignatureException", "ExpiredTokenException", "MissingAuthenticationTokenException", "CloudHsmAccessDeniedException", "msg=request request_id="} {
		if !strings.Contains(log, want) {
			t.Errorf("the debug log does not mention %s; is it captured?\n%s", want, log)
		}
	}
	assertNoSecrets(t, "the server log", log)
	assertNoSecrets(t, "the health output", health)
	assertNoSecrets(t, "client errors", strings.Join(seen, "\n"))
	for _, guess := range []string{"guessed-secret-value", "guessed-admin-token", "tampered-token"} {
		if strings.Contains(log, guess) {
			t.Errorf("the server log contains a value a client offered as a secret: %s", guess)
		}
	}
}

// TestReadmeStrictModeExample loads the credentials file of the README's "Strict mode" section
// and signs a request with its first credential, so the example cannot rot.
func TestReadmeStrictModeExample(t *testing.T) {
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(readme), "## Strict mode")
	if !ok {
		t.Fatal(`README has no "Strict mode" section`)
	}
	_, rest, ok := strings.Cut(section, "```json\n")
	if !ok {
		t.Fatal("the Strict mode section has no ```json block")
	}
	example, _, ok := strings.Cut(rest, "```")
	if !ok {
		t.Fatal("the ```json block is not closed")
	}
	var entries []identity.CredentialEntry
	if err := json.Unmarshal([]byte(example), &entries); err != nil || len(entries) == 0 {
		t.Fatalf("the example is not a list of credentials: %v", err)
	}
	e, _ := newStrictEnv(t, []byte(example))
	for _, entry := range entries {
		c := strictCred{key: entry.AccessKeyID, secret: entry.SecretAccessKey, token: entry.SessionToken}
		_, err := e.strictClient(c, "us-east-1").DescribeBackups(context.Background(), &cloudhsmv2.DescribeBackupsInput{})
		if err != nil {
			t.Errorf("DescribeBackups as the README's %s: %v", entry.AccessKeyID, err)
		}
	}
}
