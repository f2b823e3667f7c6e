package protocol

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"reflect"
	"strings"

	"github.com/cloudhsm-local/cloudhsm-local/internal/api"
)

// decodeInput decodes a request body into an operation's input (a pointer to its Request struct).
// An empty body is {}. The body must be exactly one JSON object, with each known member of its
// modeled JSON type; unknown members are ignored, as AWS does, and null members count as absent.
// Any other body is a SerializationException naming the problem. The body may hold at most
// MaxJSONElements elements in all, and no list or map more than MaxListLength (limits.go).
func decodeInput(body []byte, in any) error {
	start := skipSpace(body, 0)
	if start == len(body) {
		return nil
	}
	if body[start] != '{' {
		return serializationf("Request body must be a JSON object, not %s", describeValue(body[start]))
	}
	if err := checkElementCount(body); err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(in); err != nil {
		return decodeError(err)
	}
	if end := int(dec.InputOffset()); skipSpace(body, end) != len(body) {
		return serializationf("Request body has data after the JSON object (at byte %d)", end)
	}
	return checkLists(in)
}

// decodeError explains an encoding/json error in the client's terms.
func decodeError(err error) error {
	var syntax *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syntax):
		return serializationf("Request body is not valid JSON: %s (at byte %d)", syntax.Error(), syntax.Offset)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return serializationf("Request body is not valid JSON: unexpected end of input")
	case errors.As(err, &typ):
		return serializationf("%s", typeMessage(typ))
	default: // a member's own decoder refused its value
		return serializationf("Request body could not be decoded: %v", err)
	}
}

// typeMessage says which member had the wrong JSON type, e.g.
// "Value for 'MaxResults' must be a number, not a string".
func typeMessage(e *json.UnmarshalTypeError) string {
	member := e.Field
	if member == "" {
		member = "request body"
	}
	t := e.Type
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == nil {
		return fmt.Sprintf("Value for '%s' has the wrong type", member)
	}
	got, isNumber := strings.CutPrefix(e.Value, "number ")
	if isNumber { // a number that does not fit the integer member
		lo, hi := intRange(t)
		return fmt.Sprintf("Value for '%s' must be an integer between %d and %d, not %s", member, lo, hi, api.Clip(got))
	}
	return fmt.Sprintf("Value for '%s' must be %s, not %s", member, expectedKind(t), article(e.Value))
}

// expectedKind names the JSON type that decodes into t.
func expectedKind(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Bool:
		return "a boolean"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64,
		reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.String:
		return "a string"
	case reflect.Slice, reflect.Array:
		return "an array"
	case reflect.Map, reflect.Struct:
		return "an object"
	}
	return "of another type"
}

// intRange is the range of an integer type (int32 for every integer member of the model).
func intRange(t reflect.Type) (lo, hi int64) {
	switch t.Kind() {
	case reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64, reflect.Int:
		bits := t.Bits()
		return -1 << (bits - 1), 1<<(bits-1) - 1
	case reflect.Uint8, reflect.Uint16, reflect.Uint32:
		return 0, 1<<t.Bits() - 1
	case reflect.Uint, reflect.Uint64:
		return 0, math.MaxInt64
	}
	return math.MinInt64, math.MaxInt64
}

// article renders encoding/json's name of the JSON value it found ("string", "bool", ...).
func article(jsonValue string) string {
	switch jsonValue {
	case "bool":
		return "a boolean"
	case "array", "object":
		return "an " + jsonValue
	case "":
		return "another type"
	}
	return "a " + jsonValue
}

// describeValue names the JSON value that starts with c.
func describeValue(c byte) string {
	switch {
	case c == '[':
		return "an array"
	case c == '"':
		return "a string"
	case c == 'n':
		return "null"
	case c == 't' || c == 'f':
		return "a boolean"
	case c == '-' || (c >= '0' && c <= '9'):
		return "a number"
	}
	return "invalid JSON"
}

// skipSpace returns the index of the first byte at or after i that is not JSON whitespace.
func skipSpace(b []byte, i int) int {
	for i < len(b) {
		switch b[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}

func serializationf(format string, args ...any) *api.Error {
	return api.Errorf(api.CodeSerialization, format, args...)
}
