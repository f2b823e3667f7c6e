// Package replicas tests cloudhsm-local run as several stateless replicas on one PostgreSQL
// database: 2–3 servers on loopback ports, in process or as real processes, driven by the AWS
// SDK for Go v2 and the admin API. It checks what only several replicas can break: that a write
// on one is visible on the next request to another, that concurrent writes through different
// replicas are serial, that the virtual clock and the lifecycle are one, that a replica killed
// mid-load loses no acknowledged write, and that a database outage fails requests cleanly and
// heals by itself.
//
// The tests need the PostgreSQL server of package pgtest (CLOUDHSM_LOCAL_TEST_POSTGRES) and
// fail, never skip, without it. Each test works in its own schema or database. The package
// has no non-test code.
package replicas
