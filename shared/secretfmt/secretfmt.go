package secretfmt

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"
	"time"

	"github.com/stsrotator/stsrotator/shared/jsonkeys"
)

// ProcessVersion is the credential_process payload version AWS defines.
const ProcessVersion = 1

// MetadataSchema versions the Stsrotator object; bump it only for
// additions, and keep Parse accepting every earlier value.
// Version 2 adds reportBus.
const MetadataSchema = 2

// Value is one secret version: credentials plus where they came from.
type Value struct {
	AccessKeyID     string
	SecretAccessKey string
	SessionToken    string
	Expiration      time.Time
	Meta            Metadata
}

// Metadata tells consumers and operators what the credentials are for and
// when a fresher version will exist.
type Metadata struct {
	Schema int `json:"schema"`
	// Target is the config name of the target.
	Target string `json:"target"`
	// RoleArn is the role that was assumed.
	RoleArn string `json:"roleArn"`
	// Identity is the ARN sts:GetCallerIdentity returned for these
	// credentials when the rotator verified them before writing.
	Identity string `json:"identity"`
	// IssuedAt is when the rotator obtained the credentials.
	IssuedAt time.Time `json:"issuedAt"`
	// RefreshAt is when the rotator will replace this version; consumers
	// that cache should re-read the secret after it.
	RefreshAt time.Time `json:"refreshAt"`
	// ReportBus is the ARN of the EventBridge bus that takes
	// "ExpiredToken Observed" reports for these credentials (the
	// stsrotator account's default bus, whose policy admits every reader
	// account), so a consumer in any account reports there without
	// configuration. Empty in secrets written before schema 2.
	ReportBus string `json:"reportBus,omitempty"`
	// Writes is the rotator's write history for this secret: the issue
	// times of every version it wrote in the 24 hours up to and including
	// this one. Secrets Manager keeps every version younger than 24 hours
	// and refuses new ones past about 100, so the rotator counts these
	// before writing; carried in the secret, the history survives Lambda
	// restarts and needs no extra call. Absent in values written before it
	// existed.
	Writes []time.Time `json:"writes,omitempty"`
}

// wire is the exact JSON layout. Field order follows AWS's documentation
// of credential_process so the value reads the way users expect it to.
type wire struct {
	Version         int       `json:"Version"`
	AccessKeyID     string    `json:"AccessKeyId"`
	SecretAccessKey string    `json:"SecretAccessKey"`
	SessionToken    string    `json:"SessionToken"`
	Expiration      string    `json:"Expiration"`
	Stsrotator      *Metadata `json:"Stsrotator,omitempty"`
}

// Marshal renders v as the secret string.
func Marshal(v Value) ([]byte, error) {
	m := v.Meta
	m.Schema = MetadataSchema
	m.IssuedAt = m.IssuedAt.UTC()
	m.RefreshAt = m.RefreshAt.UTC()
	if len(m.Writes) > 0 {
		m.Writes = append([]time.Time(nil), m.Writes...)
		for i := range m.Writes {
			m.Writes[i] = m.Writes[i].UTC()
		}
	}
	return render(v, &m)
}

// ProcessJSON renders only what credential_process defines, for tools that
// print credentials and have no use for the metadata.
func ProcessJSON(v Value) ([]byte, error) { return render(v, nil) }

func render(v Value, meta *Metadata) ([]byte, error) {
	if err := v.check(); err != nil {
		return nil, err
	}
	return json.Marshal(wire{
		Version:         ProcessVersion,
		AccessKeyID:     v.AccessKeyID,
		SecretAccessKey: v.SecretAccessKey,
		SessionToken:    v.SessionToken,
		Expiration:      v.Expiration.UTC().Format(time.RFC3339),
		Stsrotator:      meta,
	})
}

// wireNames are the keys of the wire layout and of Metadata, spelt as
// written.
var wireNames = []string{"Version", "AccessKeyId", "SecretAccessKey", "SessionToken", "Expiration", "Stsrotator",
	"schema", "target", "roleArn", "identity", "issuedAt", "refreshAt", "reportBus", "writes"}

// ErrInvalid marks a secret string that is not a usable stsrotator value.
var ErrInvalid = errors.New("invalid stsrotator secret")

var reKeyID = regexp.MustCompile(`^[A-Za-z0-9]{16,128}$`)

// Parse reads a secret string. Errors wrap ErrInvalid, name the field that
// is wrong and never quote the secret's content.
func Parse(s []byte) (Value, error) {
	// encoding/json keeps the last of two equal keys and matches names in
	// any case; botocore and the JS SDK read exact keys. A value those
	// read differently from this parser is refused: the rotator must
	// judge the credentials consumers use.
	if err := jsonkeys.Check(s, wireNames...); err != nil {
		return Value{}, fmt.Errorf("%w: %w; each field must appear once, spelt as credential_process and stsrotator write it (fix: let the rotator rewrite the secret)", ErrInvalid, err)
	}
	var w wire
	dec := json.NewDecoder(bytes.NewReader(s))
	if err := dec.Decode(&w); err != nil {
		// The decoder's message can quote input; report only its kind.
		var se *json.SyntaxError
		var te *json.UnmarshalTypeError
		var pe *time.ParseError
		switch {
		case errors.As(err, &te) && te.Field == "":
			return Value{}, fmt.Errorf("%w: the value is a JSON %s, not an object; it must be credential_process JSON", ErrInvalid, te.Value)
		case errors.As(err, &pe):
			// Only the metadata's times are decoded as time.Time.
			return Value{}, fmt.Errorf("%w: Stsrotator.issuedAt, refreshAt or writes holds something other than an RFC 3339 time (fix: let the rotator rewrite the secret)", ErrInvalid)
		case errors.As(err, &te):
			return Value{}, fmt.Errorf("%w: field %s has the wrong type (want %s)", ErrInvalid, te.Field, te.Type)
		case errors.As(err, &se):
			return Value{}, fmt.Errorf("%w: not JSON (syntax error at byte %d); the value must be credential_process JSON", ErrInvalid, se.Offset)
		case errors.Is(err, io.ErrUnexpectedEOF):
			return Value{}, fmt.Errorf("%w: the JSON ends early, after %d bytes (cut short?); the value must be complete credential_process JSON", ErrInvalid, len(s))
		default:
			return Value{}, fmt.Errorf("%w: not a JSON object; the value must be credential_process JSON", ErrInvalid)
		}
	}
	if dec.More() {
		return Value{}, fmt.Errorf("%w: trailing data after the JSON object", ErrInvalid)
	}
	if w.Version != ProcessVersion {
		return Value{}, fmt.Errorf("%w: Version is %d, want %d", ErrInvalid, w.Version, ProcessVersion)
	}
	exp, err := time.Parse(time.RFC3339, w.Expiration)
	if err != nil {
		return Value{}, fmt.Errorf("%w: Expiration is not an RFC 3339 time", ErrInvalid)
	}
	v := Value{
		AccessKeyID:     w.AccessKeyID,
		SecretAccessKey: w.SecretAccessKey,
		SessionToken:    w.SessionToken,
		Expiration:      exp.UTC(),
	}
	if w.Stsrotator != nil {
		v.Meta = *w.Stsrotator
	}
	if err := v.check(); err != nil {
		return Value{}, err
	}
	return v, nil
}

func (v Value) check() error {
	switch {
	case !reKeyID.MatchString(v.AccessKeyID):
		return fmt.Errorf("%w: AccessKeyId is missing or malformed", ErrInvalid)
	case v.SecretAccessKey == "":
		return fmt.Errorf("%w: SecretAccessKey is missing", ErrInvalid)
	case v.SessionToken == "":
		// Without a token these would be long-term keys, which stsrotator
		// never stores.
		return fmt.Errorf("%w: SessionToken is missing", ErrInvalid)
	case v.Expiration.IsZero():
		return fmt.Errorf("%w: Expiration is missing", ErrInvalid)
	case !inRange(v.Expiration):
		return fmt.Errorf("%w: Expiration is outside years %d–%d in UTC; write the time STS returned", ErrInvalid, minYear, maxYear)
	case !v.Meta.IssuedAt.IsZero() && !inRange(v.Meta.IssuedAt):
		return fmt.Errorf("%w: Stsrotator.issuedAt is outside years %d–%d in UTC", ErrInvalid, minYear, maxYear)
	case !v.Meta.RefreshAt.IsZero() && !inRange(v.Meta.RefreshAt):
		return fmt.Errorf("%w: Stsrotator.refreshAt is outside years %d–%d in UTC", ErrInvalid, minYear, maxYear)
	}
	for i, w := range v.Meta.Writes {
		if !inRange(w) {
			return fmt.Errorf("%w: Stsrotator.writes[%d] is outside years %d–%d in UTC", ErrInvalid, i, minYear, maxYear)
		}
	}
	return nil
}

// RFC 3339 allows offsets that move a year-0000 or year-9999 time out of
// the four-digit range once converted to UTC, where it can no longer be
// written back; no credential is issued outside these years anyway.
const minYear, maxYear = 1970, 9999

func inRange(t time.Time) bool {
	y := t.UTC().Year()
	return y >= minYear && y <= maxYear
}

// Remaining is how long the credentials stay valid at now (negative once
// expired).
func (v Value) Remaining(now time.Time) time.Duration { return v.Expiration.Sub(now) }

// Expired reports whether the credentials are unusable at now.
func (v Value) Expired(now time.Time) bool { return !now.Before(v.Expiration) }

// Mask shows an access key ID as its first and last four characters, the
// only form stsrotator ever logs or prints.
func Mask(accessKeyID string) string {
	if len(accessKeyID) < 12 {
		return strings.Repeat("*", len(accessKeyID))
	}
	return accessKeyID[:4] + "…" + accessKeyID[len(accessKeyID)-4:]
}

// MaskedKey is Mask of the value's key.
func (v Value) MaskedKey() string { return Mask(v.AccessKeyID) }

// String never reveals secret material, so a Value printed by mistake in a
// log or error is harmless.
func (v Value) String() string {
	return fmt.Sprintf("credentials{key=%s expires=%s target=%s}", v.MaskedKey(), v.Expiration.Format(time.RFC3339), v.Meta.Target)
}

// GoString guards %#v the same way.
func (v Value) GoString() string { return v.String() }
