package localstack

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"sync"
)

// reactorLogMsg is the reactor's one log line per ExpiredToken report
// (shared/reaction's Reactor.finish): what it decided and did.
const reactorLogMsg = "expired-token signal"

// Decision is what the reactor decided for one report, read from its log
// line, so make local can show a report sent from another shell.
type Decision struct {
	Target   string `json:"target"`
	Action   string `json:"action"`
	Key      string `json:"key"`
	KeyMatch string `json:"keyMatch"`
	Reason   string `json:"reason"`
	Rotation string `json:"rotation"`
	NewKey   string `json:"newKey"`
	Alerted  bool   `json:"alerted"`
}

// Describe is the line make local prints for a decision.
func (d Decision) Describe() string {
	// A report without --access-key-id: "(no key: not reported)" read
	// like a report that was not sent.
	key := "no access key in the report"
	if d.Key != "" {
		key = d.Key + ": " + d.KeyMatch
	}
	line := fmt.Sprintf("reactor: report for %s (%s) → %s: %s", d.Target, key, d.Action, d.Reason)
	if d.Rotation != "" {
		line += "; rotator outcome: " + d.Rotation
		if d.NewKey != "" {
			line += ", new key " + d.NewKey
		}
	}
	if d.Alerted {
		line += "; alert sent"
	} else {
		line += "; no alert (debounced)"
	}
	return line
}

// decisionTap passes the reactor's output through to the functions' log
// and sends each decision line to a channel that is never waited on: a
// full channel drops the decision, never the function.
type decisionTap struct {
	out  io.Writer
	ch   chan Decision
	mu   sync.Mutex
	part []byte
}

func newDecisionTap(out io.Writer) *decisionTap {
	return &decisionTap{out: out, ch: make(chan Decision, 64)}
}

func (t *decisionTap) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.part = append(t.part, p...)
	for {
		i := bytes.IndexByte(t.part, '\n')
		if i < 0 {
			break
		}
		line := t.part[:i]
		var l struct {
			Msg string `json:"msg"`
			Decision
		}
		if bytes.Contains(line, []byte(reactorLogMsg)) && json.Unmarshal(line, &l) == nil && l.Msg == reactorLogMsg {
			select {
			case t.ch <- l.Decision:
			default:
			}
		}
		t.part = t.part[i+1:]
	}
	return t.out.Write(p)
}
