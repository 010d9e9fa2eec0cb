package events

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/stsrotator/stsrotator/shared/expiredcreds"
	"github.com/stsrotator/stsrotator/shared/secretfmt"
)

// SchemaVersion is the version of the ExpiredToken detail. Fields and
// accepted values are only ever added; a consumer that sees a higher
// version reads what it knows. Version 2 accepts every code of
// expiredcreds.Codes (RequestExpired too); a version-1 report stays valid.
const SchemaVersion = 2

// Error codes AWS uses for expired credentials; expiredcreds holds the
// table, these are names for the callers that spell one.
const (
	CodeExpiredToken          = expiredcreds.ExpiredToken
	CodeExpiredTokenException = expiredcreds.ExpiredTokenException
	CodeRequestExpired        = expiredcreds.RequestExpired
)

// IsExpiredCode reports whether an AWS error code means the credentials
// expired (expiredcreds.IsCode).
func IsExpiredCode(code string) bool { return expiredcreds.IsCode(code) }

// How a report was produced (observer.via). Vias lists them; the schema's
// enum (docs/expired-token.schema.json) is the same list.
const (
	ViaLibrary = "library" // the Go provider's recovery option
	ViaCLI     = "cli"     // stsrotator report-expired
	ViaLogs    = "logs"    // the log watcher
	ViaManual  = "manual"  // a person, e.g. with aws events put-events
	// ViaServe is stsrotator serve refusing its clients because the secret,
	// re-read, holds only expired credentials: serve saw the secret, not
	// AWS's refusal, so errorCode is ExpiredToken by convention and
	// errorMessage says what serve saw.
	ViaServe = "serve"
)

var vias = []string{ViaLibrary, ViaCLI, ViaLogs, ViaManual, ViaServe}

// Vias is every accepted observer.via value, in the schema's order (a
// copy).
func Vias() []string { return append([]string(nil), vias...) }

// IsVia reports whether v is an accepted observer.via value.
func IsVia(v string) bool { return slices.Contains(vias, v) }

// ViaList is Vias for messages: "library, cli, logs, manual or serve".
func ViaList() string {
	return strings.Join(vias[:len(vias)-1], ", ") + " or " + vias[len(vias)-1]
}

// Observer says who saw the failure.
type Observer struct {
	// App is the application or job name.
	App string `json:"app,omitempty"`
	// Host is the machine, container or function that saw it.
	Host string `json:"host,omitempty"`
	// Via is how the report was produced: one of Vias.
	Via string `json:"via"`
}

// ExpiredToken is the detail of a "ExpiredToken Observed" event: a
// consumer's credentials, read from an stsrotator secret, were refused as
// expired. It is the schema published as docs/expired-token.schema.json.
type ExpiredToken struct {
	SchemaVersion int `json:"schemaVersion"`
	// Target is the config target name; SecretID (name or ARN) may be given
	// instead or as well. With neither, the masked AccessKeyID alone is
	// matched against every target's current and previous versions.
	Target   string `json:"target,omitempty"`
	SecretID string `json:"secretId,omitempty"`
	// AccessKeyID is the failing key in masked form (first and last four
	// characters), never the whole key.
	AccessKeyID  string    `json:"accessKeyId,omitempty"`
	Service      string    `json:"service,omitempty"`
	Operation    string    `json:"operation,omitempty"`
	Region       string    `json:"region,omitempty"`
	ErrorCode    string    `json:"errorCode"`
	ErrorMessage string    `json:"errorMessage,omitempty"`
	ObservedAt   time.Time `json:"observedAt"`
	Observer     Observer  `json:"observer"`
}

// ErrInvalid marks a detail that cannot be acted on.
var ErrInvalid = errors.New("invalid ExpiredToken report")

// reMasked accepts only the masked form, so a report can never carry a
// whole access key into EventBridge, logs or alerts.
var reMasked = regexp.MustCompile(`^[A-Z0-9]{4}…[A-Za-z0-9]{4}$`)

const maxText = 1024

// reWholeKey finds access key IDs in free text (log lines, error
// messages): AWS writes them whole, and only the masked form may leave a
// consumer.
var reWholeKey = regexp.MustCompile(`\b(?:ASIA|AKIA)[A-Z0-9]{12,124}\b`)

// MaskKeys replaces every whole access key ID in s with its masked form.
func MaskKeys(s string) string { return reWholeKey.ReplaceAllStringFunc(s, secretfmt.Mask) }

// FirstKey is the first whole access key ID in s, or "".
func FirstKey(s string) string { return reWholeKey.FindString(s) }

// Keys is every whole access key ID in s; the test suite's leak check
// looks for them with this same pattern.
func Keys(s string) []string { return reWholeKey.FindAllString(s, -1) }

// Validate names the first problem with the detail and how to fix it.
func (e ExpiredToken) Validate() error {
	bad := func(field, problem, fix string) error {
		return fmt.Errorf("%w: %s %s (fix: %s)", ErrInvalid, field, problem, fix)
	}
	switch {
	case e.SchemaVersion < 1:
		return bad("schemaVersion", "is missing", fmt.Sprintf("set it to %d", SchemaVersion))
	case e.Target == "" && e.SecretID == "" && e.AccessKeyID == "":
		return bad("target, secretId and accessKeyId", "are all empty", "name the config target, the secret's name or ARN, or at least the masked key that failed")
	case !IsExpiredCode(e.ErrorCode):
		return bad("errorCode", fmt.Sprintf("is %q", truncate(e.ErrorCode, 64)), "report only "+strings.Join(expiredcreds.Codes(), ", "))
	case e.AccessKeyID != "" && !reMasked.MatchString(e.AccessKeyID):
		return bad("accessKeyId", "is not masked", "send only the first and last four characters, as ASIA…WXYZ")
	case e.ObservedAt.IsZero():
		return bad("observedAt", "is missing", "set it to the RFC 3339 time of the failure")
	case e.Observer.Via == "":
		return bad("observer.via", "is missing", "set it to "+ViaList())
	case !IsVia(e.Observer.Via):
		return bad("observer.via", fmt.Sprintf("is %q", truncate(e.Observer.Via, 64)), "set it to "+ViaList())
	}
	for field, v := range map[string]string{"target": e.Target, "secretId": e.SecretID, "service": e.Service, "operation": e.Operation,
		"region": e.Region, "errorMessage": e.ErrorMessage, "observer.app": e.Observer.App, "observer.host": e.Observer.Host} {
		if len(v) > maxText {
			return bad(field, fmt.Sprintf("is %d bytes long", len(v)), fmt.Sprintf("keep it under %d", maxText))
		}
		if reWholeKey.MatchString(v) {
			return bad(field, "contains a whole access key ID", "send the key masked, its first and last four characters only, as ASIA…WXYZ")
		}
	}
	return nil
}

// ParseExpiredToken reads and validates an event detail.
func ParseExpiredToken(detail []byte) (ExpiredToken, error) {
	var e ExpiredToken
	// Unknown fields are allowed: later schema versions only add fields.
	if err := json.NewDecoder(bytes.NewReader(detail)).Decode(&e); err != nil {
		return ExpiredToken{}, fmt.Errorf("%w: %w (fix: send the JSON object described in docs/expired-token.schema.json)", ErrInvalid, err)
	}
	if err := e.Validate(); err != nil {
		return ExpiredToken{}, err
	}
	return e, nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "") + "…"
}
