// Package e2e holds cloudhsm-local's end-to-end tests: a real server on loopback, driven over
// HTTP by the AWS SDK for Go v2, with a real store. It has no non-test code.
package e2e
