package logwatch

import (
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/stsrotator/stsrotator/shared/config"
	"github.com/stsrotator/stsrotator/shared/events"
	"github.com/stsrotator/stsrotator/shared/secretfmt"
)

// FilterPattern is the subscription filter pattern the stack installs: a
// line with either term reaches the function.
const FilterPattern = "?ExpiredToken ?ExpiredTokenException"

// DefaultInterval is the least time between two reports for one target.
const DefaultInterval = time.Minute

var (
	reCode = regexp.MustCompile(`\b(ExpiredToken(?:Exception)?)\b`)
	// The Go SDK's message shape: "operation error S3: GetObject, …".
	reOp = regexp.MustCompile(`operation error ([A-Za-z0-9 ]+): (\w+)`)
	// The AWS CLI's: "An error occurred (ExpiredToken) when calling the GetObject operation".
	reCLIOp = regexp.MustCompile(`when calling the (\w+) operation`)
)

// Line is one log event.
type Line struct {
	Group, Stream string
	Time          time.Time
	Message       string
}

// Report turns a line into a report for target, or false if the line does
// not actually carry an ExpiredToken error code.
func Report(target string, l Line) (events.ExpiredToken, bool) {
	m := reCode.FindStringSubmatch(l.Message)
	if m == nil {
		return events.ExpiredToken{}, false
	}
	d := events.ExpiredToken{
		SchemaVersion: events.SchemaVersion,
		Target:        target,
		ErrorCode:     m[1],
		// Masked before it is cut, so no key survives whole or in part.
		ErrorMessage: clip(events.MaskKeys(l.Message), 512),
		ObservedAt:   l.Time.UTC(),
		Observer:     events.Observer{App: l.Group, Host: l.Stream, Via: "logs"},
	}
	if k := events.FirstKey(l.Message); k != "" {
		d.AccessKeyID = secretfmt.Mask(k)
	}
	if op := reOp.FindStringSubmatch(l.Message); op != nil {
		d.Service, d.Operation = strings.ToLower(strings.ReplaceAll(op[1], " ", "")), op[2]
	} else if op := reCLIOp.FindStringSubmatch(l.Message); op != nil {
		d.Operation = op[1]
	}
	return d, true
}

// Router maps log groups to targets and rate-limits reports per target.
// It is safe for concurrent use.
type Router struct {
	byGroup  map[string]string
	interval time.Duration
	now      func() time.Time

	mu   sync.Mutex
	last map[string]time.Time
}

// NewRouter builds the group → target map from the config.
func NewRouter(cfg *config.Config, interval time.Duration, now func() time.Time) *Router {
	r := &Router{byGroup: map[string]string{}, interval: interval, now: now, last: map[string]time.Time{}}
	for _, t := range cfg.Targets {
		for _, g := range t.LogGroups {
			r.byGroup[g] = t.Name
		}
	}
	return r
}

// Target is the target whose consumers write to group.
func (r *Router) Target(group string) (string, bool) {
	t, ok := r.byGroup[group]
	return t, ok
}

// Allow reports whether a report for target may go out now, and if so
// records it.
func (r *Router) Allow(target string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.now()
	if last, ok := r.last[target]; ok && now.Sub(last) < r.interval {
		return false
	}
	r.last[target] = now
	return true
}

// Release forgets the report Allow just let through for target because it
// could not be published, so the retried delivery is not held back as a
// duplicate of a report that never went out.
func (r *Router) Release(target string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.last, target)
}

func clip(s string, n int) string {
	s = strings.TrimSpace(s)
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "") + "…"
}
