// Package lifecycle is cloudhsm-local's sense of time: the virtual clock, and the state machine
// steps that happen by themselves when time passes — the end of every *_IN_PROGRESS state, daily
// backups, retention, the 7-day pending deletion and the tombstone purge.
//
// Everything here runs inside the caller's store transaction. Settle applies every step that is
// due, in time order, each at its own instant, so a 30-day clock jump replays 30 days faithfully.
// This package must never know HTTP or the API's JSON, and never read the wall clock except
// through the injected clock.Clock.
package lifecycle
