// Package cloudhsmlocal runs cloudhsm-local inside a Go program: a private, fully working AWS
// CloudHSM v2 control plane on a loopback port, with its virtual clock and admin actions in
// reach, for tests of code that calls CloudHSM v2 through the AWS SDK for Go v2. It is to
// CloudHSM what net/http/httptest is to an HTTP server.
//
//	srv, err := cloudhsmlocal.Start(ctx, cloudhsmlocal.Options{}) // memory store, 127.0.0.1:0
//	if err != nil { ... }
//	defer srv.Close()
//	client := cloudhsmv2.NewFromConfig(srv.AWSConfig("111122223333", "us-east-1"))
//	clusterID, backupID, err := srv.ActiveCluster(ctx, "111122223333", "us-east-1")
//	_, err = client.DeleteBackup(ctx, &cloudhsmv2.DeleteBackupInput{BackupId: &backupID})
//	err = srv.Advance(ctx, 8*24*time.Hour) // the backup is DELETED
//
// In a test, package cloudhsmlocaltest does the starting and the closing in one line.
//
// A Server is the same server as the cloudhsm-local binary: Options are the flags of
// "cloudhsm-local serve", the behaviour is the one docs/BEHAVIOUR.md and README.md describe, and the
// admin methods (Advance, SetTime, Activate, TakeBackup, Reset, AddFault, ...) call the admin
// API as the binary's subcommands do. Each Server has its own store, clock and fault rules, so
// any number run side by side in one process, as parallel tests do, without seeing each other;
// the package keeps no global state and does not change the process (its garbage collector
// settings, signals or environment).
//
// # Stability
//
// Stable: the exported API of this package and of cloudhsmlocaltest (names, signatures, and the
// documented meaning of Options' fields and of the errors matched by errors.Is); the CloudHSM v2
// wire behaviour, which follows AWS; and the behaviour contract of docs/BEHAVIOUR.md. Additions come
// as new fields, methods and functions, whose zero values keep the old behaviour.
//
// Not stable: the text of error messages (match errors with errors.Is and errors.As, never by
// their text); timings; IDs other than their documented shape; the schema of SQLite and
// PostgreSQL stores (a store is upgraded when opened by a newer version, never downgraded);
// and everything under the module's internal/ directory, which no program outside this module
// can import anyway.
package cloudhsmlocal
