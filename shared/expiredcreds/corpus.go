package expiredcreds

import (
	"bufio"
	"fmt"
	"io"
	"strings"
)

// CorpusPath is the renderings corpus, relative to the module root. Tests
// of every package that recognises expired credentials read it.
const CorpusPath = "shared/expiredcreds/testdata/corpus.txt"

// Rendering is one entry of the corpus.
type Rendering struct {
	// SDK is the SDK or tool that printed it; Source where its format
	// comes from.
	SDK, Source string
	// Want is what Classify must find; nil marks a negative.
	Want *Finding
	// Text is the log event, possibly several lines.
	Text string
	// Line is where the entry starts in the file.
	Line int
}

// ParseCorpus reads the corpus format described at the top of
// testdata/corpus.txt: blocks separated by blank lines, each with "sdk: ",
// "source: " and "want: " headers followed by the rendering.
func ParseCorpus(r io.Reader) ([]Rendering, error) {
	var out []Rendering
	var cur *Rendering
	var body []string
	flush := func() error {
		if cur != nil {
			if len(body) == 0 {
				return fmt.Errorf("line %d: entry has no rendering", cur.Line)
			}
			cur.Text = strings.Join(body, "\n")
			out = append(out, *cur)
		}
		cur, body = nil, nil
		return nil
	}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		switch {
		case line == "":
			if err := flush(); err != nil {
				return nil, err
			}
		case cur == nil && strings.HasPrefix(line, "#"):
		case cur == nil && strings.HasPrefix(line, "sdk: "):
			cur = &Rendering{SDK: strings.TrimPrefix(line, "sdk: "), Line: n}
		case cur == nil:
			return nil, fmt.Errorf("line %d: an entry starts with \"sdk: \", got %q", n, line)
		case body == nil && strings.HasPrefix(line, "source: "):
			cur.Source = strings.TrimPrefix(line, "source: ")
		case body == nil && strings.HasPrefix(line, "want: "):
			w := strings.TrimPrefix(line, "want: ")
			if w == "none" {
				break
			}
			cur.Want = &Finding{}
			for _, k := range []string{"code=", "service=", "operation="} {
				if !strings.Contains(w, k) {
					return nil, fmt.Errorf("line %d: want must name %s (empty if not carried)", n, k)
				}
			}
			for _, kv := range strings.Fields(w) {
				k, v, _ := strings.Cut(kv, "=")
				switch k {
				case "code":
					cur.Want.Code = v
				case "service":
					cur.Want.Service = v
				case "operation":
					cur.Want.Operation = v
				default:
					return nil, fmt.Errorf("line %d: unknown want key %q", n, k)
				}
			}
		default:
			body = append(body, line)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if err := flush(); err != nil {
		return nil, err
	}
	return out, nil
}
