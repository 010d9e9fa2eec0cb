package expiredcreds

import (
	"strings"
	"testing"
)

// Classify never panics, and reports only text that holds one of the
// table's codes or messages: random text without any of them gets nothing.
func FuzzClassify(f *testing.F) {
	for _, e := range readCorpus(f) {
		f.Add(e.Text)
	}
	f.Add("")
	f.Add("ExpiredToken")
	f.Add("(Service: ; Status Code: 1; Error Code: RequestExpired")
	f.Fuzz(func(t *testing.T, text string) {
		got, ok := Classify(text)
		if !ok {
			if got != (Finding{}) {
				t.Fatalf("no report but a finding %+v", got)
			}
			return
		}
		if !IsCode(got.Code) {
			t.Fatalf("reported code %q is not in the table", got.Code)
		}
		for _, c := range Codes() {
			if strings.Contains(text, c) {
				return
			}
		}
		for _, m := range Messages() {
			if strings.Contains(text, m.Text) {
				return
			}
		}
		t.Fatalf("reported %+v from text with no listed code or message: %q", got, text)
	})
}
