package jsonkeys

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode"
)

// Error describes the first key Check refuses. Key is the key as written;
// Canonical is the expected spelling it differs from only in case ("" for
// a repeated key that is no expected name); Depth is how many objects
// enclose it (1: the top-level object).
type Error struct {
	Key       string
	Canonical string
	Depth     int
	// Repeated is true for a key that appears twice (in any case) in one
	// object, false for a known name spelt in another case.
	Repeated bool
}

func (e *Error) Error() string {
	name := e.Canonical
	if name == "" {
		name = "a key"
	}
	if e.Repeated {
		return fmt.Sprintf("%s appears twice in one object (at depth %d), in the same or another case", name, e.Depth)
	}
	return fmt.Sprintf("%s is spelt in another case (at depth %d)", name, e.Depth)
}

// Check walks data (one JSON value) and returns an *Error for the first
// object that holds two keys equal without regard to case, or a key that
// is one of canonical in another case. Malformed JSON is left to the
// decoder that follows: Check returns nil for it.
func Check(data []byte, canonical ...string) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	// Each open container: nil for an array, else the keys seen so far.
	var stack []map[string]bool
	expectKey := false
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) || err != nil {
			return nil
		}
		switch v := tok.(type) {
		case json.Delim:
			switch v {
			case '{':
				stack = append(stack, map[string]bool{})
				expectKey = true
				continue
			case '[':
				stack = append(stack, nil)
			default:
				stack = stack[:len(stack)-1]
			}
		case string:
			if expectKey {
				seen := stack[len(stack)-1]
				folded := fold(v)
				depth := objects(stack)
				for _, c := range canonical {
					if v != c && strings.EqualFold(v, c) {
						return &Error{Key: v, Canonical: c, Depth: depth}
					}
				}
				if seen[folded] {
					e := &Error{Key: v, Depth: depth, Repeated: true}
					for _, c := range canonical {
						if strings.EqualFold(v, c) {
							e.Canonical = c
						}
					}
					return e
				}
				seen[folded] = true
				expectKey = false
				continue
			}
		}
		// A value ended: inside an object the next token is a key.
		expectKey = len(stack) > 0 && stack[len(stack)-1] != nil
	}
}

// fold maps every rune to the smallest of its Unicode simple-fold orbit,
// as encoding/json does when it matches names: fold(a) == fold(b)
// exactly when strings.EqualFold(a, b) (so the Kelvin sign K is k).
func fold(s string) string {
	var b strings.Builder
	for _, r := range s {
		least := r
		for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
			least = min(least, f)
		}
		b.WriteRune(least)
	}
	return b.String()
}

func objects(stack []map[string]bool) int {
	n := 0
	for _, s := range stack {
		if s != nil {
			n++
		}
	}
	return n
}
