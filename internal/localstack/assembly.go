package localstack

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Assembly is what the local stack takes from a synthesized cloud
// assembly (cdk.out): the same secret names, rule patterns, schedules and
// function packages a deploy would create.
type Assembly struct {
	Dir     string
	Secrets []Secret
	Rules   []Rule
	Lanes   []Lane
	Topics  []string
	// ReactorDir is the reactor's function package (bootstrap, config,
	// routes to the lanes).
	ReactorDir string
}

// Secret is a secret as synthesized: its name and tags (the stack's own
// stsrotator:* tags, which `stsrotator status` lists by, and the config's).
type Secret struct {
	Name string
	Tags map[string]string
}

// Rule is an EventBridge rule as synthesized.
type Rule struct {
	// ID is <template>/<logical id>, unique in the assembly.
	ID      string
	Pattern string
}

// Lane is one rotator function and its schedule.
type Lane struct {
	// Name is the local function name, from the construct path.
	Name string
	// AssetDir is the function package: bootstrap, the config, lane files.
	AssetDir string
	// Env holds the function's literal environment variables; values the
	// template resolves at deploy time (Ref, GetAtt) are left out.
	Env map[string]string
	// Every is the schedule's rate; Input what it sends.
	Every time.Duration
	Input string
}

type template struct {
	Resources map[string]struct {
		Type       string          `json:"Type"`
		Properties json.RawMessage `json:"Properties"`
		Metadata   map[string]any  `json:"Metadata"`
	} `json:"Resources"`
}

// LoadAssembly reads every template in dir.
func LoadAssembly(dir string) (*Assembly, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.template.json"))
	if err != nil || len(files) == 0 {
		return nil, fmt.Errorf("no templates in %s: run make synth first (%v)", dir, err)
	}
	sort.Strings(files)
	a := &Assembly{Dir: dir}
	type sched struct {
		fn, input string
		every     time.Duration
	}
	lanes := map[string]*Lane{} // by <file>/<logical id>
	var schedules []sched
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		var t template
		if err := json.Unmarshal(b, &t); err != nil {
			return nil, fmt.Errorf("read %s: %w", f, err)
		}
		base := filepath.Base(f)
		ids := make([]string, 0, len(t.Resources))
		for id := range t.Resources {
			ids = append(ids, id)
		}
		sort.Strings(ids)
		for _, id := range ids {
			r := t.Resources[id]
			switch r.Type {
			case "AWS::SecretsManager::Secret":
				var p struct {
					Name string
					Tags []struct{ Key, Value string }
				}
				if err := json.Unmarshal(r.Properties, &p); err != nil || p.Name == "" {
					return nil, fmt.Errorf("%s: secret %s has no literal Name and Tags (%v)", base, id, err)
				}
				sec := Secret{Name: p.Name, Tags: map[string]string{}}
				for _, tg := range p.Tags {
					sec.Tags[tg.Key] = tg.Value
				}
				a.Secrets = append(a.Secrets, sec)
			case "AWS::Events::Rule":
				var p struct {
					EventPattern json.RawMessage
				}
				if err := json.Unmarshal(r.Properties, &p); err != nil || len(p.EventPattern) == 0 {
					return nil, fmt.Errorf("%s: rule %s has no EventPattern", base, id)
				}
				a.Rules = append(a.Rules, Rule{ID: base + "/" + id, Pattern: string(p.EventPattern)})
			case "AWS::SNS::Topic":
				a.Topics = append(a.Topics, id)
			case "AWS::Lambda::Function":
				path, _ := r.Metadata["aws:cdk:path"].(string)
				asset, _ := r.Metadata["aws:asset:path"].(string)
				if strings.Contains(path, "/Reactor/") && asset != "" {
					a.ReactorDir = filepath.Join(dir, asset)
				}
				if !strings.Contains(path, "/Rotator") || asset == "" {
					continue
				}
				var p struct {
					Environment struct {
						Variables map[string]any
					}
				}
				_ = json.Unmarshal(r.Properties, &p)
				env := map[string]string{}
				for k, v := range p.Environment.Variables {
					if s, ok := v.(string); ok {
						env[k] = s
					}
				}
				lanes[base+"/"+id] = &Lane{Name: functionName(path), AssetDir: filepath.Join(dir, asset), Env: env}
			case "AWS::Scheduler::Schedule":
				var p struct {
					ScheduleExpression string
					Target             struct {
						Arn   map[string][]string
						Input string
					}
				}
				if err := json.Unmarshal(r.Properties, &p); err != nil {
					return nil, fmt.Errorf("%s: schedule %s: %w", base, id, err)
				}
				every, err := parseRate(p.ScheduleExpression)
				if err != nil {
					return nil, fmt.Errorf("%s: schedule %s: %w", base, id, err)
				}
				ga := p.Target.Arn["Fn::GetAtt"]
				if len(ga) != 2 {
					return nil, fmt.Errorf("%s: schedule %s does not target a function of its stack", base, id)
				}
				schedules = append(schedules, sched{fn: base + "/" + ga[0], input: p.Target.Input, every: every})
			}
		}
	}
	for _, s := range schedules {
		l := lanes[s.fn]
		if l == nil {
			return nil, fmt.Errorf("a schedule targets %s, which is not a rotator function", s.fn)
		}
		l.Every, l.Input = s.every, s.input
	}
	keys := make([]string, 0, len(lanes))
	for k := range lanes {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if lanes[k].Every == 0 {
			return nil, fmt.Errorf("rotator %s has no schedule", k)
		}
		a.Lanes = append(a.Lanes, *lanes[k])
	}
	if len(a.Lanes) == 0 || len(a.Secrets) == 0 || len(a.Topics) == 0 {
		return nil, fmt.Errorf("%s holds %d rotators, %d secrets and %d topics: not an stsrotator assembly", dir, len(a.Lanes), len(a.Secrets), len(a.Topics))
	}
	if a.ReactorDir == "" {
		return nil, fmt.Errorf("%s has no reactor function: synthesise it again with this tree (make synth)", dir)
	}
	return a, nil
}

var reRate = regexp.MustCompile(`^rate\((\d+) (minute|minutes|hour|hours)\)$`)

func parseRate(expr string) (time.Duration, error) {
	m := reRate.FindStringSubmatch(expr)
	if m == nil {
		return 0, fmt.Errorf("schedule %q is not rate(N minutes|hours)", expr)
	}
	n, _ := strconv.Atoi(m[1])
	if strings.HasPrefix(m[2], "hour") {
		return time.Duration(n) * time.Hour, nil
	}
	return time.Duration(n) * time.Minute, nil
}

// functionName turns Stsrotator/Shard12/Rotator0/Function/Resource into
// stsrotator-shard12-rotator0.
func functionName(cdkPath string) string {
	parts := strings.Split(cdkPath, "/")
	var keep []string
	for _, p := range parts {
		if p == "Function" || p == "Resource" {
			continue
		}
		keep = append(keep, strings.ToLower(p))
	}
	return strings.Join(keep, "-")
}
