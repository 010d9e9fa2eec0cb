package jsonkeys

import (
	"errors"
	"testing"
)

func TestCheck(t *testing.T) {
	cases := []struct {
		why, in   string
		canonical []string
		refused   bool
		repeated  bool
	}{
		{"distinct keys pass", `{"a":1,"b":{"a":2},"c":[{"a":3},{"a":4}]}`, nil, false, false},
		{"a repeated key is refused", `{"a":1,"a":2}`, nil, true, true},
		{"a key repeated in another case is refused (encoding/json would read one of them)", `{"Version":1,"version":2}`, nil, true, true},
		{"a key repeated with the Kelvin sign, which encoding/json folds to k", "{\"k\":1,\"\u212a\":2}", nil, true, true},
		{"a repeat deep inside is refused", `{"a":{"b":[{"c":1,"c":2}]}}`, nil, true, true},
		{"the same key in sibling objects passes", `[{"a":1},{"a":2}]`, nil, false, false},
		{"a known name in another case is refused", `{"accesskeyid":"x"}`, []string{"AccessKeyId"}, true, false},
		{"a known name spelt exactly passes", `{"AccessKeyId":"x"}`, []string{"AccessKeyId"}, false, false},
		{"string values equal to keys are no keys", `{"a":"a","b":["a","a"]}`, nil, false, false},
		{"malformed JSON is left to the decoder", `{"a":1,"b"`, nil, false, false},
	}
	for _, c := range cases {
		t.Run(c.why, func(t *testing.T) {
			err := Check([]byte(c.in), c.canonical...)
			var e *Error
			if got := errors.As(err, &e); got != c.refused {
				t.Fatalf("Check(%s) = %v, want refused %v", c.in, err, c.refused)
			}
			if c.refused && e.Repeated != c.repeated {
				t.Fatalf("Check(%s) = %+v, want repeated %v", c.in, e, c.repeated)
			}
		})
	}
}

func FuzzCheck(f *testing.F) {
	for _, s := range []string{`{}`, `{"a":1,"a":2}`, `[{"a":[{"b":1}]}]`, `{"AccessKeyId":"x","accesskeyid":"y"}`, `"s"`, `{"a":`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		_ = Check(in, "AccessKeyId", "Expiration")
	})
}
