package api

import "unicode/utf8"

// The helpers of the generated AppendJSON methods (zz_shapes.go), which write the output shapes
// without reflection, byte for byte as encoding/json encodes them with HTML escaping off (a
// json.Encoder after SetEscapeHTML(false)). json_test.go holds them to that.

// closeObject ends an object whose members each end with a comma: the last comma becomes the
// closing brace (an object without members just gets one).
func closeObject(b []byte) []byte { return closeWith(b, '}') }

// closeList ends a list whose elements each end with a comma, as closeObject does an object.
func closeList(b []byte) []byte { return closeWith(b, ']') }

func closeWith(b []byte, c byte) []byte {
	if b[len(b)-1] == ',' {
		b[len(b)-1] = c
		return b
	}
	return append(b, c)
}

// appendJSONString appends s as a JSON string the way encoding/json writes it with HTML
// escaping off: '"', '\\' and the control characters escaped (\b, \f, \n, \r and \t by name,
// the others as \u00XX), invalid UTF-8 replaced by \ufffd, U+2028 and U+2029 escaped, and
// every other character as is.
func appendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	start := 0 // s[start:i] is still to be copied as is
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hex[r&0xf])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
