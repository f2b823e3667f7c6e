// Package lifecycle owns the state machines of clusters, HSMs and backups, and the virtual clock
// they run on. Every state change of those resources, with its schedule, happens here: the ones
// a call starts (CreateCluster, InitializeCluster, Activate, ChangeHsmType, SetRetention,
// BeginDeleteCluster, CreateHSM, BeginDeleteHSM, TakeBackup, CopyBackup, MarkPendingDeletion,
// RestoreBackup) and the ones time completes — the end of every *_IN_PROGRESS state, daily
// backups, retention, the 7-day pending deletion and the tombstone purge. Each resource's file
// (clusters.go, hsms.go, backups.go) opens with its state diagram.
//
// Everything here runs inside the caller's store transaction. Settle applies every step that is
// due, in time order, each at its own instant, so a 30-day clock jump replays 30 days faithfully.
// This package must never know HTTP or the API's JSON, never decide whether a caller may make a
// change (validation, authorization and preconditions are package service's), and never read the
// wall clock except through the injected clock.Clock.
package lifecycle
