package reaction

import (
	"time"

	"github.com/stsrotator/stsrotator/shared/config"
	"github.com/stsrotator/stsrotator/shared/events"
	"github.com/stsrotator/stsrotator/shared/rotation"
)

// AlertEvent is the "Alert" event detail for an alert: the facts of the
// email, structured, so a rule can route by target, action or signal.
// Free text copied from reports and AWS errors is masked.
func AlertEvent(now time.Time, subject string, s Signal, out Outcome, t config.Target, cur Version, suppressed int) events.Alert {
	a := events.Alert{
		SchemaVersion: events.LifecycleSchemaVersion,
		Target:        out.Target,
		Subject:       events.MaskKeys(subject),
		Action:        string(out.Decision.Action),
		Reason:        events.MaskKeys(out.Decision.Reason),
		Signal:        s.Source,
		Observer:      events.MaskKeys(s.Observer),
		ErrorCode:     s.ErrorCode,
		Service:       s.Service,
		Operation:     s.Operation,
		Region:        s.Region,
		ObservedAt:    s.ObservedAt,
		FailingKey:    s.Key,
		Suppressed:    suppressed,
		Inspect:       InspectCommand(out.Target),
		AlertedAt:     now,
	}
	if out.Target != "" {
		a.RoleArn, a.SecretName = t.RoleArn, t.SecretName
	}
	if s.Key != "" {
		a.KeyMatch = string(out.Decision.Key)
	}
	if r := out.Rotation; r != nil {
		a.Rotation = &events.AlertRotation{Outcome: string(r.Outcome), Reason: events.MaskKeys(r.Reason)}
		if r.Outcome == rotation.Rotated {
			a.Rotation.VersionID, a.Rotation.AccessKeyID, a.Rotation.Expiration = r.VersionID, r.Key, r.Expires
		}
	}
	if cur.Exists && cur.ParseErr == nil {
		a.Current = &events.VersionRef{VersionID: cur.VersionID, AccessKeyID: cur.Value.MaskedKey(), Expiration: cur.Value.Expiration,
			StillValid: !cur.Value.Expired(now)}
	}
	return a
}
