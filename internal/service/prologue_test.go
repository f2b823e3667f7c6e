package service_test

import (
	"context"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/cloudhsm-local/cloudhsm-local/internal/api"
	"github.com/cloudhsm-local/cloudhsm-local/internal/clock"
	"github.com/cloudhsm-local/cloudhsm-local/internal/identity"
	"github.com/cloudhsm-local/cloudhsm-local/internal/lifecycle"
	"github.com/cloudhsm-local/cloudhsm-local/internal/service"
	"github.com/cloudhsm-local/cloudhsm-local/internal/store"
	"github.com/cloudhsm-local/cloudhsm-local/internal/store/sqlstore"
)

// denyAll is an Authorizer that denies everything and remembers what it was asked.
type denyAll struct{ asked []string }

func (d *denyAll) Authorize(who identity.Caller, action string, resources ...string) error {
	d.asked = append(d.asked, action)
	return api.Errorf(api.CodeAccessDenied, "denied %s to %s", action, who.Account)
}

// storeWatch is a store that fails the test if an operation opens a transaction.
type storeWatch struct {
	store.Store
	t *testing.T
}

func (s storeWatch) Update(ctx context.Context, scope store.Scope, fn func(store.Tx) error) error {
	s.t.Error("an operation opened a read-write transaction before it was authorized")
	return s.Store.Update(ctx, scope, fn)
}

func (s storeWatch) View(ctx context.Context, fn func(store.Tx) error) error {
	s.t.Error("an operation opened a read-only transaction before it was authorized")
	return s.Store.View(ctx, fn)
}

// TestOperationPrologue: every one of the 18 operations, given a valid input, first resolves the
// caller from the context (none is an internal failure) and asks the Authorizer once for its own
// action; a denial is the answer, before the operation reads or writes anything.
func TestOperationPrologue(t *testing.T) {
	const arn = `"arn:aws:cloudhsm:us-east-1:111122223333:backup/backup-aaaaaaaaaaa"`
	tests := []struct{ op, body string }{ // a valid input of each operation
		{"CopyBackupToRegion", `{"BackupId":"backup-aaaaaaaaaaa","DestinationRegion":"us-west-2"}`},
		{"CreateCluster", `{"HsmType":"hsm2m.medium","SubnetIds":["subnet-0a1b2c3d4e5f60001"]}`},
		{"CreateHsm", `{"ClusterId":"cluster-aaaaaaaaaaa","AvailabilityZone":"us-east-1a"}`},
		{"DeleteBackup", `{"BackupId":"backup-aaaaaaaaaaa"}`},
		{"DeleteCluster", `{"ClusterId":"cluster-aaaaaaaaaaa"}`},
		{"DeleteHsm", `{"ClusterId":"cluster-aaaaaaaaaaa","HsmId":"hsm-aaaaaaaaaaa"}`},
		{"DeleteResourcePolicy", `{"ResourceArn":` + arn + `}`},
		{"DescribeBackups", `{}`},
		{"DescribeClusters", `{}`},
		{"GetResourcePolicy", `{"ResourceArn":` + arn + `}`},
		{"InitializeCluster", `{"ClusterId":"cluster-aaaaaaaaaaa","SignedCert":"cert","TrustAnchor":"anchor"}`},
		{"ListTags", `{"ResourceId":"backup-aaaaaaaaaaa"}`},
		{"ModifyBackupAttributes", `{"BackupId":"backup-aaaaaaaaaaa","NeverExpires":true}`},
		{"ModifyCluster", `{"ClusterId":"cluster-aaaaaaaaaaa","HsmType":"hsm2m.medium"}`},
		{"PutResourcePolicy", `{"ResourceArn":` + arn + `,"Policy":"{}"}`},
		{"RestoreBackup", `{"BackupId":"backup-aaaaaaaaaaa"}`},
		{"TagResource", `{"ResourceId":"backup-aaaaaaaaaaa","TagList":[{"Key":"k","Value":"v"}]}`},
		{"UntagResource", `{"ResourceId":"backup-aaaaaaaaaaa","TagKeyList":["k"]}`},
	}
	st, err := sqlstore.Open(t.Context(), "memory")
	if err != nil {
		t.Fatalf("open memory store: %v", err)
	}
	t.Cleanup(func() { _ = st.Close() })
	auth := &denyAll{}
	cfg := service.DefaultConfig()
	cfg.Authorizer = auth
	svc := service.New(cfg, storeWatch{Store: st, t: t}, lifecycle.New(lifecycle.DefaultConfig(),
		clock.NewManual(time.Date(2026, time.March, 1, 12, 0, 0, 0, time.UTC)), rand.NewChaCha8([32]byte{})))
	who := identity.Caller{Account: "111122223333", Region: "us-east-1"}

	covered := map[string]bool{}
	for _, tt := range tests {
		covered[tt.op] = true
		t.Run(tt.op, func(t *testing.T) {
			method := reflect.ValueOf(svc).MethodByName(tt.op)
			if !method.IsValid() {
				t.Fatalf("Service has no method %s", tt.op)
			}
			in := reflect.New(method.Type().In(1).Elem())
			if err := json.Unmarshal([]byte(tt.body), in.Interface()); err != nil {
				t.Fatalf("decode %s: %v", tt.body, err)
			}
			if err := in.Interface().(interface{ Validate() error }).Validate(); err != nil {
				t.Fatalf("input %s is not valid: %v", tt.body, err)
			}
			call := func(ctx context.Context) error {
				err, _ := method.Call([]reflect.Value{reflect.ValueOf(ctx), in})[1].Interface().(error)
				return err
			}

			auth.asked = nil
			err := call(context.Background())
			if err == nil || !strings.Contains(err.Error(), "no caller identity") {
				t.Errorf("without a caller: got error %v, want the internal failure that there is no caller", err)
			}
			if len(auth.asked) != 0 {
				t.Errorf("without a caller the Authorizer was asked %v", auth.asked)
			}

			err = call(identity.WithCaller(context.Background(), who))
			var denied *api.Error
			if !errors.As(err, &denied) || denied.Code != api.CodeAccessDenied {
				t.Errorf("denied caller: got error %v, want CloudHsmAccessDeniedException", err)
			}
			equal(t, "actions asked", auth.asked, []string{"cloudhsm:" + tt.op})
		})
	}
	for _, op := range api.OperationNames() {
		if !covered[op] {
			t.Errorf("operation %s has no row", op)
		}
	}
}

func equal[T any](t *testing.T, what string, got, want T) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s: got %v, want %v", what, got, want)
	}
}
