package projections

import (
	"strings"
	"testing"
)

func TestSpecial(t *testing.T) {
	naive := func(b []byte, i int) int {
		for ; i < len(b); i++ {
			if c := b[i]; c == '"' || c == '\\' || c < 0x20 {
				return i
			}
		}
		return len(b)
	}
	var inputs []string
	for _, c := range []string{`"`, `\`, "\x00", "\x1f", "\n"} {
		for pos := range 20 {
			inputs = append(inputs, strings.Repeat("a", pos)+c+"tail\"")
			inputs = append(inputs, strings.Repeat("é", pos)+c)
		}
	}
	inputs = append(inputs, "", "plain text without specials", "\x20\x7f\x80\xff\xc3\xa9 !#~", strings.Repeat("\xff", 17)+`"`,
		"\x21\x21\x21\x21\x21\x21\x21\x20\x1f", "\x01\x02\x22\x5c\x5b\x5d\x1f\x20\x21")
	for _, in := range inputs {
		for start := 0; start <= len(in); start++ {
			if got, want := special([]byte(in), start), naive([]byte(in), start); got != want {
				t.Errorf("special(%q, %d) = %d, want %d", in, start, got, want)
			}
		}
	}
}
