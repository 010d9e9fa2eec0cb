package logwatch

import (
	"strings"
	"sync"
	"time"

	"github.com/stsrotator/stsrotator/shared/config"
	"github.com/stsrotator/stsrotator/shared/events"
	"github.com/stsrotator/stsrotator/shared/expiredcreds"
	"github.com/stsrotator/stsrotator/shared/secretfmt"
)

// FilterPattern is the subscription filter pattern the stack installs,
// generated from the classifier's table (expiredcreds.FilterPattern): a
// line with any listed code or message reaches the function, which keeps
// only what Report reports.
var FilterPattern = expiredcreds.FilterPattern()

// DefaultInterval is the least time between two reports for one target.
const DefaultInterval = time.Minute

// Line is one log event.
type Line struct {
	Group, Stream string
	Time          time.Time
	Message       string
}

// Report turns a line into a report for target, or false if the line
// carries no expired-credential rendering (expiredcreds.Classify: a code,
// or a message in any SDK's words). The code, service and operation are
// the ones the rendering carries.
func Report(target string, l Line) (events.ExpiredToken, bool) {
	f, ok := expiredcreds.Classify(l.Message)
	if !ok {
		return events.ExpiredToken{}, false
	}
	d := events.ExpiredToken{
		SchemaVersion: events.SchemaVersion,
		Target:        target,
		ErrorCode:     f.Code,
		Service:       clip(events.MaskKeys(f.Service), 128),
		Operation:     clip(events.MaskKeys(f.Operation), 128),
		// Masked before it is cut, so no key survives whole or in part.
		ErrorMessage: clip(events.MaskKeys(l.Message), 512),
		ObservedAt:   l.Time.UTC(),
		Observer:     events.Observer{App: l.Group, Host: l.Stream, Via: "logs"},
	}
	if k := events.FirstKey(l.Message); k != "" {
		d.AccessKeyID = secretfmt.Mask(k)
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
