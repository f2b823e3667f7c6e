package service_test

import (
	"errors"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/cloudhsm-local/cloudhsm-local/internal/clock"
	"github.com/cloudhsm-local/cloudhsm-local/internal/fixture"
	"github.com/cloudhsm-local/cloudhsm-local/internal/lifecycle"
	"github.com/cloudhsm-local/cloudhsm-local/internal/service"
	"github.com/cloudhsm-local/cloudhsm-local/internal/store/sqlstore"
)

// newSeedService returns a service on a new memory store whose lifecycle, unless autoActivate,
// has delays of its own for each transition, so that the set-up of a fixture's cluster must wait
// for each; with autoActivate, it activates clusters itself and has no delays.
func newSeedService(t *testing.T, autoActivate bool) *service.Service {
	t.Helper()
	st, err := sqlstore.Open(t.Context(), "memory")
	if err != nil {
		t.Fatalf("open memory store: %v", err)
	}
	t.Cleanup(func() { _ = st.Close() })
	life := lifecycle.DefaultConfig()
	life.Delays = map[lifecycle.Transition]time.Duration{
		lifecycle.ClusterCreate: 3 * time.Minute, lifecycle.HSMCreate: 7 * time.Minute,
		lifecycle.ClusterInitialize: 4 * time.Minute, lifecycle.BackupCreate: 2 * time.Minute,
	}
	if autoActivate {
		life.Delays, life.AutoActivate = nil, true
	}
	wall := clock.NewManual(time.Date(2026, time.March, 1, 12, 0, 0, 0, time.UTC))
	svc := service.New(service.DefaultConfig(), st, lifecycle.New(life, wall, rand.NewChaCha8([32]byte{})))
	if err := svc.Prepare(t.Context()); err != nil {
		t.Fatal(err)
	}
	return svc
}

func readFixture(t *testing.T, doc string) *fixture.Document {
	t.Helper()
	d, err := fixture.Read(strings.NewReader(doc))
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// census counts resources by kind and state, as "kind state".
func census(t *testing.T, svc *service.Service) map[string]int {
	t.Helper()
	counts, err := svc.Census(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int{}
	for _, c := range counts {
		if c.Count > 0 {
			out[c.Kind+" "+c.State] += c.Count
		}
	}
	return out
}

// TestSeedFixture: every state a fixture asks for is built, with exactly the backups it lists,
// even when each transition takes time.
func TestSeedFixture(t *testing.T) {
	svc := newSeedService(t, false)
	got, err := svc.SeedFixture(t.Context(), readFixture(t, `{"Fixture":1,"Clusters":[
		{"Name":"active","Hsms":3,"Backups":[{"Count":4,"Age":"40d"},{"Count":2,"Age":"1d","State":"PENDING_DELETION"},{"Age":"9d","State":"DELETED"}]},
		{"Name":"empty","State":"UNINITIALIZED","Hsms":0},
		{"Name":"new","State":"UNINITIALIZED"},
		{"Name":"claimed","State":"INITIALIZED","Hsms":2,"Region":"eu-west-1"}]}`), "us-east-1")
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Clusters) != 4 || got.HSMs != 6 || got.Backups != 7 {
		t.Errorf("SeedFixture = %+v, want 4 clusters, 6 HSMs, 7 backups", got)
	}
	want := map[string]int{
		"cluster ACTIVE": 1, "cluster UNINITIALIZED": 2, "cluster INITIALIZED": 1, "hsm ACTIVE": 6,
		"backup READY": 4, "backup PENDING_DELETION": 2, "backup DELETED": 1,
	}
	if c := census(t, svc); len(c) != len(want) {
		t.Errorf("census %v, want %v", c, want)
	} else {
		for k, n := range want {
			if c[k] != n {
				t.Errorf("census %v, want %v", c, want)
				break
			}
		}
	}
}

// TestSeedFixtureRefused: a fixture that cannot be built, or a store that is not empty,
// changes nothing.
func TestSeedFixtureRefused(t *testing.T) {
	svc := newSeedService(t, false)
	_, err := svc.SeedFixture(t.Context(), readFixture(t, `{"Fixture":1,"Clusters":[
		{"Name":"fine","Backups":[{"Count":3,"Age":"1h"}]},
		{"Name":"young","Backups":[{"Age":"2d","State":"DELETED"}]}]}`), "us-east-1")
	var bad *fixture.Error
	if !errors.Is(err, service.ErrInvalid) || !errors.As(err, &bad) || bad.Path != "$.Clusters[1].Backups[0]" {
		t.Fatalf("a DELETED backup younger than the pending-deletion window: %v; want ErrInvalid at $.Clusters[1].Backups[0]", err)
	}
	for _, tc := range []struct{ doc, path, problem string }{
		{`{"Fixture":1,"Clusters":[{"Name":"a","HsmType":"hsm9.huge"}]}`, "$.Clusters[0].HsmType", `HsmType "hsm9.huge" is not supported`},
		{`{"Fixture":1,"Clusters":[{"Name":"a"},{"Name":"b","RetentionDays":3}]}`, "$.Clusters[1].RetentionDays", "3 days is outside 7–379"},
	} {
		_, err := svc.SeedFixture(t.Context(), readFixture(t, tc.doc), "us-east-1")
		if !errors.As(err, &bad) || bad.Path != tc.path || !strings.Contains(bad.Problem, tc.problem) {
			t.Errorf("SeedFixture(%s) = %v, want %q at %s", tc.doc, err, tc.problem, tc.path)
		}
	}
	if c := census(t, svc); len(c) != 0 {
		t.Fatalf("after a refused fixture the store holds %v", c)
	}
	if _, err := svc.SeedFixture(t.Context(), readFixture(t, `{"Fixture":1,"Clusters":[{"Name":"a","State":"UNINITIALIZED"}]}`), "us-east-1"); err != nil {
		t.Fatal(err)
	}
	before := census(t, svc)
	_, err = svc.SeedFixture(t.Context(), readFixture(t, `{"Fixture":1,"Clusters":[{"Name":"b"}]}`), "us-east-1")
	if !errors.Is(err, service.ErrConflict) {
		t.Fatalf("a fixture into a store that is not empty: %v, want ErrConflict", err)
	}
	if after := census(t, svc); len(after) != len(before) || after["cluster UNINITIALIZED"] != 1 {
		t.Fatalf("a refused fixture changed the store from %v to %v", before, after)
	}
}

// TestSeedFixtureAutoActivate: on a server that activates clusters as soon as they are
// INITIALIZED, an ACTIVE cluster still has exactly its listed backups, and INITIALIZED is refused.
func TestSeedFixtureAutoActivate(t *testing.T) {
	svc := newSeedService(t, true)
	if _, err := svc.SeedFixture(t.Context(), readFixture(t, `{"Fixture":1,"Clusters":[{"Name":"a","Hsms":2,"Backups":[{"Count":3,"Age":"2d"}]}]}`), "us-east-1"); err != nil {
		t.Fatal(err)
	}
	if c := census(t, svc); c["cluster ACTIVE"] != 1 || c["backup READY"] != 3 || len(c) != 3 {
		t.Fatalf("census %v, want 1 ACTIVE cluster, 2 HSMs, 3 READY backups", c)
	}
	_, err := newSeedService(t, true).SeedFixture(t.Context(), readFixture(t, `{"Fixture":1,"Clusters":[{"Name":"a","State":"INITIALIZED"}]}`), "us-east-1")
	var bad *fixture.Error
	if !errors.As(err, &bad) || bad.Path != "$.Clusters[0].State" || !strings.Contains(bad.Problem, "--auto-activate") {
		t.Fatalf("INITIALIZED with auto-activation: %v, want a refusal at $.Clusters[0].State", err)
	}
}
