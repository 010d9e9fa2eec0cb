package sourcekey

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"

	"github.com/stsrotator/stsrotator/shared/config"
	"github.com/stsrotator/stsrotator/shared/quotas"
	"github.com/stsrotator/stsrotator/shared/secretfmt"
)

// MaxKeysPerUser is IAM's quota of access keys per user, which cannot be
// raised (quotas.AccessKeysPerUser).
var MaxKeysPerUser = quotas.AccessKeysPerUser.Limit

// IAM is the narrowest IAM surface the rotator needs.
type IAM interface {
	ListAccessKeys(context.Context, *iam.ListAccessKeysInput, ...func(*iam.Options)) (*iam.ListAccessKeysOutput, error)
	CreateAccessKey(context.Context, *iam.CreateAccessKeyInput, ...func(*iam.Options)) (*iam.CreateAccessKeyOutput, error)
	UpdateAccessKey(context.Context, *iam.UpdateAccessKeyInput, ...func(*iam.Options)) (*iam.UpdateAccessKeyOutput, error)
	DeleteAccessKey(context.Context, *iam.DeleteAccessKeyInput, ...func(*iam.Options)) (*iam.DeleteAccessKeyOutput, error)
}

// STS proves a new key before it is stored.
type STS interface {
	GetCallerIdentity(context.Context, *sts.GetCallerIdentityInput, ...func(*sts.Options)) (*sts.GetCallerIdentityOutput, error)
}

// Secrets reads and writes the source-key secret.
type Secrets interface {
	GetSecretValue(context.Context, *secretsmanager.GetSecretValueInput, ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error)
	PutSecretValue(context.Context, *secretsmanager.PutSecretValueInput, ...func(*secretsmanager.Options)) (*secretsmanager.PutSecretValueOutput, error)
}

// Rotator keeps one IAM user's access key in one secret. Fields are set
// once at start-up.
type Rotator struct {
	IAM     IAM
	STS     STS
	Secrets Secrets
	// UserName is the IAM user; SecretID its key's secret (name or ARN).
	UserName string
	SecretID string
	// UserArn is what GetCallerIdentity must answer for the new key; empty
	// accepts any identity STS answers (emulators that answer one fixed
	// identity, like stsrotator's VerifyCaller mode).
	UserArn string
	// MaxAge is rotator.sourceKeyMaxAge.
	MaxAge time.Duration
	Now    func() time.Time
	// Wait pauses between proofs of a new key: IAM is eventually
	// consistent, and a key may be refused for a few seconds after it was
	// created. Tests inject it.
	Wait func(ctx context.Context, d time.Duration) error
	// ProveAttempts bounds those proofs; ProveBackoff is the first pause,
	// doubled after each refusal.
	ProveAttempts int
	ProveBackoff  time.Duration
	Log           *slog.Logger
}

// How long a new key is tried before it is given up: IAM documents that
// changes take time to become visible everywhere
// (https://docs.aws.amazon.com/IAM/latest/UserGuide/troubleshoot_general.html#troubleshoot_general_eventual-consistency);
// 1+2+4+8+16 s of pauses fit well inside the function's timeout.
const (
	ProveAttempts = 6
	ProveBackoff  = time.Second
)

// Outcome classifies one run.
type Outcome string

const (
	Rotated Outcome = "rotated"
	Fresh   Outcome = "fresh"
	Failed  Outcome = "failed"
)

// Result is what a run did; safe to log (keys are masked).
type Result struct {
	Outcome Outcome `json:"outcome"`
	// Key is the masked stored key after the run.
	Key string `json:"key,omitempty"`
	// Steps lists what the run changed, in order, e.g. "deactivated AKIA…WXYZ".
	Steps []string `json:"steps"`
	Err   error    `json:"-"`
	Error string   `json:"error,omitempty"`
}

// Run brings the user's key up to date. It never returns an error: a
// failure is a Failed result (the caller alerts on it), and whatever key
// was stored before stays stored and active.
func (r *Rotator) Run(ctx context.Context) Result {
	res := r.run(ctx)
	if res.Err != nil {
		res.Outcome, res.Error = Failed, res.Err.Error()
	}
	attrs := []any{slog.String("outcome", string(res.Outcome)), slog.String("user", r.UserName), slog.String("key", res.Key), slog.Any("steps", res.Steps)}
	if res.Err != nil {
		r.Log.ErrorContext(ctx, "source key rotation failed", append(attrs, slog.String("error", res.Error))...)
	} else {
		r.Log.InfoContext(ctx, "source key "+string(res.Outcome), attrs...)
	}
	return res
}

// createdSkew is how far ahead of the rotator's clock a stored key's
// CreatedAt may be and still be believed (clock skew only).
const createdSkew = 5 * time.Second

func (r *Rotator) run(ctx context.Context) Result {
	res := Result{Steps: []string{}}
	keys, err := r.list(ctx)
	if err != nil {
		res.Err = err
		return res
	}
	cur, err := r.current(ctx)
	if err != nil {
		res.Err = err
		return res
	}
	var stored *iamtypes.AccessKeyMetadata
	for i := range keys {
		if cur != nil && aws.ToString(keys[i].AccessKeyId) == cur.AccessKeyID {
			stored = &keys[i]
		}
	}
	if cur != nil && stored == nil {
		r.Log.WarnContext(ctx, "the stored source key no longer exists in IAM; replacing it", slog.String("key", cur.MaskedKey()))
	}
	if stored != nil {
		res.Key = secretfmt.Mask(aws.ToString(stored.AccessKeyId))
		if stored.Status != iamtypes.StatusTypeActive {
			// Someone deactivated the key every iam-user target signs
			// with; re-activating is the one repair that needs no new key.
			if err := r.setStatus(ctx, stored, iamtypes.StatusTypeActive); err != nil {
				res.Err = fmt.Errorf("re-activate the stored key %s: %w", res.Key, err)
				return res
			}
			res.Steps = append(res.Steps, "re-activated "+res.Key)
		}
	}
	now := r.Now()
	if stored != nil && cur.CreatedAt.Sub(now) > createdSkew {
		// The rotator dates a key with its own clock when it stores it; a
		// date ahead of that clock was written by someone else and would
		// keep the key from ever being due. IAM's CreateDate dates it.
		r.Log.WarnContext(ctx, "the stored source key's CreatedAt is ahead of the rotator's clock; dating it by IAM's CreateDate", slog.String("key", res.Key),
			slog.Time("createdAt", cur.CreatedAt), slog.Time("iamCreateDate", aws.ToTime(stored.CreateDate)))
		cur.CreatedAt = now
		if at := aws.ToTime(stored.CreateDate); !at.IsZero() && at.Before(now) {
			cur.CreatedAt = at.UTC()
		}
	}

	// Retire every key that is not the stored one: the previous key after
	// a rotation, or a key created by a run that died before storing it
	// (whose secret half is lost, so nobody can be using it).
	var kept []iamtypes.AccessKeyMetadata
	for i := range keys {
		k := &keys[i]
		if k == stored {
			kept = append(kept, *k)
			continue
		}
		id := secretfmt.Mask(aws.ToString(k.AccessKeyId))
		var age time.Duration
		if stored != nil {
			age = now.Sub(cur.CreatedAt)
		}
		if stored != nil && age < config.SourceKeySettle && k.Status == iamtypes.StatusTypeActive {
			// Rotators that read the previous key just before the new one
			// was stored finish their AssumeRole calls with it.
			kept = append(kept, *k)
			continue
		}
		if k.Status == iamtypes.StatusTypeActive {
			if err := r.setStatus(ctx, k, iamtypes.StatusTypeInactive); err != nil {
				res.Err = fmt.Errorf("deactivate the previous key %s: %w", id, err)
				return res
			}
			res.Steps = append(res.Steps, "deactivated "+id)
		}
		if stored == nil || age >= config.SourceKeyGrace {
			if _, err := r.IAM.DeleteAccessKey(ctx, &iam.DeleteAccessKeyInput{UserName: aws.String(r.UserName), AccessKeyId: k.AccessKeyId}); err != nil && !isCode(err, "NoSuchEntity") {
				res.Err = fmt.Errorf("delete the previous key %s: %w", id, err)
				return res
			}
			res.Steps = append(res.Steps, "deleted "+id)
			continue
		}
		kept = append(kept, *k)
	}

	if stored != nil && now.Sub(cur.CreatedAt) < r.MaxAge {
		res.Outcome = Fresh
		if len(res.Steps) > 0 {
			res.Outcome = Rotated
		}
		return res
	}
	if len(kept) >= MaxKeysPerUser {
		res.Err = fmt.Errorf("the stored key %s is due, but IAM allows %d access keys per user and the previous one is still in its %s grace period; "+
			"rotator.sourceKeyMaxAge must be longer than the grace (it is %s)", res.Key, MaxKeysPerUser, config.SourceKeyGrace, r.MaxAge)
		return res
	}

	created, err := r.IAM.CreateAccessKey(ctx, &iam.CreateAccessKeyInput{UserName: aws.String(r.UserName)})
	if err != nil {
		res.Err = fmt.Errorf("create an access key for %s: %w", r.UserName, err)
		return res
	}
	if created.AccessKey == nil {
		res.Err = fmt.Errorf("create an access key for %s: the response has no key", r.UserName)
		return res
	}
	nk := secretfmt.SourceKey{
		AccessKeyID: aws.ToString(created.AccessKey.AccessKeyId), SecretAccessKey: aws.ToString(created.AccessKey.SecretAccessKey),
		// The rotator's clock, not IAM's CreateDate, dates the key: every
		// age it compares is then measured on one clock.
		UserName: r.UserName, CreatedAt: r.Now().UTC().Truncate(time.Second),
	}
	newID := nk.MaskedKey()
	res.Steps = append(res.Steps, "created "+newID)
	if err := r.prove(ctx, nk); err != nil {
		res.Err = fmt.Errorf("prove the new key %s: %w", newID, err)
		r.discard(ctx, nk, &res)
		return res
	}
	res.Steps = append(res.Steps, "proved "+newID)
	body, err := secretfmt.MarshalSourceKey(nk)
	if err == nil {
		_, err = r.Secrets.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{
			SecretId:           aws.String(r.SecretID),
			ClientRequestToken: aws.String(Token(nk.AccessKeyID)),
			SecretString:       aws.String(string(body)),
		})
	}
	if err != nil {
		res.Err = fmt.Errorf("store the new key %s in %s: %w", newID, r.SecretID, err)
		r.discard(ctx, nk, &res)
		return res
	}
	res.Steps = append(res.Steps, "stored "+newID)
	res.Outcome, res.Key = Rotated, newID
	// The previous key stays active for config.SourceKeySettle; a later
	// run deactivates it, and deletes it after config.SourceKeyGrace.
	return res
}

// list returns the user's keys, oldest first.
func (r *Rotator) list(ctx context.Context) ([]iamtypes.AccessKeyMetadata, error) {
	out, err := r.IAM.ListAccessKeys(ctx, &iam.ListAccessKeysInput{UserName: aws.String(r.UserName)})
	if err != nil {
		return nil, fmt.Errorf("list the access keys of %s: %w", r.UserName, err)
	}
	keys := out.AccessKeyMetadata
	sort.SliceStable(keys, func(i, j int) bool { return aws.ToTime(keys[i].CreateDate).Before(aws.ToTime(keys[j].CreateDate)) })
	return keys, nil
}

// current is the stored key; nil when the secret has no value yet (the
// stack creates it empty) or holds something unusable.
func (r *Rotator) current(ctx context.Context) (*secretfmt.SourceKey, error) {
	out, err := r.Secrets.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(r.SecretID)})
	if isCode(err, "ResourceNotFoundException") {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", r.SecretID, err)
	}
	k, err := secretfmt.ParseSourceKey([]byte(aws.ToString(out.SecretString)))
	if err != nil {
		r.Log.WarnContext(ctx, "the source-key secret holds no usable key; replacing it", slog.String("error", err.Error()))
		return nil, nil
	}
	return &k, nil
}

func (r *Rotator) setStatus(ctx context.Context, k *iamtypes.AccessKeyMetadata, s iamtypes.StatusType) error {
	_, err := r.IAM.UpdateAccessKey(ctx, &iam.UpdateAccessKeyInput{UserName: aws.String(r.UserName), AccessKeyId: k.AccessKeyId, Status: s})
	return err
}

// prove calls GetCallerIdentity signed with the new key until STS accepts
// it as the user, waiting out IAM's propagation delay.
func (r *Rotator) prove(ctx context.Context, k secretfmt.SourceKey) error {
	static := credentials.NewStaticCredentialsProvider(k.AccessKeyID, k.SecretAccessKey, "")
	attempts, wait := max(r.ProveAttempts, 1), r.ProveBackoff
	var last error
	for i := 0; i < attempts; i++ {
		if i > 0 {
			if err := r.Wait(ctx, wait); err != nil {
				return errors.Join(last, err)
			}
			wait *= 2
		}
		out, err := r.STS.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{}, func(o *sts.Options) { o.Credentials = static })
		if err != nil {
			last = fmt.Errorf("get caller identity with the new key: %w", err)
			if ctx.Err() != nil {
				return last
			}
			continue
		}
		if got := aws.ToString(out.Arn); r.UserArn != "" && got != r.UserArn {
			// A wrong identity will not become right by waiting.
			return fmt.Errorf("the new key signs as %q, want %q", got, r.UserArn)
		}
		return nil
	}
	return last
}

// discard deletes a new key that could not be proved or stored, so it does
// not hold IAM's second slot; if that fails too, the next run deletes it.
func (r *Rotator) discard(ctx context.Context, k secretfmt.SourceKey, res *Result) {
	if _, err := r.IAM.DeleteAccessKey(ctx, &iam.DeleteAccessKeyInput{UserName: aws.String(r.UserName), AccessKeyId: aws.String(k.AccessKeyID)}); err != nil {
		r.Log.WarnContext(ctx, "could not delete the unused new key; the next run will", slog.String("key", k.MaskedKey()), slog.String("error", err.Error()))
		return
	}
	res.Steps = append(res.Steps, "deleted "+k.MaskedKey())
}

// Token is the ClientRequestToken that stores a key: derived from its ID,
// so a retried or repeated store of the same key is one version.
func Token(accessKeyID string) string {
	h := sha256.Sum256([]byte("stsrotator/source-key/v1\x00" + accessKeyID))
	h[6] = h[6]&0x0f | 0x80
	h[8] = h[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", h[0:4], h[4:6], h[6:8], h[8:10], h[10:16])
}

// Wait is the production pause: it ends early when ctx does.
func Wait(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

func isCode(err error, code string) bool {
	var apiErr smithy.APIError
	return errors.As(err, &apiErr) && apiErr.ErrorCode() == code
}
