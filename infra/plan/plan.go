package plan

import (
	"fmt"
	"hash/fnv"
	"path"
	"reflect"
	"strings"
	"unicode"

	"github.com/stsrotator/stsrotator/shared/config"
	"github.com/stsrotator/stsrotator/shared/lambdaenv"
)

// Shards is the fixed number of hash buckets. Changing it moves most
// secrets to another nested stack, which CloudFormation cannot do for named
// secrets; it is therefore a constant, sized so that 2,000 targets leave
// every bucket far below MaxTargetsPerShard (about 31 on average, under 60
// in practice).
const Shards = 64

// MaxTargetsPerShard keeps a shard inside CloudFormation's per-stack limits:
// each target adds two outputs (200 per stack) and two resources plus a
// share of an alarm (500 per stack).
const MaxTargetsPerShard = 95

// MaxTargetsPerLane bounds one rotator invocation's work so a sweep ends
// well inside its timeout even when AWS is slow.
const MaxTargetsPerLane = 100

// MaxRootOutputTargets is how many targets still get their outputs repeated
// on the root stack, where `cdk deploy` prints them: two outputs each,
// leaving room under the 200-output limit for the service-wide outputs.
const MaxRootOutputTargets = 50

// PolicyBudget is the share of IAM's 10,240-character limit on a role's
// inline policies that a lane's per-target statements may use; the rest is
// headroom for the fixed statements (logs, KMS) whose ARNs are resolved at
// deploy time.
const PolicyBudget = 8000

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
		if len(ts) > MaxTargetsPerShard {
			return nil, fmt.Errorf("%s: shard %d would hold %d targets, more than the %d a nested stack can take (fix: split the targets across two configs, each deployed as its own stack)",
				cfg.File, i, len(ts), MaxTargetsPerShard)
		}
		s := Shard{Index: i, ID: fmt.Sprintf("Shard%02d", i), Targets: ts}
		for n, lt := range packLanes(ts) {
			s.Lanes = append(s.Lanes, Lane{ID: fmt.Sprintf("Rotator%d", n), Targets: lt})
		}
		lanes += len(s.Lanes)
		p.Shards = append(p.Shards, s)
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
// per-target policy text stays within PolicyBudget.
func packLanes(ts []config.Target) [][]config.Target {
	var lanes [][]config.Target
	var cur []config.Target
	used := 0
	seen := map[string]bool{}
	for _, t := range ts {
		cost := TargetPolicyCost(t)
		if seen[t.RoleArn] {
			cost -= len(t.RoleArn) + 3
		}
		if len(cur) > 0 && (used+cost > PolicyBudget || len(cur) == MaxTargetsPerLane) {
			lanes = append(lanes, cur)
			cur, used, seen = nil, 0, map[string]bool{}
			cost = TargetPolicyCost(t)
		}
		cur = append(cur, t)
		used += cost
		seen[t.RoleArn] = true
	}
	return append(lanes, cur)
}

// TargetPolicyCost is the most characters a target adds to its lane's
// inline policy: its role ARN in the sts statement, and its secret's ARN
// and its secret's name pattern in the two secretsmanager statements, each
// quoted and comma-separated.
func TargetPolicyCost(t config.Target) int {
	return len(t.RoleArn) + 3 + 2*(MaxSecretArnLen(t.SecretName)+3)
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
