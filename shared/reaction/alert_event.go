package reaction

import (
	"time"

	"github.com/stsrotator/stsrotator/shared/config"
	"github.com/stsrotator/stsrotator/shared/events"
	"github.com/stsrotator/stsrotator/shared/rotation"
)

// AlertEvent is the "Alert" event detail for an alert: the facts of the
// email, structured, so a rule can route by target, action or signal.
// Free text copied from reports and AWS errors is masked; every field a
// reporter or a log line supplied is escaped and shortened (Clean) and
// labelled by ClaimedBy, apart from stsrotator's own fields.
func AlertEvent(now time.Time, subject string, s Signal, out Outcome, t config.Target, cur Version, suppressed int) events.Alert {
	a := events.Alert{
		SchemaVersion: events.LifecycleSchemaVersion,
		Target:        out.Target,
		Subject:       events.MaskKeys(subject),
		Action:        string(out.Decision.Action),
		Reason:        Clean(events.MaskKeys(out.Decision.Reason), 2000),
		Signal:        s.Source,
		SenderAccount: s.Account,
		ClaimedBy:     Claimant(s),
		Observer:      Clean(events.MaskKeys(s.Observer), MaxClaimedField),
		ErrorCode:     Clean(s.ErrorCode, MaxClaimedField),
		Service:       Clean(s.Service, MaxClaimedField),
		Operation:     Clean(s.Operation, MaxClaimedField),
		Region:        Clean(s.Region, MaxClaimedField),
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
		a.Rotation = &events.AlertRotation{Outcome: string(r.Outcome), Reason: Clean(events.MaskKeys(r.Reason), 2000)}
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
