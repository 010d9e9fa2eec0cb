package secretfmt

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"
)

// SourceKey is the value of the deployment's source-key secret: the IAM
// user's current access key, which iam-user targets' AssumeRole calls are
// signed with. It is long-term: it has no session token and no expiry;
// the rotator replaces it before CreatedAt + rotator.sourceKeyMaxAge.
type SourceKey struct {
	AccessKeyID     string
	SecretAccessKey string
	// UserName is the IAM user the key belongs to.
	UserName string
	// CreatedAt is IAM's CreateDate of the key, to the second.
	CreatedAt time.Time
}

type sourceWire struct {
	Version         int    `json:"Version"`
	AccessKeyID     string `json:"AccessKeyId"`
	SecretAccessKey string `json:"SecretAccessKey"`
	UserName        string `json:"UserName"`
	CreatedAt       string `json:"CreatedAt"`
}

// MarshalSourceKey renders k as the source-key secret string.
func MarshalSourceKey(k SourceKey) ([]byte, error) {
	if err := k.check(); err != nil {
		return nil, err
	}
	return json.Marshal(sourceWire{
		Version: ProcessVersion, AccessKeyID: k.AccessKeyID, SecretAccessKey: k.SecretAccessKey,
		UserName: k.UserName, CreatedAt: k.CreatedAt.UTC().Format(time.RFC3339),
	})
}

// ParseSourceKey reads a source-key secret string. Errors wrap ErrInvalid,
// name the field and never quote the content.
func ParseSourceKey(s []byte) (SourceKey, error) {
	var w sourceWire
	dec := json.NewDecoder(bytes.NewReader(s))
	if err := dec.Decode(&w); err != nil {
		return SourceKey{}, fmt.Errorf("%w: the source-key secret is not a JSON object of AccessKeyId, SecretAccessKey, UserName, CreatedAt (fix: let the rotator write it)", ErrInvalid)
	}
	if dec.More() {
		return SourceKey{}, fmt.Errorf("%w: trailing data after the source-key JSON object", ErrInvalid)
	}
	if w.Version != ProcessVersion {
		return SourceKey{}, fmt.Errorf("%w: source key Version is %d, want %d", ErrInvalid, w.Version, ProcessVersion)
	}
	created, err := time.Parse(time.RFC3339, w.CreatedAt)
	if err != nil {
		return SourceKey{}, fmt.Errorf("%w: source key CreatedAt is not an RFC 3339 time", ErrInvalid)
	}
	k := SourceKey{AccessKeyID: w.AccessKeyID, SecretAccessKey: w.SecretAccessKey, UserName: w.UserName, CreatedAt: created.UTC()}
	if err := k.check(); err != nil {
		return SourceKey{}, err
	}
	return k, nil
}

func (k SourceKey) check() error {
	switch {
	case !reKeyID.MatchString(k.AccessKeyID):
		return fmt.Errorf("%w: source key AccessKeyId is missing or malformed", ErrInvalid)
	case k.SecretAccessKey == "":
		return fmt.Errorf("%w: source key SecretAccessKey is missing", ErrInvalid)
	case k.UserName == "":
		return fmt.Errorf("%w: source key UserName is missing", ErrInvalid)
	case !inRange(k.CreatedAt):
		return fmt.Errorf("%w: source key CreatedAt is outside years %d–%d in UTC", ErrInvalid, minYear, maxYear)
	}
	return nil
}

// MaskedKey is the only form of the key ID that may be logged.
func (k SourceKey) MaskedKey() string { return Mask(k.AccessKeyID) }

// String never reveals the secret access key.
func (k SourceKey) String() string {
	return fmt.Sprintf("source-key{key=%s user=%s created=%s}", k.MaskedKey(), k.UserName, k.CreatedAt.Format(time.RFC3339))
}

// GoString guards %#v the same way.
func (k SourceKey) GoString() string { return k.String() }
