// Package api is the CloudHSM v2 wire vocabulary: the request and response shapes of the 18
// operations with their JSON names, the model's constraints as Validate methods, the error
// names with their HTTP status, and the Service interface that the operations implement.
//
// Shapes, enums, validation and the output shapes' JSON encoding (AppendJSON, which writes what
// encoding/json would, without reflection) are generated from spec/cloudhsmv2.smithy.json (see gen/);
// this package must never know HTTP, identities, storage or the rules of any operation.
package api

//go:generate go run ./gen -model ../../spec/cloudhsmv2.smithy.json -out zz_shapes.go
