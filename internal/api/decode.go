package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"reflect"
	"strings"
)

// Decode decodes an awsJson1_1 request body into an operation's input (a pointer to its Request
// struct): the other half of the wire codec, whose encoding is each output's generated
// AppendJSON. An empty body is {}. The body must be exactly one JSON object, with each known
// member of its modeled JSON type; unknown members are ignored, as AWS does, and null members
// count as absent. Any other body is a SerializationException (*Error) naming the problem. The
// body may hold at most MaxJSONElements elements in all, counted before anything is decoded;
// the length of each list and map is the input's Validate's to check (MaxListLength).
func Decode(body []byte, in any) error {
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
	return nil
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
		return fmt.Sprintf("Value for '%s' must be an integer between %d and %d, not %s", member, lo, hi, Clip(got))
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

func serializationf(format string, args ...any) *Error {
	return Errorf(CodeSerialization, format, args...)
}

// MaxListLength caps the elements of every list and map of a request, checked by each input's
// Validate (generated from the model: a list or map the model does not bound gets this bound).
// The model caps its lists (10 subnets, 50 tags) and the Filters maps (30 keys) but not the value
// lists of the DescribeBackups and DescribeClusters filters; a longer one is a constraint
// violation whose message names this limit. 1000 values is far more than any client sends, and
// keeps every query well inside the databases' parameter limits (32766 for SQLite).
const MaxListLength = 1000

// MaxJSONElements caps the elements of all the arrays and objects of a request body together,
// counted before the body is decoded, so that no body within the front door's body limit (1 MiB) can make the server
// build more than this many values (a Filters map of 80,000 keys once did). A request that
// uses every list to the model's limits has a few hundred; three filters of MaxListLength
// values each stay well below it.
const MaxJSONElements = 10000

// checkElementCount refuses a body whose arrays and objects hold more than MaxJSONElements
// elements in all, without decoding it: it counts the commas outside strings, which is the
// number of elements less one per non-empty container. It allocates nothing.
func checkElementCount(body []byte) error {
	commas, inString, escaped := 0, false, false
	for _, c := range body {
		switch {
		case escaped:
			escaped = false
		case inString && c == '\\':
			escaped = true
		case c == '"':
			inString = !inString
		case !inString && c == ',':
			if commas++; commas >= MaxJSONElements {
				return serializationf("Request body has more than %d elements in its arrays and objects "+
					"(a cloudhsm-local limit on every request)", MaxJSONElements)
			}
		}
	}
	return nil
}

// JSONProblem describes a JSON decoding error by position and member, never by content, for
// documents whose content must not be echoed (a credentials file of secrets, a policy) and
// without Go's type names: "invalid JSON at byte 12", "Statement cannot be a JSON string",
// "unknown member \"secret_key\"" (from a decoder that disallows unknown fields), "the document
// is empty".
func JSONProblem(err error) string {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return fmt.Sprintf("invalid JSON at byte %d", syn.Offset)
	case errors.As(err, &typ):
		if typ.Field != "" {
			return fmt.Sprintf("%s cannot be a JSON %s", typ.Field, typ.Value)
		}
		return fmt.Sprintf("the value at byte %d cannot be a JSON %s", typ.Offset, typ.Value)
	case errors.Is(err, io.EOF):
		return "the document is empty"
	case errors.Is(err, io.ErrUnexpectedEOF):
		return "invalid JSON: the document ends too early"
	}
	if msg := err.Error(); strings.HasPrefix(msg, "json: unknown field ") {
		return "unknown member " + strings.TrimPrefix(msg, "json: unknown field ")
	}
	return "invalid JSON"
}
