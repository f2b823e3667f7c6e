package api

import (
	"strconv"
	"strings"
	"unicode/utf8"
)

// Every answer's size is bounded, whatever the input (docs/DECISIONS.md, "Errors and
// validation"): messages quote client input clipped (Clip), list at most MaxViolations
// violations, and the one place that writes an error cuts its message (BoundMessage) so that
// the whole error body stays within MaxErrorBodyBytes.
const (
	// MaxErrorBodyBytes bounds the JSON body of every error answer, whatever the request.
	MaxErrorBodyBytes = 16 << 10
	// MaxMessageJSONBytes bounds an error message as JSON text (escapes counted), leaving
	// room in MaxErrorBodyBytes for the error name and the JSON around them.
	MaxMessageJSONBytes = 8 << 10
	// MaxViolations is how many constraint violations a validation message lists; the rest are
	// counted ("and 79996 more").
	MaxViolations = 5
	// maxQuoted is how many bytes of one client value a message quotes: enough that a value a
	// little over the model's longest string limits (256-character tag values) is shown whole,
	// as AWS shows it.
	maxQuoted = 1024
)

// Clip shortens client input quoted in a message to its first 1024 bytes (cut at a character
// boundary) followed by "...".
func Clip(s string) string {
	if len(s) <= maxQuoted {
		return s
	}
	return strings.ToValidUTF8(s[:maxQuoted], "") + "..."
}

// BoundMessage returns msg cut so that its JSON encoding (with encoding/json's escapes) takes at
// most MaxMessageJSONBytes, ending in a note of how much was cut. A message within the bound is
// returned unchanged.
func BoundMessage(msg string) string {
	const budget = MaxMessageJSONBytes - 64 // room for the note
	size := 0
	for i, r := range msg {
		size += jsonCost(r)
		if size > budget {
			return msg[:i] + "... (" + strconv.Itoa(len(msg)-i) + " more bytes)"
		}
	}
	return msg
}

// jsonCost is an upper bound of the bytes encoding/json writes for r inside a string: six for
// anything it may escape as \uXXXX (controls, <, >, &, U+2028, U+2029, invalid bytes), two for
// " and \, else r's UTF-8 length.
func jsonCost(r rune) int {
	switch {
	case r == '"' || r == '\\':
		return 2
	case r < 0x20 || r == '<' || r == '>' || r == '&' || r == '\u2028' || r == '\u2029' || r == utf8.RuneError:
		return 6
	}
	return utf8.RuneLen(r)
}
