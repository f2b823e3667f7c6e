// Package service implements the 18 CloudHSM v2 operations and the emulator's admin actions.
//
// Every operation starts the same way, in one place (authorized): the caller's identity from
// the context, then the Authorizer's permission. Its body then validates what the model cannot
// express and — in one store transaction —
// settles due lifecycle steps, loads what it needs, checks preconditions and applies the change:
// a change of state goes through the lifecycle engine, which owns every state machine and its
// schedule. A failed check writes nothing. Operations return *api.Error for everything the
// caller did wrong; any other error is an internal failure.
//
// This package must never know HTTP, parse credentials, touch the wall clock or set a resource's
// state or schedule itself: the caller's identity arrives in the context (package identity), and
// time and state changes come from the lifecycle engine.
package service

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/cloudhsm-local/cloudhsm-local/internal/api"
	"github.com/cloudhsm-local/cloudhsm-local/internal/identity"
	"github.com/cloudhsm-local/cloudhsm-local/internal/lifecycle"
	"github.com/cloudhsm-local/cloudhsm-local/internal/store"
	"github.com/cloudhsm-local/cloudhsm-local/internal/topology"
)

// Config holds the service's limits and helpers.
type Config struct {
	// Topology places subnets; the zero value uses the deterministic default.
	Topology topology.Topology
	// MaxClusters is the quota of clusters per account and region (not counting DELETED ones).
	MaxClusters int
	// MaxHSMsPerCluster is the quota of HSMs in one cluster.
	MaxHSMsPerCluster int
	// Authorizer checks each request against the caller's identity policy (strict mode); nil
	// allows everything (permissive mode) at no cost.
	Authorizer Authorizer `json:"-"`
}

// DefaultConfig returns the default quotas.
func DefaultConfig() Config {
	return Config{MaxClusters: 50, MaxHSMsPerCluster: 28}
}

// Service implements api.Service on a store.
type Service struct {
	cfg   Config
	store store.Store
	life  *lifecycle.Engine
	// tokenKey signs NextTokens: the store's pagination key, read once by Prepare (it never
	// changes, see initTokenKey) and only read afterwards.
	tokenKey []byte
}

var _ api.Service = (*Service)(nil)

// New returns a Service.
func New(cfg Config, st store.Store, life *lifecycle.Engine) *Service {
	return &Service{cfg: cfg, store: st, life: life}
}

// Prepare creates what the store must hold before requests arrive (the pagination key) and
// reads that key. It must be called before the Service serves requests; it is idempotent and
// safe when several servers start at once.
func (s *Service) Prepare(ctx context.Context) error {
	var key string
	err := s.store.Update(ctx, store.Everything(), func(tx store.Tx) error {
		var err error
		key, err = initTokenKey(tx, s.life.IDs())
		return err
	})
	if err != nil {
		return err
	}
	s.tokenKey = []byte(key)
	return nil
}

// caller returns the identity the protocol layer put in ctx.
func caller(ctx context.Context) (identity.Caller, error) {
	c, ok := identity.FromContext(ctx)
	if !ok {
		return identity.Caller{}, errors.New("service: no caller identity in context")
	}
	return c, nil
}

// authorized runs the prologue of every operation, once: it resolves the caller that the
// protocol layer put in ctx and asks the Authorizer whether that caller may make request in;
// only then does it run op, the operation's body, for that caller. So each body starts with its
// own rules.
func authorized[In, Out any](ctx context.Context, s *Service, in *In, op func(context.Context, identity.Caller, *In) (*Out, error)) (*Out, error) {
	who, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	if err := s.authorize(who, in); err != nil {
		return nil, err
	}
	return op(ctx, who, in)
}

// op is the body of an operation: it runs inside a transaction at virtual time now.
type op func(tx store.Tx, now time.Time) error

// tenant is the scope of an operation on the caller's own resources.
func tenant(who identity.Caller) store.Scope {
	return store.Tenants(store.Tenant{Account: who.Account, Region: who.Region})
}

// update runs fn in a read-write transaction of scope after settling everything due there.
// fn may change resources of scope's tenants only (store.Store.Update).
func (s *Service) update(ctx context.Context, scope store.Scope, fn op) error {
	return s.store.Update(ctx, scope, func(tx store.Tx) error {
		now, due, err := s.life.Agenda(tx, scope)
		if err != nil {
			return err
		}
		api.NoteOperationTime(ctx, now) // for the request history
		if due {
			if err := s.life.Settle(tx, now, scope); err != nil {
				return err
			}
		}
		return fn(tx, now)
	})
}

// errSettleFirst aborts a read-only attempt that found lifecycle steps due.
var errSettleFirst = errors.New("lifecycle steps are due")

// read runs fn in a read-only transaction when nothing in scope is due, which is the common
// case and lets reads run in parallel; otherwise it settles scope and runs fn in a read-write
// transaction of scope. scope must hold every tenant whose resources fn reads.
//
// The read-only transaction does not follow ctx's cancellation: its statements are index walks
// of at most a page, over before a cancellation would gain anything, while a cancellable
// context costs the SQL drivers a goroutine and a context per statement (a tenth of the CPU of
// a DescribeBackups by ID).
func (s *Service) read(ctx context.Context, scope store.Scope, fn op) error {
	err := s.store.View(context.WithoutCancel(ctx), func(tx store.Tx) error {
		now, due, err := s.life.Agenda(tx, scope)
		if err != nil {
			return err
		}
		api.NoteOperationTime(ctx, now) // for the request history
		if due {
			return errSettleFirst
		}
		return fn(tx, now)
	})
	if errors.Is(err, errSettleFirst) {
		return s.update(ctx, scope, fn)
	}
	return err
}

// notFound builds the error for an ID that is unknown to the caller.
func notFound(kind, id string) *api.Error {
	return api.Errorf(api.CodeResourceNotFound, "%s %s not found.", kind, id)
}

// invalid builds a CloudHsmInvalidRequestException.
func invalid(format string, args ...any) *api.Error {
	return api.Errorf(api.CodeInvalidRequest, format, args...)
}

// ownedBackup loads a backup that belongs to the caller's account and region.
func ownedBackup(tx store.Tx, who identity.Caller, id string) (store.Backup, error) {
	b, err := tx.Backup(id)
	if errors.Is(err, store.ErrNotFound) || (err == nil && (b.Account != who.Account || b.Region != who.Region)) {
		return store.Backup{}, notFound("Backup", id)
	}
	if err != nil {
		return store.Backup{}, fmt.Errorf("load backup %s: %w", id, err)
	}
	return b, nil
}

// ownedCluster loads a cluster that belongs to the caller's account and region.
func ownedCluster(tx store.Tx, who identity.Caller, id string) (store.Cluster, error) {
	c, err := tx.Cluster(id)
	if errors.Is(err, store.ErrNotFound) || (err == nil && (c.Account != who.Account || c.Region != who.Region)) {
		return store.Cluster{}, notFound("Cluster", id)
	}
	if err != nil {
		return store.Cluster{}, fmt.Errorf("load cluster %s: %w", id, err)
	}
	return c, nil
}

// ptr returns a pointer to v, for optional response members.
func ptr[T any](v T) *T { return &v }

// str returns *s, or "" when s is nil.
func str(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
