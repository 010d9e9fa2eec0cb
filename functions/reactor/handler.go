package main

import (
	"context"
	"encoding/json"
	"log/slog"

	"github.com/stsrotator/stsrotator/shared/metrics"
	"github.com/stsrotator/stsrotator/shared/reaction"
)

// Handler serves one EventBridge delivery.
type Handler struct {
	Reactor *reaction.Reactor
	Log     *slog.Logger
	Emit    *metrics.Writer
}

// Handle reacts to one ExpiredToken event. A malformed event is logged
// with its reason and dropped (returning nil): retrying it could only
// repeat the failure, and asynchronous retries would amplify a bad
// publisher. Transient AWS errors are returned so Lambda retries.
func (h *Handler) Handle(ctx context.Context, raw json.RawMessage) error {
	s, err := reaction.ParseEvent(raw)
	if err != nil {
		h.Emit.Put(metrics.RejectedEvents, 1, metrics.Count, nil)
		h.Log.WarnContext(ctx, "dropped event", slog.String("reason", err.Error()))
		return nil
	}
	_, err = h.Reactor.React(ctx, s)
	if err != nil {
		h.Log.ErrorContext(ctx, "will retry", slog.String("error", err.Error()))
	}
	return err
}
