package config

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/stsrotator/stsrotator/shared/quotas"
)

// DefaultPath is where tools look for the config when no path is given.
const DefaultPath = "stsrotator.yaml"

// Limits that come from AWS itself. They live here, not in callers, so the
// infra app, the rotator and the docs can never disagree on them.
const (
	// MinDuration and MaxDuration bound durationSeconds as STS does
	// (DurationSeconds 900–43200,
	// https://docs.aws.amazon.com/STS/latest/APIReference/API_AssumeRole.html);
	// the refresh floor raises the least accepted session above 900 in
	// every case (MinSessionFor). AssumeRole called
	// from a Lambda is role chaining, which AWS caps at one hour whatever
	// the role's MaxSessionDuration says:
	// https://docs.aws.amazon.com/IAM/latest/UserGuide/id_roles_terms-and-concepts.html#iam-term-role-chaining
	MinDuration = 900 * time.Second
	MaxDuration = 3600 * time.Second
	// MaxIAMUserDuration bounds durationSeconds for targets whose source
	// credentials are the deployment's IAM user (SourceIAMUser): AssumeRole
	// called with an IAM user's key is not role chaining and may ask for up
	// to 43200 seconds, provided the role's MaxSessionDuration allows it.
	// https://docs.aws.amazon.com/STS/latest/APIReference/API_AssumeRole.html
	MaxIAMUserDuration = 43200 * time.Second

	// DefaultSourceKeyMaxAge is how old the IAM user's access key may get
	// before the rotator replaces it; MaxSourceKeyMaxAge is AWS's advice to
	// rotate access keys at least every 90 days (Security Hub control
	// IAM.3, https://docs.aws.amazon.com/securityhub/latest/userguide/iam-controls.html#iam-3).
	DefaultSourceKeyMaxAge = 30 * 24 * time.Hour
	MaxSourceKeyMaxAge     = 90 * 24 * time.Hour
	// SourceKeySettle is how long the previous access key stays active
	// after its successor was stored, so rotators that read the old one a
	// moment before finish with it; SourceKeyGrace is how long after its
	// successor was created an old, deactivated key is kept (and could be
	// re-activated by hand) before it is deleted.
	SourceKeySettle = 15 * time.Minute
	SourceKeyGrace  = 24 * time.Hour
	// MinSourceKeyMaxAge keeps a rotation from coming due while the
	// previous key still holds IAM's second key slot.
	MinSourceKeyMaxAge = 2 * SourceKeyGrace

	// MinWriteInterval is AWS's sustained PutSecretValue guidance: at most
	// one new version per secret every ten minutes.
	MinWriteInterval = 10 * time.Minute

	// MinRefreshBefore leaves the schedule at least a few sweeps to retry a
	// failed rotation before consumers are left with expired credentials.
	MinRefreshBefore = 5 * time.Minute

	// DefaultConsumerRefreshWindow is how long before expiry the SDKs in
	// use start re-fetching credentials: 15 minutes, the largest window of
	// the mainstream SDKs. botocore (boto3, the AWS CLI) refreshes
	// credential_process and container credentials with less than 15
	// minutes left (_DEFAULT_ADVISORY_REFRESH_TIMEOUT = 15 * 60 in
	// botocore/credentials.py), and re-runs credential_process on every
	// call while the stored copy stays inside that window. docs/consumers.md
	// lists each SDK's window and the file it comes from.
	DefaultConsumerRefreshWindow = 15 * time.Minute

	// MaxVersionsPerDay is how many versions stsrotator writes to one
	// secret in any rolling 24 hours, forced rotations included: Secrets
	// Manager "does not remove versions created less than 24 hours ago" and
	// refuses new ones past its quota of about 100 (quotas.SecretVersions,
	// https://docs.aws.amazon.com/secretsmanager/latest/userguide/reference_limits.html).
	MaxVersionsPerDay = quotas.SecretVersionsLimit

	// MinScheduleInterval is the shortest time between two scheduled
	// writes (session length − refreshBefore − jitter) the validator
	// accepts: 15 minutes, so the schedule alone writes at most 96 versions
	// a day and leaves room under MaxVersionsPerDay for forced rotations.
	MinScheduleInterval = 15 * time.Minute

	MaxNameLen          = 40
	MaxSessionNameLen   = 64
	MaxSessionPolicyLen = 2048
	MaxPolicyArns       = 10
	MaxSessionTags      = 50
	MaxSessionTagKeyLen = 128
	MaxSessionTagValLen = 256
	MaxResourceTags     = 50
	// ReservedTagPrefix starts the tags stsrotator puts on every secret it
	// owns (rotation.TagManagedBy, rotation.TagTarget); targets' own tags
	// cannot use it, and those OwnSecretTags count against AWS's limit.
	ReservedTagPrefix = "stsrotator:"
	OwnSecretTags     = 2
	MaxSecretNameLen  = 512

	DefaultSecretPrefix = "stsrotator/"
	// DefaultStack is the stack name a deployment has unless cdk is run
	// with -c stackName (infra/plan.DefaultStackName).
	DefaultStack = "stsrotator"
	// DefaultSessionPrefix starts the default session names of a stack
	// named DefaultStack (DefaultSessionName).
	DefaultSessionPrefix = DefaultStack + "-"
	DefaultConcurrency   = 16
	MaxConcurrency       = 256
	DefaultJitter        = 2 * time.Minute
)

// Where a target's AssumeRole calls get their credentials
// (sourceCredentials).
const (
	// SourceRole is the rotator's own Lambda role: role chaining, sessions
	// of at most one hour, no long-lived secret anywhere. The default.
	SourceRole = "role"
	// SourceIAMUser is the deployment's one IAM user, whose access key the
	// rotator keeps in its own secret and rotates: sessions up to 12 hours.
	SourceIAMUser = "iam-user"
)

// Config is a validated config file. Every target has its defaults applied,
// so consumers never re-derive them.
type Config struct {
	// File is the path the config was read from; error messages use it.
	File    string
	Version int
	Rotator Rotator
	Alerts  Alerts
	Targets []Target
	// ReplicaKMSKeys names, per region, the KMS key that encrypts
	// replicas there, in place of the key the stack creates in that region
	// (replicaKmsKeys): a key ID, a key ARN or alias ARN in that region, or
	// an alias name (alias/<name>), as ReplicaRegionType.KmsKeyId takes.
	ReplicaKMSKeys map[string]string
}

// Rotator tunes the scheduled sweep.
type Rotator struct {
	// Concurrency bounds how many targets one sweep rotates at once.
	Concurrency int
	// Jitter is the most a target's rotation is brought forward, at random
	// but stable per target, so targets declared together do not all
	// rotate in the same sweep forever.
	Jitter time.Duration
	// SourceKeyMaxAge is the age at which the IAM user's access key is
	// replaced; it matters only when a target uses SourceIAMUser.
	SourceKeyMaxAge time.Duration
}

// Alerts says where humans are told about trouble.
type Alerts struct {
	Emails []string
}

// Target is one role whose credentials stsrotator keeps fresh in one secret.
type Target struct {
	Name          string
	RoleArn       string
	ExternalID    string
	Duration      time.Duration
	RefreshBefore time.Duration
	// ConsumerRefreshWindow is how long before expiry this target's
	// consumers' SDKs start re-fetching credentials
	// (DefaultConsumerRefreshWindow unless the target lowers it). The
	// validator keeps RefreshBefore at least this window plus one sweep
	// period plus the jitter, so the current version never sits inside it.
	ConsumerRefreshWindow time.Duration
	// SessionName is the RoleSessionName: the target's sessionName, else
	// DefaultSessionName of its stack (Config.InStack).
	SessionName string
	// sessionNameSet: SessionName is the target's own sessionName, which
	// InStack keeps.
	sessionNameSet bool
	SessionPolicy  string
	PolicyArns     []string
	SessionTags    []Tag
	SourceIdentity string
	SecretName     string
	Readers        []string
	Tags           []Tag
	// STSRegion is the region whose regional STS endpoint mints this
	// target's credentials; empty means the rotator's own region.
	STSRegion string
	// LogGroups are CloudWatch Logs groups of this target's consumers; a
	// subscription filter turns their ExpiredToken lines into reports.
	LogGroups []string
	// SourceCredentials is SourceRole or SourceIAMUser.
	SourceCredentials string
	// ReplicaRegions are the regions Secrets Manager replicates this
	// target's secret to, in file order; consumers there read the replica.
	ReplicaRegions []string
	// Line is where the target starts in the file, for later messages.
	Line int
}

// Tag is a key/value pair; slices of them keep file order stable so that
// everything derived from the config (templates, hashes) is reproducible.
type Tag struct {
	Key   string
	Value string
}

// Target returns the target with the given name.
func (c *Config) Target(name string) (Target, bool) {
	for _, t := range c.Targets {
		if t.Name == name {
			return t, true
		}
	}
	return Target{}, false
}

// Names lists the target names in file order.
func (c *Config) Names() []string {
	names := make([]string, len(c.Targets))
	for i, t := range c.Targets {
		names[i] = t.Name
	}
	return names
}

// UsesIAMUser reports whether the deployment needs its IAM user: some
// target has sourceCredentials: iam-user.
func (c *Config) UsesIAMUser() bool {
	return len(c.IAMUserTargets()) > 0
}

// IAMUserTargets are the targets whose AssumeRole calls use the IAM user's
// key, in file order.
func (c *Config) IAMUserTargets() []Target {
	var out []Target
	for _, t := range c.Targets {
		if t.SourceCredentials == SourceIAMUser {
			out = append(out, t)
		}
	}
	return out
}

// ReplicaRegions is every region some target replicates to, sorted.
func (c *Config) ReplicaRegions() []string {
	return c.distinct(func(t Target) []string { return t.ReplicaRegions })
}

// LogGroups is every distinct log group some target lists under logGroups,
// sorted.
func (c *Config) LogGroups() []string {
	return c.distinct(func(t Target) []string { return t.LogGroups })
}

// distinct is the sorted set of the strings field gives over all targets.
func (c *Config) distinct(field func(Target) []string) []string {
	set := map[string]bool{}
	for _, t := range c.Targets {
		for _, v := range field(t) {
			set[v] = true
		}
	}
	out := make([]string, 0, len(set))
	for v := range set {
		out = append(out, v)
	}
	sort.Strings(out)
	return out
}

// MinRefresh is the smallest refreshBefore of any target; the schedule must
// run often enough for it.
func (c *Config) MinRefresh() time.Duration {
	var m time.Duration
	for i, t := range c.Targets {
		if i == 0 || t.RefreshBefore < m {
			m = t.RefreshBefore
		}
	}
	return m
}

// SweepInterval is how often the scheduled sweep must run so that every
// target gets at least three attempts inside its refreshBefore window.
func (c *Config) SweepInterval() time.Duration {
	return sweepFor(c.MinRefresh())
}

// sweepFor is the sweep period when minRefresh is the smallest
// refreshBefore: a third of it, truncated to the minute, at least 1m.
func sweepFor(minRefresh time.Duration) time.Duration {
	return max((minRefresh / 3).Truncate(time.Minute), time.Minute)
}

// DefaultSessionName is the RoleSessionName of a target without a
// sessionName, in the stack named stack ("" is DefaultStack):
// <stack>.<target>. Two stacks that rotate one role (two deployments, in
// two accounts or Regions, whose configs name the same target) then
// never share a session name, so revoking one's sessions cannot deny the
// other's. The stack DefaultStack keeps the names of earlier releases
// (stsrotator-<target>); a stack deployed with another -c stackName gets
// new session names on its first rotation after the upgrade (docs/incident.md).
// The separator is a dot because stack names (letters, digits, hyphens)
// and target names ([a-z0-9-]) hold none: with a hyphen, stack
// stsrotator-prod's target billing and stack stsrotator's target
// prod-billing were both stsrotator-prod-billing, and every other name
// has a dot the default stack's names lack.
// STS allows 2–64 characters of [\w+=,.@-]
// (https://docs.aws.amazon.com/STS/latest/APIReference/API_AssumeRole.html);
// a stack name too long to fit is cut and followed by 8 hex digits of its
// SHA-256 (<stack cut>.<hash>.<target>), so it stays distinct.
func DefaultSessionName(stack, target string) string {
	if stack == "" || stack == DefaultStack {
		return DefaultStack + "-" + target
	}
	if s := stack + "." + target; len(s) <= MaxSessionNameLen {
		return s
	}
	sum := sha256.Sum256([]byte(stack))
	tag := hex.EncodeToString(sum[:4])
	keep := max(MaxSessionNameLen-len(target)-len(tag)-2, 1)
	return stack[:min(keep, len(stack))] + "." + tag + "." + target
}

// InStack gives every target without its own sessionName the default
// session name of the stack named stack (DefaultSessionName; "" is
// DefaultStack, the names Parse gives). Everything that uses session
// names — the rotator, the reactor, revoke, preflight, validate — calls it
// with the deployment's stack name (the functions read it from
// lambdaenv.StackName, the CLI from --stack). It refuses, as Parse does,
// two targets that would then share a role and a session name.
func (c *Config) InStack(stack string) error {
	for i := range c.Targets {
		if t := &c.Targets[i]; !t.sessionNameSet {
			t.SessionName = DefaultSessionName(stack, t.Name)
		}
	}
	d := &decoder{file: c.File}
	d.checkSharedSessions(c)
	if len(d.errs) > 0 {
		return d.errs
	}
	return nil
}

// Load reads and validates the config at path.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config %s: %w (fix: create it, or pass the right path)", path, err)
	}
	return Parse(path, data)
}

// StackRegion is the region the stack will be deployed to, when the
// caller knows it (`stsrotator validate --region`, AWS_REGION, or the
// CDK CLI's CDK_DEFAULT_REGION at synth); From says which, for messages.
type StackRegion struct {
	Name string
	From string
}

// Parse validates data as the config file named file, for a stack whose
// region is not known yet. On failure the error is an Errors listing
// every problem found.
func Parse(file string, data []byte) (*Config, error) {
	return ParseIn(file, data, StackRegion{})
}

// ParseIn is Parse for a stack deployed to region: it also refuses a
// region AWS does not list and replicaRegions naming the stack's own
// region, which Secrets Manager cannot replicate to.
func ParseIn(file string, data []byte, region StackRegion) (*Config, error) {
	d := &decoder{file: file, region: region}
	if region.Name != "" {
		d.knownRegion(0, "", region.Name, "")
		if len(d.errs) > 0 {
			d.errs[0].Problem = fmt.Sprintf("the stack's region (from %s): %s", region.From, d.errs[0].Problem)
			return nil, d.errs
		}
	}
	var root yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&root); err != nil {
		if errors.Is(err, io.EOF) {
			d.add(0, "", "the file is empty", "declare at least one target under targets:")
			return nil, d.errs
		}
		d.errs = append(d.errs, syntaxError(file, data, err))
		return nil, d.errs
	}
	cfg := d.root(&root)
	if len(d.errs) == 0 {
		d.checkSharedSessions(cfg)
	}
	if len(d.errs) > 0 {
		sort.SliceStable(d.errs, func(i, j int) bool { return d.errs[i].Line < d.errs[j].Line })
		return nil, d.errs
	}
	cfg.File = file
	return cfg, nil
}
