package plan

import (
	"encoding/json"
	"fmt"
	"hash/fnv"
	"path"
	"reflect"
	"strings"
	"unicode"

	"github.com/stsrotator/stsrotator/shared/config"
	"github.com/stsrotator/stsrotator/shared/lambdaenv"
	"github.com/stsrotator/stsrotator/shared/quotas"
)

// Shards is the fixed number of hash buckets, one nested stack each when
// non-empty. Changing it moves most secrets to another nested stack, which
// CloudFormation cannot do for named secrets; it is therefore a constant.
// 256 keeps the root stack far inside 500 resources (a nested stack is
// one resource of its parent) and fits 10,000 targets (39 per bucket on
// average, 55 in the fullest) and about 19,000 before the fullest bucket
// reaches MaxTargetsPerShard; docs/scale.md has the arithmetic.
const Shards = 256

// OutputsPerTarget is what a target adds to its shard stack's outputs:
// SecretArn<Key> and AwsConfig<Key>.
const OutputsPerTarget = 2

// MaxTargetsPerShard keeps a shard inside CloudFormation's 200 outputs
// per stack (quotas.StackOutputs), the first per-stack limit a shard
// reaches: two outputs and two resources (secret, resource policy) per
// target, plus its lanes' few resources, stay under 500 resources too.
var MaxTargetsPerShard = quotas.StackOutputs.Limit / OutputsPerTarget

// Resources one lane adds to its shard besides its validity alarms: log
// group, its two managed policies (ManagedPoliciesPerLane), function,
// async invoke config, scheduler role, schedule and errors alarm.
const ResourcesPerLane = 9

// ResourcesPerShard is what a non-empty shard adds once, whatever its
// lanes: its rotator role (RotatorRoleName).
const ResourcesPerShard = 1

// ResourcesPerTarget is a target's secret and its resource policy.
const ResourcesPerTarget = 2

// TargetsPerAlarm is CloudWatch's limit on metrics in one alarm's math
// expression (quotas.AlarmMetrics): a lane has one validity alarm per this
// many targets.
var TargetsPerAlarm = quotas.AlarmMetrics.Limit

// MaxTargetsPerLane bounds one rotator invocation's work so a sweep ends
// well inside its timeout even when AWS is slow.
const MaxTargetsPerLane = 100

// MaxRootOutputTargets is how many targets still get their outputs repeated
// on the root stack, where `cdk deploy` prints them: two outputs each,
// leaving room under the 200-output limit for the service-wide outputs.
const MaxRootOutputTargets = 50

// PolicyBudget is how many characters of per-target text (TargetPolicyCost
// and replica statements) one lane may hold: it bounds a lane's work as
// well as its grants.
const PolicyBudget = 8000

// ManagedPolicyBudget is how many characters of per-target text each of a
// lane's two managed policies (its AssumeRole grants, its secret grants)
// may hold: IAM's 6,144 characters per managed policy
// (quotas.ManagedPolicy) less room for the document and statement text,
// whose ARNs are resolved at deploy time. The lane's grants live in
// managed policies because every lane of a shard runs as the shard's one
// rotator role, whose inline policies may total only 10,240 characters.
const ManagedPolicyBudget = 5_500

// LaneDir is the folder, inside the function package, of the per-lane
// config files written when the config needs more than one lane.
const LaneDir = "lanes"

// TaskRoot is where Lambda unpacks a zip-packaged function (the value of
// LAMBDA_TASK_ROOT); per-lane config paths are absolute under it because
// an environment variable cannot refer to another.
const TaskRoot = "/var/task"

// Worst-case lengths of the parts of an ARN that are only known at deploy
// time, so the policy estimate holds in every region and partition.
const (
	maxPartitionLen = len("aws-iso-b")
	maxRegionLen    = len("ap-southeast-7") + 2
	accountLen      = 12
)

// Plan is where every target of one config goes.
type Plan struct {
	// SourcePolicies is the source user's permissions, one managed policy per
	// element; empty when no target has sourceCredentials: iam-user.
	SourcePolicies [][]SourceGrant
	Config         *config.Config
	// Source is the config file as written; the function package carries
	// it unchanged.
	Source []byte
	Shards []Shard
}

// Shard is one nested stack: the secrets of the targets whose names hash
// to Index, and the lanes that rotate them.
type Shard struct {
	Index   int
	ID      string
	Targets []config.Target
	Lanes   []Lane
}

// Lane is one rotator function with its own role and schedule.
type Lane struct {
	ID      string
	Targets []config.Target
	// ConfigFile is the lane's config inside the function package, relative
	// to its root; ConfigEnv is the value for lambdaenv.ConfigPath, empty
	// when the lane reads the default lambdaenv.ConfigFile.
	ConfigFile string
	ConfigEnv  string
	// Config is the content of ConfigFile.
	Config []byte
}

// DefaultStackName is the root stack's name when none is given; the CLI
// assumes it too when it looks for a target's rotator.
const DefaultStackName = "stsrotator"

// FunctionName is a rotator lane's Lambda function name. It is fixed at
// synth so the reactor's package can carry the routes from target to
// rotator (lambdaenv.RoutesFile) and the CLI can find a target's rotator
// from the config alone.
func FunctionName(stackName, shardID, laneID string) string {
	return strings.ToLower(stackName + "-" + shardID + "-" + laneID)
}

// FunctionFor names the rotator function serving target in a stack named
// stackName.
func (p *Plan) FunctionFor(stackName, target string) (string, bool) {
	for _, s := range p.Shards {
		for _, l := range s.Lanes {
			for _, t := range l.Targets {
				if t.Name == target {
					return FunctionName(stackName, s.ID, l.ID), true
				}
			}
		}
	}
	return "", false
}

// ShardOf is the bucket of a target name: FNV-1a, stable across Go versions
// and machines, unlike map order or hash/maphash.
func ShardOf(name string) int {
	h := fnv.New32a()
	_, _ = h.Write([]byte(name))
	return int(h.Sum32() % Shards)
}

// New places every target of cfg, whose file content is source.
func New(cfg *config.Config, source []byte) (*Plan, error) {
	p := &Plan{Config: cfg, Source: source}
	var err error
	if p.SourcePolicies, err = SourcePolicies(cfg); err != nil {
		return nil, err
	}
	if err := checkPolicies(cfg); err != nil {
		return nil, err
	}
	buckets := make([][]config.Target, Shards)
	for _, t := range cfg.Targets {
		i := ShardOf(t.Name)
		buckets[i] = append(buckets[i], t)
	}
	var lanes int
	for i, ts := range buckets {
		if len(ts) == 0 {
			continue
		}
		s := Shard{Index: i, ID: ShardID(i), Targets: ts}
		for n, lt := range packLanes(cfg, ts) {
			s.Lanes = append(s.Lanes, Lane{ID: fmt.Sprintf("Rotator%d", n), Targets: lt})
		}
		if err := s.fits(cfg.File); err != nil {
			return nil, err
		}
		lanes += len(s.Lanes)
		p.Shards = append(p.Shards, s)
	}
	if groups := p.LogGroups(); len(groups) > MaxLogGroups {
		return nil, quotas.StackResources.WithFix("list at most "+fmt.Sprint(MaxLogGroups)+" distinct log groups under targets' logGroups (each gets one subscription filter, all in the LogSubscriptions nested stack); watch the others by having their consumers report (stsrotator report-expired or the Go provider)").
			Check(fmt.Sprintf("%s: logGroups: %d distinct log groups", cfg.File, len(groups)), len(groups))
	}
	var doc *document
	if lanes > 1 {
		if doc, err = parseDocument(source); err != nil {
			return nil, fmt.Errorf("%s: split the config into lanes: %w", cfg.File, err)
		}
	}
	for si := range p.Shards {
		for li := range p.Shards[si].Lanes {
			l := &p.Shards[si].Lanes[li]
			if lanes == 1 {
				// One lane rotates everything: it reads the file as written.
				l.ConfigFile, l.Config = lambdaenv.ConfigFile, source
				continue
			}
			l.ConfigFile = path.Join(LaneDir, strings.ToLower(p.Shards[si].ID+"-"+l.ID)+".yaml")
			l.ConfigEnv = path.Join(TaskRoot, l.ConfigFile)
			data, err := subset(cfg, doc, l.ConfigFile, l.Targets)
			if err != nil {
				return nil, err
			}
			l.Config = data
		}
	}
	return p, nil
}

// ShardID names bucket i's nested stack (construct ID and the middle of
// its rotator functions' names).
func ShardID(i int) string { return fmt.Sprintf("Shard%03d", i) }

// MaxLogGroups is how many distinct log groups the LogSubscriptions nested
// stack can subscribe: one AWS::Logs::SubscriptionFilter each, nothing
// else in that stack.
var MaxLogGroups = quotas.StackResources.Limit

// LogGroups is every distinct log group named under targets' logGroups,
// sorted. Each gets exactly one subscription filter, however many targets
// list it: a second filter of ours would take the log group's other slot
// (quotas.SubscriptionFilters).
func (p *Plan) LogGroups() []string {
	return p.Config.LogGroups()
}

// Resources is how many resources the shard's nested stack holds:
// ResourcesPerTarget per target, ResourcesPerShard, ResourcesPerLane per
// lane and one
// validity alarm per TargetsPerAlarm targets of each lane.
func (s Shard) Resources() int {
	n := ResourcesPerTarget*len(s.Targets) + ResourcesPerShard
	for _, l := range s.Lanes {
		n += ResourcesPerLane + (len(l.Targets)+TargetsPerAlarm-1)/TargetsPerAlarm
	}
	return n
}

// Outputs is how many outputs the shard's nested stack holds.
func (s Shard) Outputs() int { return OutputsPerTarget * len(s.Targets) }

// fits refuses a shard that CloudFormation would refuse (or CDK would
// panic on), naming the quota, the shard's first targets and the fix.
func (s Shard) fits(file string) error {
	names := make([]string, 0, 3)
	for _, t := range s.Targets[:min(3, len(s.Targets))] {
		names = append(names, t.Name)
	}
	subject := fmt.Sprintf("%s: the %d targets whose names hash to shard stack %s (%s, …)", file, len(s.Targets), s.ID, strings.Join(names, ", "))
	if err := quotas.StackOutputs.Check(subject, s.Outputs()); err != nil {
		return err
	}
	if err := quotas.ManagedPoliciesPerRole.Check(subject+": their rotator role "+s.ID+"'s lane policies", ManagedPoliciesPerLane*len(s.Lanes)); err != nil {
		return err
	}
	return quotas.StackResources.Check(subject, s.Resources())
}

// Lanes lists every lane in shard order.
func (p *Plan) Lanes() []Lane {
	var ls []Lane
	for _, s := range p.Shards {
		ls = append(ls, s.Lanes...)
	}
	return ls
}

// Files is every config file the function package carries, by path
// relative to its root: the config as written, and one per lane when there
// is more than one lane.
func (p *Plan) Files() map[string][]byte {
	files := map[string][]byte{lambdaenv.ConfigFile: p.Source}
	for _, l := range p.Lanes() {
		files[l.ConfigFile] = l.Config
	}
	return files
}

// packLanes splits a shard's targets, in file order, into lanes whose
// per-target policy text stays within PolicyBudget, and each of whose two
// managed policies stays within ManagedPolicyBudget: the AssumeRole one
// holds each distinct role ARN and one EncryptReplicasIn<Region>
// statement per distinct replica region of the lane
// (ReplicaStatementCost), the secrets one each target's secret ARN
// pattern.
func packLanes(cfg *config.Config, ts []config.Target) [][]config.Target {
	var lanes [][]config.Target
	var cur []config.Target
	used, assume, secrets := 0, 0, 0
	seen := map[string]bool{}
	regions := map[string]bool{}
	cost := func(t config.Target) (int, int) {
		a := 0
		if !seen[t.RoleArn] {
			a = len(t.RoleArn) + 3
		}
		for _, r := range t.ReplicaRegions {
			if !regions[r] {
				a += ReplicaStatementCost(cfg, r)
			}
		}
		return a, MaxSecretArnLen(t.SecretName) + 3
	}
	for _, t := range ts {
		a, sc := cost(t)
		if len(cur) > 0 && (used+a+sc > PolicyBudget || assume+a > ManagedPolicyBudget || secrets+sc > ManagedPolicyBudget || len(cur) == MaxTargetsPerLane) {
			lanes = append(lanes, cur)
			cur, used, assume, secrets, seen, regions = nil, 0, 0, 0, map[string]bool{}, map[string]bool{}
			a, sc = cost(t)
		}
		cur = append(cur, t)
		used, assume, secrets = used+a+sc, assume+a, secrets+sc
		seen[t.RoleArn] = true
		for _, r := range t.ReplicaRegions {
			regions[r] = true
		}
	}
	return append(lanes, cur)
}

// ReplicaStatementCost bounds the characters of the statement a lane's
// role gets for one replica region (infra/stack's replicaKeyStatements:
// kms:GenerateDataKey and kms:Encrypt on the region's replica key, through
// Secrets Manager there only), plus its comma: the key as the config names
// it or the stack's alias under the longest stack name, its ARN form in the
// longest partition, and the alias condition, whichever applies.
func ReplicaStatementCost(cfg *config.Config, region string) int {
	key, ok := cfg.ReplicaKMSKeys[region]
	if !ok {
		key = "alias/" + strings.Repeat("s", MaxStackNameLen) + "/replicas"
	}
	arn := "arn:aws-iso-b:kms:" + region + ":123456789012:key/*"
	resource := key
	if len(arn) > len(resource) {
		resource = arn
	}
	b, _ := json.Marshal(map[string]any{
		"Sid":      "EncryptReplicasIn" + strings.ReplaceAll(region, "-", ""),
		"Effect":   "Allow",
		"Action":   []string{"kms:GenerateDataKey", "kms:Encrypt"},
		"Resource": resource,
		"Condition": map[string]any{
			"StringEquals":             map[string]string{"kms:ViaService": "secretsmanager." + region + ".amazonaws.com.cn"},
			"ForAnyValue:StringEquals": map[string]string{"kms:ResourceAliases": key},
		},
	})
	return len(b) + 1
}

// TargetPolicyCost is the most characters a target adds to its lane's
// inline policy: its role ARN in the sts statement and its secret's ARN
// pattern in the secretsmanager statement, each quoted and
// comma-separated.
func TargetPolicyCost(t config.Target) int {
	return len(t.RoleArn) + 3 + MaxSecretArnLen(t.SecretName) + 3
}

// MaxSecretArnLen is the longest ARN a secret with this name can have:
// arn:<partition>:secretsmanager:<region>:<account>:secret:<name>-<6 chars>.
func MaxSecretArnLen(name string) int {
	return len("arn:") + maxPartitionLen + len(":secretsmanager:") + maxRegionLen + 1 + accountLen + len(":secret:") + len(name) + 7
}

// subset renders the config with only the given targets under targets:,
// then proves the result validates to exactly those targets.
func subset(cfg *config.Config, doc *document, file string, keep []config.Target) ([]byte, error) {
	names := make([]string, len(keep))
	for i, t := range keep {
		names[i] = t.Name
	}
	data, err := doc.subset(names)
	if err != nil {
		return nil, fmt.Errorf("%s: write the lane config %s: %w", cfg.File, file, err)
	}
	got, err := config.Parse(file, data)
	if err != nil {
		return nil, fmt.Errorf("%s: the lane config %s does not validate: %w", cfg.File, file, err)
	}
	if !sameTargets(got.Targets, keep) || got.Rotator != cfg.Rotator || !reflect.DeepEqual(got.Alerts, cfg.Alerts) {
		return nil, fmt.Errorf("%s: the lane config %s does not declare the same targets as the original (fix: avoid YAML anchors shared between targets)", cfg.File, file)
	}
	return data, nil
}

func sameTargets(a, b []config.Target) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		x, y := a[i], b[i]
		x.Line, y.Line = 0, 0
		if !reflect.DeepEqual(x, y) {
			return false
		}
	}
	return true
}

// OutputKeys gives each target an output-key stem made of letters and
// digits only, as CloudFormation requires: the name in CamelCase, with a
// hash suffix when two names would otherwise collide (a-1 and a1).
func OutputKeys(cfg *config.Config) map[string]string {
	stems := map[string][]string{}
	for _, t := range cfg.Targets {
		k := camel(t.Name)
		stems[k] = append(stems[k], t.Name)
	}
	keys := map[string]string{}
	for stem, names := range stems {
		for _, n := range names {
			if len(names) == 1 {
				keys[n] = stem
				continue
			}
			h := fnv.New32a()
			_, _ = h.Write([]byte(n))
			keys[n] = fmt.Sprintf("%s%08X", stem, h.Sum32())
		}
	}
	return keys
}

func camel(name string) string {
	var b strings.Builder
	up := true
	for _, r := range name {
		if r == '-' {
			up = true
			continue
		}
		if up {
			r = unicode.ToUpper(r)
			up = false
		}
		b.WriteRune(r)
	}
	return b.String()
}
