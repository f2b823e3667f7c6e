package api

import (
	"errors"
	"fmt"
	"net/http"
)

// ErrorCode is an error's name on the wire: the model's shape name, or a protocol error name.
type ErrorCode string

// The model's errors, and the protocol errors that awsJson services share.
const (
	CodeAccessDenied          ErrorCode = "CloudHsmAccessDeniedException"
	CodeInternalFailure       ErrorCode = "CloudHsmInternalFailureException"
	CodeInvalidRequest        ErrorCode = "CloudHsmInvalidRequestException"
	CodeResourceLimitExceeded ErrorCode = "CloudHsmResourceLimitExceededException"
	CodeResourceNotFound      ErrorCode = "CloudHsmResourceNotFoundException"
	CodeService               ErrorCode = "CloudHsmServiceException"
	CodeTag                   ErrorCode = "CloudHsmTagException"
	CodeUnknownOperation      ErrorCode = "UnknownOperationException"
	CodeSerialization         ErrorCode = "SerializationException"
)

// The authentication errors of strict mode (docs/BEHAVIOUR.md §1), named as AWS's front end names them.
const (
	CodeMissingAuthenticationToken ErrorCode = "MissingAuthenticationTokenException"
	CodeUnrecognizedClient         ErrorCode = "UnrecognizedClientException"
	CodeInvalidSignature           ErrorCode = "InvalidSignatureException"
	CodeExpiredToken               ErrorCode = "ExpiredTokenException"
)

// Status is the HTTP status that carries the error: 500 for the one server fault, else 400.
func (c ErrorCode) Status() int {
	if c == CodeInternalFailure {
		return http.StatusInternalServerError
	}
	return http.StatusBadRequest
}

// Error is an error that reaches the client with its wire name and message.
type Error struct {
	Code    ErrorCode
	Message string
	cause   error
}

// Error returns "Code: Message".
func (e *Error) Error() string { return string(e.Code) + ": " + e.Message }

// Unwrap returns the underlying cause, if any (never shown to clients).
func (e *Error) Unwrap() error { return e.cause }

// Errorf returns an *Error with a formatted message.
func Errorf(code ErrorCode, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// InternalFailure wraps an unexpected error (a store failure, a bug) as the retryable 500. The
// cause is kept for logs; the client sees only a generic message.
func InternalFailure(cause error) *Error {
	return &Error{Code: CodeInternalFailure, Message: "The request failed because of an internal error. It is safe to retry.", cause: cause}
}

// ErrUnknownOperation is returned by Invoke for a name that is not one of the 18 operations.
var ErrUnknownOperation = errors.New("unknown operation")

// AsError turns any error into the *Error that the client should see: an *Error (possibly
// wrapped) as it is, a *ValidationError as CloudHsmInvalidRequestException, anything else as an
// internal failure.
func AsError(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	var v *ValidationError
	if errors.As(err, &v) {
		return &Error{Code: CodeInvalidRequest, Message: v.Error()}
	}
	return InternalFailure(err)
}
