package projections

import (
	"bytes"
	"encoding/binary"
	"math/bits"
	"strconv"
	"time"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/metropolis/csc/domain"
)

// scanner reads the JSON payloads of the current event schema without reflection. It is the fast
// path of event decoding: it accepts exactly the keys its caller names, decodes values the way
// encoding/json would into the same Go types, and gives up (ok() false) on anything else — an
// unknown or repeated key, a value of another JSON type, a number that does not fit, invalid UTF-8,
// a lone surrogate escape, trailing data. The caller then decodes the event with the domain codec,
// which is the reference: the fast path never decides a result the codec would not.
type scanner struct {
	b      []byte
	i      int
	failed bool
}

func (s *scanner) fail() bool {
	s.failed = true
	return false
}

func (s *scanner) ok() bool { return !s.failed }

func (s *scanner) ws() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// peek returns the next non-space byte (0 at the end).
func (s *scanner) peek() byte {
	s.ws()
	if s.i < len(s.b) {
		return s.b[s.i]
	}
	return 0
}

// literal consumes lit (true, false, null) if it is next.
func (s *scanner) literal(lit string) bool {
	s.ws()
	if len(s.b)-s.i >= len(lit) && string(s.b[s.i:s.i+len(lit)]) == lit {
		s.i += len(lit)
		return true
	}
	return false
}

// null consumes a null if it is next.
func (s *scanner) null() bool { return s.peek() == 'n' && s.literal("null") }

// end checks that nothing but white space follows the top-level value.
func (s *scanner) end() bool {
	s.ws()
	if s.i != len(s.b) {
		return s.fail()
	}
	return s.ok()
}

// object reads an object, calling field for each key (raw bytes, no escapes) with the scanner
// positioned at the value. field returns false to give up. Keys with escapes are given up on.
func (s *scanner) object(field func(key []byte) bool) bool {
	if s.failed || s.peek() != '{' {
		return s.fail()
	}
	s.i++
	if s.peek() == '}' {
		s.i++
		return true
	}
	for {
		if s.peek() != '"' {
			return s.fail()
		}
		s.i++
		start := s.i
		s.i = special(s.b, s.i)
		if s.i >= len(s.b) || s.b[s.i] != '"' {
			return s.fail()
		}
		key := s.b[start:s.i]
		s.i++
		if s.peek() != ':' {
			return s.fail()
		}
		s.i++
		if !field(key) || s.failed {
			return s.fail()
		}
		switch s.peek() {
		case ',':
			s.i++
		case '}':
			s.i++
			return true
		default:
			return s.fail()
		}
	}
}

// array reads an array, calling elem with the scanner positioned at each element. A null is an
// absent array (elem is not called, null reports true).
func (s *scanner) array(elem func() bool) (null bool) {
	if s.null() {
		return true
	}
	if s.failed || s.peek() != '[' {
		s.fail()
		return false
	}
	s.i++
	if s.peek() == ']' {
		s.i++
		return false
	}
	for {
		if !elem() || s.failed {
			s.fail()
			return false
		}
		switch s.peek() {
		case ',':
			s.i++
		case ']':
			s.i++
			return false
		default:
			s.fail()
			return false
		}
	}
}

// str reads a string into dst. A null leaves dst as it is (as encoding/json does).
func (s *scanner) str(dst *string) bool {
	if s.null() {
		return true
	}
	raw, ok := s.stringToken()
	if !ok {
		return false
	}
	v, ok := unquote(raw)
	if !ok {
		return s.fail()
	}
	*dst = v
	return true
}

// stringToken returns the raw string token (with its quotes) and moves past it. It checks the
// token as encoding/json does: no control characters, only valid escapes.
func (s *scanner) stringToken() ([]byte, bool) {
	if s.failed || s.peek() != '"' {
		return nil, s.fail()
	}
	b, start := s.b, s.i
	i := start + 1
	for {
		i = special(b, i)
		if i >= len(b) {
			return nil, s.fail()
		}
		switch b[i] {
		case '"':
			s.i = i + 1
			return b[start:s.i], true
		case '\\':
			if i+1 >= len(b) {
				return nil, s.fail()
			}
			switch b[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if _, ok := hex4(b[i+2:]); !ok {
					return nil, s.fail()
				}
				i += 6
			default:
				return nil, s.fail()
			}
		default: // a control character
			return nil, s.fail()
		}
	}
}

// special returns the index of the first byte of b at or after i that is a quote, a backslash or a
// control character (below 0x20), or len(b). It tests eight bytes at a time: for each word x,
// (v - 0x01..01) &^ v & 0x80..80 marks the zero bytes of v (exactly from the lowest marked byte on,
// which is all that is used), with v = x ^ '"'.., x ^ '\\'.., and likewise marks the bytes below 0x20.
func special(b []byte, i int) int {
	const lo, hi = 0x0101010101010101, 0x8080808080808080
	for ; i+8 <= len(b); i += 8 {
		x := binary.LittleEndian.Uint64(b[i:])
		q, bs := x^(lo*'"'), x^(lo*'\\')
		if m := ((q-lo)&^q | (bs-lo)&^bs | (x-lo*0x20)&^x) & hi; m != 0 {
			return i + bits.TrailingZeros64(m)/8
		}
	}
	for ; i < len(b); i++ {
		if c := b[i]; c == '"' || c == '\\' || c < 0x20 {
			return i
		}
	}
	return len(b)
}

// raw reads a string and returns its decoded bytes: a slice of the input when the string has no
// escapes (no copy), else a new buffer. A null is an absent value (nil, true).
func (s *scanner) raw() ([]byte, bool) {
	if s.null() {
		return nil, true
	}
	tok, ok := s.stringToken()
	if !ok {
		return nil, false
	}
	body := tok[1 : len(tok)-1]
	if bytes.IndexByte(body, '\\') < 0 {
		if !ascii(body) && !utf8.Valid(body) {
			return nil, s.fail()
		}
		return body, true
	}
	v, ok := unquote(tok)
	if !ok {
		return nil, s.fail()
	}
	return []byte(v), true
}

// skipString moves past a string (or null) whose value is not needed. Invalid UTF-8 is accepted:
// encoding/json accepts it too (replacing it), so the decision is the same.
func (s *scanner) skipString() bool {
	if s.null() {
		return true
	}
	_, ok := s.stringToken()
	return ok
}

func ascii(b []byte) bool {
	for _, c := range b {
		if c >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// unquote decodes a string token (with its quotes) as encoding/json does, refusing invalid UTF-8
// and invalid surrogate escapes (which encoding/json would replace with U+FFFD) so that the codec
// decides those.
func unquote(tok []byte) (string, bool) {
	body := tok[1 : len(tok)-1]
	simple := true
	for _, c := range body {
		if c == '\\' || c >= utf8.RuneSelf {
			simple = false
			break
		}
	}
	if simple {
		return string(body), true
	}
	if bytes.IndexByte(body, '\\') < 0 {
		if !utf8.Valid(body) {
			return "", false
		}
		return string(body), true
	}
	out := make([]byte, 0, len(body))
	for i := 0; i < len(body); {
		c := body[i]
		if c >= utf8.RuneSelf {
			r, size := utf8.DecodeRune(body[i:])
			if r == utf8.RuneError && size == 1 {
				return "", false
			}
			out = append(out, body[i:i+size]...)
			i += size
			continue
		}
		if c != '\\' {
			out = append(out, c)
			i++
			continue
		}
		if i+1 >= len(body) {
			return "", false
		}
		switch body[i+1] {
		case '"', '\\', '/':
			out = append(out, body[i+1])
		case 'b':
			out = append(out, '\b')
		case 'f':
			out = append(out, '\f')
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		case 'u':
			r, ok := hex4(body[i+2:])
			if !ok {
				return "", false
			}
			i += 6
			if utf16.IsSurrogate(r) {
				if len(body)-i < 6 || body[i] != '\\' || body[i+1] != 'u' {
					return "", false
				}
				r2, ok := hex4(body[i+2:])
				if !ok {
					return "", false
				}
				r = utf16.DecodeRune(r, r2)
				if r == unicode.ReplacementChar {
					return "", false
				}
				i += 6
			}
			out = utf8.AppendRune(out, r)
			continue
		default:
			return "", false
		}
		i += 2
	}
	return string(out), true
}

func hex4(b []byte) (rune, bool) {
	if len(b) < 4 {
		return 0, false
	}
	var r rune
	for _, c := range b[:4] {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c = c - 'a' + 10
		case c >= 'A' && c <= 'F':
			c = c - 'A' + 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}

// numberToken returns the next number token, checked against the JSON number grammar.
func (s *scanner) numberToken() ([]byte, bool) {
	s.ws()
	start, b, i := s.i, s.b, s.i
	if i < len(b) && b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && b[i] >= '1' && b[i] <= '9':
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
	default:
		return nil, s.fail()
	}
	if i < len(b) && b[i] == '.' {
		i++
		d := i
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
		if i == d {
			return nil, s.fail()
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		d := i
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
		if i == d {
			return nil, s.fail()
		}
	}
	s.i = i
	return b[start:i], true
}

// float reads a number into dst (null leaves it).
func (s *scanner) float(dst *float64) bool {
	if s.null() {
		return true
	}
	tok, ok := s.numberToken()
	if !ok {
		return false
	}
	v, err := strconv.ParseFloat(string(tok), 64)
	if err != nil {
		return s.fail()
	}
	*dst = v
	return true
}

// int reads an integer into dst (null leaves it). A fraction or exponent is given up on, as
// encoding/json refuses them for an int.
func (s *scanner) int(dst *int) bool {
	if s.null() {
		return true
	}
	tok, ok := s.numberToken()
	if !ok {
		return false
	}
	v, err := strconv.ParseInt(string(tok), 10, 0)
	if err != nil {
		return s.fail()
	}
	*dst = int(v)
	return true
}

// bool reads a boolean into dst (null leaves it).
func (s *scanner) bool(dst *bool) bool {
	switch {
	case s.literal("true"):
		*dst = true
	case s.literal("false"):
		*dst = false
	case s.null():
	default:
		return s.fail()
	}
	return true
}

// time reads a time the way encoding/json does (time.Time.UnmarshalJSON on the raw token).
func (s *scanner) time(dst *time.Time) bool {
	if s.null() {
		return true
	}
	tok, ok := s.stringToken()
	if !ok {
		return false
	}
	if bytes.IndexByte(tok, '\\') >= 0 || dst.UnmarshalJSON(tok) != nil {
		return s.fail()
	}
	return true
}

// date reads a domain.Date through its UnmarshalJSON.
func (s *scanner) date(dst *domain.Date) bool {
	if s.null() {
		return true
	}
	tok, ok := s.stringToken()
	if !ok {
		return false
	}
	if bytes.IndexByte(tok, '\\') >= 0 || dst.UnmarshalJSON(tok) != nil {
		return s.fail()
	}
	return true
}

// strs reads an array of strings; null is a nil slice, [] an empty one.
func (s *scanner) strs(dst *[]string) bool {
	out := []string{}
	null := s.array(func() bool {
		var v string
		if s.null() {
			out = append(out, "")
			return true
		}
		if !s.str(&v) {
			return false
		}
		out = append(out, v)
		return true
	})
	if s.failed {
		return false
	}
	if null {
		*dst = nil
	} else {
		*dst = out
	}
	return true
}

// seen tracks the keys of one object, to give up on a repeated key (encoding/json would merge or
// overwrite; the codec decides those).
type seen uint32

func (m *seen) once(bit uint) bool {
	if *m&(1<<bit) != 0 {
		return false
	}
	*m |= 1 << bit
	return true
}
