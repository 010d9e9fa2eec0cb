package rotation

import (
	"context"
	"sync"

	"github.com/stsrotator/stsrotator/shared/config"
)

// Summary is what a sweep did, safe to log and to return to the caller.
type Summary struct {
	Rotated []Result `json:"rotated"`
	Fresh   int      `json:"fresh"`
	// Held lists the fresh results a write was held back for by the
	// secret version quota (Result.HeldUntil says until when).
	Held []Result `json:"held,omitempty"`
	// Waiting lists the fresh results a due or forced write was held back
	// for by the write interval (Result.WriteAllowedAt says until when).
	Waiting    []Result `json:"waiting,omitempty"`
	Superseded int      `json:"superseded"`
	Failed     []Result `json:"failed"`
}

// OK reports whether no target failed.
func (s Summary) OK() bool { return len(s.Failed) == 0 }

// Sweep rotates every due target, at most concurrency at a time. Results
// come back in config order whatever order they finished in.
func (e *Engine) Sweep(ctx context.Context, targets []config.Target, concurrency int, req Request) ([]Result, Summary) {
	if concurrency < 1 {
		concurrency = 1
	}
	results := make([]Result, len(targets))
	sem := make(chan struct{}, concurrency)
	var wg sync.WaitGroup
	for i, t := range targets {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			results[i] = e.Rotate(ctx, t, req)
		}()
	}
	wg.Wait()
	return results, Summarize(results)
}

// Summarize groups results by outcome.
func Summarize(results []Result) Summary {
	s := Summary{Rotated: []Result{}, Failed: []Result{}}
	for _, r := range results {
		switch r.Outcome {
		case Rotated:
			s.Rotated = append(s.Rotated, r)
		case Fresh:
			s.Fresh++
			if !r.HeldUntil.IsZero() {
				s.Held = append(s.Held, r)
			}
			if !r.WriteAllowedAt.IsZero() {
				s.Waiting = append(s.Waiting, r)
			}
		case Superseded:
			s.Superseded++
		case Failed:
			s.Failed = append(s.Failed, r)
		}
	}
	return s
}
