package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/stsrotator/stsrotator/shared/config"
	"github.com/stsrotator/stsrotator/shared/events"
	"github.com/stsrotator/stsrotator/shared/metrics"
	"github.com/stsrotator/stsrotator/shared/rotation"
	"github.com/stsrotator/stsrotator/shared/sourcekey"
)

// Handler serves one rotator invocation.
type Handler struct {
	Engine      *rotation.Engine
	Config      *config.Config
	Concurrency int
	Log         *slog.Logger
	Emit        *metrics.Writer
	Now         func() time.Time
	// SourceKeys rotates the IAM user's key; set only on the source-key
	// rotator, the one function allowed to manage that key.
	SourceKeys *sourcekey.Rotator
}

// ErrBadInput marks an event the rotator cannot act on; retrying it
// cannot help.
var ErrBadInput = errors.New("bad rotator input")

// Handle rotates what the event asks for. It returns an error when the
// input is bad or any target failed, so Lambda's error metric and the
// schedule's retry policy see it; targets that succeeded stay rotated.
func (h *Handler) Handle(ctx context.Context, raw json.RawMessage) (rotation.Response, error) {
	start := h.Now()
	ev, err := parseEvent(raw)
	if err != nil {
		h.Log.ErrorContext(ctx, "rejected input", slog.String("error", err.Error()))
		return rotation.Response{}, err
	}
	if ev.SourceKey {
		return h.sourceKey(ctx, ev, start)
	}
	targets := h.Config.Targets
	resp := rotation.Response{Mode: "sweep"}
	why := clip(ev.Reason)
	if why == "" {
		why = "schedule"
	}
	if ev.Target != "" {
		t, ok := h.Config.Target(ev.Target)
		if !ok {
			err := fmt.Errorf("%w: unknown target %q; valid targets: %s", ErrBadInput, clip(ev.Target), listNames(h.Config.Names()))
			h.Log.ErrorContext(ctx, "rejected input", slog.String("error", err.Error()))
			return rotation.Response{}, err
		}
		targets, resp.Mode = []config.Target{t}, "target"
	} else if ev.Force || !ev.RevokedBefore.IsZero() {
		err := fmt.Errorf("%w: force and revokedBefore need a target; a forced sweep of every target would defeat the write-rate guidance", ErrBadInput)
		h.Log.ErrorContext(ctx, "rejected input", slog.String("error", err.Error()))
		return rotation.Response{}, err
	}
	if ev.Why != "" && !ev.Why.Valid() {
		err := fmt.Errorf("%w: why %q is not one of schedule, expired-token-report, forced, revoke", ErrBadInput, ev.Why)
		h.Log.ErrorContext(ctx, "rejected input", slog.String("error", err.Error()))
		return rotation.Response{}, err
	}
	if ev.Why == events.CauseRevoke && ev.RevokedBefore.IsZero() {
		// The Credentials Rotated event would announce a revocation that
		// no cutoff backs: subscribers may page on it.
		err := fmt.Errorf("%w: why %q needs revokedBefore (the revocation's cutoff); stsrotator revoke sends both", ErrBadInput, ev.Why)
		h.Log.ErrorContext(ctx, "rejected input", slog.String("error", err.Error()))
		return rotation.Response{}, err
	}
	if err := rotation.CheckCutoff(h.Now(), ev.RevokedBefore); err != nil {
		h.Emit.Put(metrics.RevocationCutoffsRefused, 1, metrics.Count, nil)
		h.Emit.PutTarget(ev.Target, metrics.RevocationCutoffsRefused, 1, metrics.Count)
		err = fmt.Errorf("%w: %w", ErrBadInput, err)
		h.Log.ErrorContext(ctx, "rejected input", slog.String("target", ev.Target), slog.String("reason", why), slog.String("error", err.Error()))
		return rotation.Response{}, err
	}
	_, resp.Summary = h.Engine.Sweep(ctx, targets, h.Concurrency, rotation.Request{Force: ev.Force, Why: why, Cause: ev.Why, RevokedBefore: ev.RevokedBefore})
	resp.DurationMs = h.Now().Sub(start).Milliseconds()
	h.Emit.Put(metrics.SweepDuration, float64(resp.DurationMs), metrics.Milliseconds, nil)
	h.Log.InfoContext(ctx, "done", slog.String("mode", resp.Mode), slog.Int("targets", len(targets)),
		slog.Int("rotated", len(resp.Summary.Rotated)), slog.Int("fresh", resp.Summary.Fresh),
		slog.Int("superseded", resp.Summary.Superseded), slog.Int("failed", len(resp.Summary.Failed)),
		slog.Int64("durationMs", resp.DurationMs))
	if !resp.Summary.OK() {
		var parts []string
		for _, f := range resp.Summary.Failed {
			parts = append(parts, f.Target+": "+f.Reason)
		}
		return resp, fmt.Errorf("%d of %d targets failed: %s", len(resp.Summary.Failed), len(targets), strings.Join(parts, "; "))
	}
	return resp, nil
}

// sourceKey runs the source-key rotation. A failed run returns an error,
// so the function's Errors alarm tells a human; the stored key stays.
func (h *Handler) sourceKey(ctx context.Context, ev rotation.Invocation, start time.Time) (rotation.Response, error) {
	var err error
	switch {
	case h.SourceKeys == nil:
		err = fmt.Errorf("%w: sourceKey: this rotator does not manage the IAM user's key; the stack's SourceKeyRotator function does", ErrBadInput)
	case ev.Target != "" || ev.Force:
		err = fmt.Errorf(`%w: sourceKey cannot be combined with target or force; send {"sourceKey":true}`, ErrBadInput)
	}
	if err != nil {
		h.Log.ErrorContext(ctx, "rejected input", slog.String("error", err.Error()))
		return rotation.Response{}, err
	}
	r := h.SourceKeys.Run(ctx)
	resp := rotation.Response{Mode: "source-key", Summary: rotation.Summarize(nil), SourceKey: &r, DurationMs: h.Now().Sub(start).Milliseconds()}
	if r.Outcome == sourcekey.Failed {
		return resp, fmt.Errorf("source key rotation failed (the stored key stays in use): %s", r.Error)
	}
	return resp, nil
}

func parseEvent(raw json.RawMessage) (rotation.Invocation, error) {
	var ev rotation.Invocation
	trimmed := bytes.TrimSpace(raw)
	if len(trimmed) == 0 || bytes.Equal(trimmed, []byte("null")) {
		return ev, nil
	}
	dec := json.NewDecoder(bytes.NewReader(trimmed))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&ev); err != nil {
		// The decoder quotes an unknown field's name whole: clipped, so a
		// 1 MB name is not logged whole.
		return ev, fmt.Errorf(`%w: %s; send {} to sweep every target, or {"target":"<name>","force":true,"reason":"…"} for one`, ErrBadInput, clip(err.Error()))
	}
	if dec.More() {
		return ev, fmt.Errorf("%w: more than one JSON value; send a single object", ErrBadInput)
	}
	return ev, nil
}

// MaxReasonLen bounds how much of an invocation's reason the rotator
// keeps, in bytes. The reason is the invoker's text (the reactor's names
// the reporter, rotate's and revoke's the user and host); it is written
// into the log line of every target a sweep touches, so an unbounded one
// from anyone allowed lambda:InvokeFunction multiplied into gigabytes of
// CloudWatch Logs. Lambda's own limit is the 6 MB payload.
const MaxReasonLen = 512

// clip is s cut to MaxReasonLen bytes on a rune boundary, invalid UTF-8
// and control characters (CR, LF, ESC…) replaced, so an invoker's text
// can neither flood the logs nor forge a line in what prints them.
func clip(s string) string {
	cut := len(s) > MaxReasonLen
	if cut {
		s = s[:MaxReasonLen]
	}
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || r == utf8.RuneError {
			return '\uFFFD'
		}
		return r
	}, strings.ToValidUTF8(s, "\uFFFD"))
	if cut {
		s += "…(cut)"
	}
	return s
}

// listNames keeps the error readable for configs with thousands of targets.
func listNames(names []string) string {
	const most = 20
	if len(names) <= most {
		return strings.Join(names, ", ")
	}
	return fmt.Sprintf("%s, … (%d more)", strings.Join(names[:most], ", "), len(names)-most)
}
