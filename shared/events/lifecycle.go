package events

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"time"
)

// Detail-types of the events stsrotator itself publishes about its work,
// on the default bus of its account with source Source. None of them is
// DetailTypeExpiredToken, which is the only detail-type the reaction
// rule matches: a rotation announcing itself can never trigger a
// rotation.
const (
	DetailTypeRotated        = "Credentials Rotated"
	DetailTypeRotationFailed = "Rotation Failed"
	DetailTypeAlert          = "Alert"
)

// LifecycleSchemaVersion is the version of the three lifecycle details.
// Fields are only ever added.
const LifecycleSchemaVersion = 1

// Cause is why a rotation was attempted.
type Cause string

// Causes, as "why" in Credentials Rotated and Rotation Failed.
const (
	// CauseSchedule: the scheduled sweep found the target due.
	CauseSchedule Cause = "schedule"
	// CauseExpiredTokenReport: the reactor forced it after an ExpiredToken
	// report.
	CauseExpiredTokenReport Cause = "expired-token-report"
	// CauseForced: a human asked (stsrotator rotate).
	CauseForced Cause = "forced"
	// CauseRevoke: stsrotator revoke denied the older sessions and asked
	// for credentials issued after its cutoff.
	CauseRevoke Cause = "revoke"
)

// Valid reports whether c is one of the documented causes.
func (c Cause) Valid() bool {
	switch c {
	case CauseSchedule, CauseExpiredTokenReport, CauseForced, CauseRevoke:
		return true
	}
	return false
}

// VersionRef names a secret version without its secret material.
type VersionRef struct {
	VersionID string `json:"versionId"`
	// AccessKeyID is masked (ASIA…WXYZ).
	AccessKeyID string    `json:"accessKeyId,omitempty"`
	Expiration  time.Time `json:"expiration,omitzero"`
	// StillValid says whether the version's credentials still work: not
	// expired, and not issued before a revocation. A consumer holding it
	// can keep using it until Expiration when true.
	StillValid bool `json:"stillValid"`
}

// Rotated is the detail of a "Credentials Rotated" event: a new version
// of a target's secret is AWSCURRENT. docs/credentials-rotated.schema.json.
type Rotated struct {
	SchemaVersion int    `json:"schemaVersion"`
	Target        string `json:"target"`
	SecretArn     string `json:"secretArn"`
	VersionID     string `json:"versionId"`
	// AccessKeyID is the new key, masked.
	AccessKeyID string    `json:"accessKeyId"`
	Expiration  time.Time `json:"expiration"`
	Why         Cause     `json:"why"`
	// Previous is the version this one replaced; absent on a target's
	// first rotation.
	Previous  *VersionRef `json:"previous,omitempty"`
	RotatedAt time.Time   `json:"rotatedAt"`
}

// RotationFailed is the detail of a "Rotation Failed" event: an attempt
// wrote nothing. docs/rotation-failed.schema.json.
type RotationFailed struct {
	SchemaVersion int    `json:"schemaVersion"`
	Target        string `json:"target"`
	Reason        string `json:"reason"`
	Why           Cause  `json:"why"`
	// Current is the version consumers still get; absent when there is
	// none or it is unreadable.
	Current *VersionRef `json:"current,omitempty"`
	// CurrentValidSeconds is how long the current version stays valid:
	// 0 when it is expired, revoked, missing or unusable.
	CurrentValidSeconds int64     `json:"currentValidSeconds"`
	FailedAt            time.Time `json:"failedAt"`
}

// AlertRotation is the rotation an alert reports on.
type AlertRotation struct {
	Outcome     string    `json:"outcome"`
	Reason      string    `json:"reason,omitempty"`
	VersionID   string    `json:"versionId,omitempty"`
	AccessKeyID string    `json:"accessKeyId,omitempty"`
	Expiration  time.Time `json:"expiration,omitzero"`
}

// Alert is the detail of an "Alert" event: the facts of the SNS alert a
// human gets, structured so a rule can route them (by target, kind or
// action) to chat or paging with no code. docs/alert.schema.json.
type Alert struct {
	SchemaVersion int `json:"schemaVersion"`
	// Target is empty when the report matched no target.
	Target     string `json:"target,omitempty"`
	RoleArn    string `json:"roleArn,omitempty"`
	SecretName string `json:"secretName,omitempty"`
	// Subject is the SNS email's subject line.
	Subject string `json:"subject"`
	// Action is what the reactor did: force-rotation, stale-consumer,
	// recently-rotated, alert-only or unmatched.
	Action string `json:"action"`
	Reason string `json:"reason"`
	// Signal is where the report came from: consumer, logs or cloudtrail.
	Signal string `json:"signal"`
	// SenderAccount is the account that put the report on the bus, as
	// EventBridge recorded it (the sender cannot choose it).
	SenderAccount string `json:"senderAccount,omitempty"`
	// ClaimedBy names who vouches for Observer, ErrorCode, Service,
	// Operation and Region: the report's sender or CloudTrail. Those
	// fields are the claimant's text, escaped (no control characters) and
	// shortened; stsrotator did not check them.
	ClaimedBy  string    `json:"claimedBy,omitempty"`
	Observer   string    `json:"observer,omitempty"`
	ErrorCode  string    `json:"errorCode,omitempty"`
	Service    string    `json:"service,omitempty"`
	Operation  string    `json:"operation,omitempty"`
	Region     string    `json:"region,omitempty"`
	ObservedAt time.Time `json:"observedAt,omitzero"`
	// FailingKey is the reported key, masked; KeyMatch says which version
	// held it (current, previous, older, none).
	FailingKey string         `json:"failingKey,omitempty"`
	KeyMatch   string         `json:"keyMatch,omitempty"`
	Rotation   *AlertRotation `json:"rotation,omitempty"`
	Current    *VersionRef    `json:"current,omitempty"`
	// Suppressed counts similar reports in the previous window that were
	// not alerted separately.
	Suppressed int       `json:"suppressed"`
	Inspect    string    `json:"inspect"`
	AlertedAt  time.Time `json:"alertedAt"`
}

// Lifecycle is any of the three lifecycle details.
type Lifecycle interface {
	// DetailType is the event's detail-type.
	DetailType() string
	// Time is when it happened (the event's time).
	Time() time.Time
	// Validate names the first problem, as ErrInvalid.
	Validate() error
}

func (Rotated) DetailType() string        { return DetailTypeRotated }
func (RotationFailed) DetailType() string { return DetailTypeRotationFailed }
func (Alert) DetailType() string          { return DetailTypeAlert }
func (d Rotated) Time() time.Time         { return d.RotatedAt }
func (d RotationFailed) Time() time.Time  { return d.FailedAt }
func (d Alert) Time() time.Time           { return d.AlertedAt }

func invalid(detailType, field, problem string) error {
	return fmt.Errorf("%w: %s: %s %s", ErrInvalid, detailType, field, problem)
}

// Validate checks the required fields and that no key is whole.
func (d Rotated) Validate() error {
	switch {
	case d.SchemaVersion < 1:
		return invalid(DetailTypeRotated, "schemaVersion", "is missing")
	case d.Target == "" || d.VersionID == "" || d.SecretArn == "":
		return invalid(DetailTypeRotated, "target, secretArn and versionId", "are required")
	case !reMasked.MatchString(d.AccessKeyID):
		return invalid(DetailTypeRotated, "accessKeyId", "is not masked")
	case d.Expiration.IsZero() || d.RotatedAt.IsZero():
		return invalid(DetailTypeRotated, "expiration and rotatedAt", "are required")
	case !d.Why.Valid():
		return invalid(DetailTypeRotated, "why", fmt.Sprintf("is %q", d.Why))
	case d.Previous != nil && d.Previous.AccessKeyID != "" && !reMasked.MatchString(d.Previous.AccessKeyID):
		return invalid(DetailTypeRotated, "previous.accessKeyId", "is not masked")
	}
	return noWholeKeys(DetailTypeRotated, d)
}

// Validate checks the required fields and that no key is whole.
func (d RotationFailed) Validate() error {
	switch {
	case d.SchemaVersion < 1:
		return invalid(DetailTypeRotationFailed, "schemaVersion", "is missing")
	case d.Target == "" || d.Reason == "":
		return invalid(DetailTypeRotationFailed, "target and reason", "are required")
	case !d.Why.Valid():
		return invalid(DetailTypeRotationFailed, "why", fmt.Sprintf("is %q", d.Why))
	case d.FailedAt.IsZero():
		return invalid(DetailTypeRotationFailed, "failedAt", "is required")
	case d.CurrentValidSeconds < 0:
		return invalid(DetailTypeRotationFailed, "currentValidSeconds", "is negative")
	case d.Current != nil && d.Current.AccessKeyID != "" && !reMasked.MatchString(d.Current.AccessKeyID):
		return invalid(DetailTypeRotationFailed, "current.accessKeyId", "is not masked")
	}
	return noWholeKeys(DetailTypeRotationFailed, d)
}

// Validate checks the required fields and that no key is whole.
func (d Alert) Validate() error {
	switch {
	case d.SchemaVersion < 1:
		return invalid(DetailTypeAlert, "schemaVersion", "is missing")
	case d.Subject == "" || d.Action == "" || d.Signal == "" || d.Inspect == "":
		return invalid(DetailTypeAlert, "subject, action, signal and inspect", "are required")
	case d.AlertedAt.IsZero():
		return invalid(DetailTypeAlert, "alertedAt", "is required")
	case d.FailingKey != "" && !reMasked.MatchString(d.FailingKey):
		return invalid(DetailTypeAlert, "failingKey", "is not masked")
	}
	return noWholeKeys(DetailTypeAlert, d)
}

// noWholeKeys walks every string in a detail: reasons and error messages
// are copied from AWS errors, which may quote a key whole.
func noWholeKeys(detailType string, d any) error {
	var bad string
	var walk func(v reflect.Value, path string)
	walk = func(v reflect.Value, path string) {
		if bad != "" {
			return
		}
		switch v.Kind() {
		case reflect.Pointer:
			if !v.IsNil() {
				walk(v.Elem(), path)
			}
		case reflect.Struct:
			for i := range v.NumField() {
				f := v.Type().Field(i)
				name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
				walk(v.Field(i), path+name+".")
			}
		case reflect.String:
			if reWholeKey.MatchString(v.String()) {
				bad = path[:len(path)-1]
			}
		}
	}
	walk(reflect.ValueOf(d), "")
	if bad != "" {
		return invalid(detailType, bad, "contains a whole access key ID (mask it with events.MaskKeys)")
	}
	return nil
}

// Encode validates d and returns its JSON detail.
func Encode(d Lifecycle) ([]byte, error) {
	if err := d.Validate(); err != nil {
		return nil, err
	}
	b, err := json.Marshal(d)
	if err != nil {
		return nil, fmt.Errorf("encode %s detail: %w", d.DetailType(), err)
	}
	return b, nil
}

// SchemaFiles maps every detail-type stsrotator defines to its published
// JSON Schema under docs/; the schema tests validate what the code emits
// against these files.
var SchemaFiles = map[string]string{
	DetailTypeExpiredToken:   "expired-token.schema.json",
	DetailTypeRotated:        "credentials-rotated.schema.json",
	DetailTypeRotationFailed: "rotation-failed.schema.json",
	DetailTypeAlert:          "alert.schema.json",
}
